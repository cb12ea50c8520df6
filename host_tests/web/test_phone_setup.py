"""A new device set up from a phone alone, in the simulator: `tools/sim.py --fresh --portal` (the
unchanged firmware, a CircuitSetup split-phase board's chip model on the SPI bus, the local fake
Charge HQ), driven by headless Chromium at a phone's size. The set-up network is open (no
password to read off a serial console), the form shows only what CT clamps on that board need,
the device joins, restarts and pushes real readings; afterwards the settings need the admin
password. Screenshots of the form for each meter type are saved (SCREENSHOTS=docs/img keeps them)."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from mp import ROOT, free_port
from portal_fx import wait_until
from test_portal_browser import ARGS, chromium  # noqa: F401  (the fixture)
from test_screens import PHONE, _fits, _keep

SYDNEY = "AEST-10AEDT,M10.1.0,M4.1.0/3"


def test_new_device_set_up_from_a_phone(tmp_path, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright
    state, chq = tmp_path / "dev", tmp_path / "chq"
    port, dns = free_port(), free_port()
    log = open(tmp_path / "sim.out", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "sim.py"), "--fresh", "--portal",
                             "--state-dir", str(state), "--chq-dir", str(chq), "--http-port", str(port),
                             "--dns-port", str(dns), "--interval", "30"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    out = lambda: (tmp_path / "sim.out").read_text()  # noqa: E731
    url = "http://127.0.0.1:%d/" % port
    try:
        wait_until(lambda: "set-up portal on" in out(), "the set-up portal", timeout=60)
        assert "without a password for 30 min (first set-up)" in out(), out()
        assert "WPA2 password" not in out()  # nothing to read off a serial console
        wait_until(lambda: "led: set-up mode (slow blink)" in out(), "the LED in set-up mode")
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
            try:
                page = b.new_page(viewport=PHONE)
                page.goto(url + "generate_204")  # what the phone opens by itself on joining
                assert page.title() == "Set up your meter"
                assert _fits(page)
                assert not page.locator("fieldset.src-ct").is_visible()
                page.screenshot(path=str(tmp_path / "setup-phone.png"), full_page=True)
                _keep(tmp_path, "setup-phone.png")
                page.select_option("select[name=source]", "modbus")
                assert page.locator("fieldset.src-mb").is_visible() and not page.locator("fieldset.src-ct").is_visible()
                page.locator("fieldset.src-mb").screenshot(path=str(tmp_path / "setup-modbus-phone.png"))
                _keep(tmp_path, "setup-modbus-phone.png")
                page.fill("input[name=ssid]", "HomeNet")
                page.fill("input[name=password]", "home-wifi-pw")
                page.fill("input[name=api_key]", "phone-KEY-0123456789abcdef")
                page.select_option("select[name=source]", "atm90e32")
                page.select_option("select[name=board]", "circuitsetup_split")
                page.select_option("select[name=ct1]", "grid")
                page.select_option("select[name=ct2]", "solar")
                page.select_option("select[name=line_hz]", "50")
                assert not page.locator("label.ct3").is_visible()
                page.select_option("select[name=tz]", SYDNEY)
                page.fill("input[name=admin_password]", "owner-pass-1")
                page.locator("form").screenshot(path=str(tmp_path / "setup-ct-phone.png"))
                _keep(tmp_path, "setup-ct-phone.png")
                page.click("button[type=submit]")
                page.wait_for_selector("text=Connected to", timeout=30000)
                assert "HomeNet" in page.locator("body").inner_text()
            finally:
                b.close()
        saved = json.loads((state / "config.json").read_text())
        assert saved["source"]["type"] == "atm90e32" and saved["device"]["timezone"] == SYDNEY
        # it restarts with the new settings and pushes what the CT board measures
        wait_until(lambda: (chq / "pushes.jsonl").exists() and "siteMeters" in (chq / "pushes.jsonl").read_text(),
                   "a push with readings", timeout=90)
        first = json.loads((chq / "pushes.jsonl").read_text().splitlines()[0])
        assert first["status"] == 200 and first["problems"] == [], first
        assert "production_kw" in first["body"]["siteMeters"]
        wait_until(lambda: "led: all fine (steady on)" in out(), "the LED once readings and pushes are fine")
        # set up now: the status page is open on the LAN, the settings are not
        wait_until(lambda: _get(url)[0] == 200, "the status page")
        assert _get(url + "settings")[0] == 401
        assert "phone-KEY" not in out() and "home-wifi-pw" not in out() and "owner-pass-1" not in out()
    finally:
        os.killpg(proc.pid, 2)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def _get(url):
    try:
        r = urllib.request.urlopen(url, timeout=10)
        return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError:
        return None, b""
