"""The set-up flow end to end in a real headless browser: Debian's chromium driven by Playwright
against the firmware's portal running under MicroPython. A phone's captive-portal check lands on
the set-up page; a hostile network name in the scan list stays text (no script runs); a mistake
gets a clear message; the corrected form saves the config and the page shows the network joined.

chromium comes from Debian (Playwright's own browser download cannot work offline):
tools/ensure_chromium.sh installs it when missing (as root) or fails with the command to run.
"""
import json
import os
import subprocess

import pytest

from mp import ROOT
from portal_fx import FUNCTIONAL_HEAP, Device, compile_tree, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium():
    res = subprocess.run(["sh", str(ROOT / "tools" / "ensure_chromium.sh")], capture_output=True, text=True)
    assert res.returncode == 0, "chromium is needed for the browser test:\n" + res.stderr
    return CHROMIUM


def test_ensure_chromium_says_what_to_run(tmp_path):
    """Not root and no chromium: the script fails with the exact command (it never skips)."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "id").write_text("#!/bin/sh\necho 1000\n")  # `id -u` of an ordinary user
    (shim / "id").chmod(0o755)
    env = dict(os.environ, CHROMIUM=str(tmp_path / "no-chromium"), PATH="%s:%s" % (shim, os.environ["PATH"]))
    res = subprocess.run(["sh", str(ROOT / "tools" / "ensure_chromium.sh")], capture_output=True, text=True,
                         env=env)
    assert res.returncode == 1
    assert "sudo apt-get update && sudo apt-get install -y chromium" in res.stderr


def test_setup_in_a_browser(tmp_path, chromium):
    from playwright.sync_api import sync_playwright
    path = compile_tree(tmp_path / "mpy")
    state = tmp_path / "device"
    state.mkdir()
    import shutil
    shutil.copytree(ROOT / "boards", state / "boards")  # the board's filesystem has them
    dev = Device("setup", state, path, heap=FUNCTIONAL_HEAP)
    dialogs = []
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True, args=ARGS)
            try:
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                # what Android fetches on joining a network: redirected to the portal's page
                page.goto(dev.url + "/generate_204")
                assert page.url == dev.url + "/"
                assert page.title() == "Set up your meter"
                # the scan list, hostile names shown as plain text
                table = page.locator("details table").inner_text()
                assert "HomeNet" in table and "<script>alert('x')</script>" in table
                assert '"><img src=x onerror=alert(2)>' in table
                assert page.locator("img").count() == 0
                # a mistake first: push interval below Charge HQ's floor, short admin password
                page.fill("input[name=ssid]", "HomeNet")
                page.fill("input[name=password]", "hunter2-wifi")
                page.fill("input[name=api_key]", "chq-KEY-0123456789abcdef")
                page.fill("input[name=push_interval_s]", "60")
                page.evaluate("document.querySelector('input[name=push_interval_s]').min = 1")
                page.fill("input[name=push_interval_s]", "10")
                page.fill("input[name=admin_password]", "admin-pass-1")
                # only what the chosen meter and board need (CSS :has, no script)
                assert not page.locator("fieldset.src-ct").is_visible()
                assert not page.locator("fieldset.src-mb").is_visible()
                page.select_option("select[name=source]", "atm90e32")
                assert page.locator("fieldset.src-ct").is_visible()
                assert not page.locator("fieldset.src-mb").is_visible()
                page.select_option("select[name=board]", "circuitsetup_split")
                assert page.locator("label.ct2").is_visible() and not page.locator("label.ct3").is_visible()
                page.select_option("select[name=ct1]", "grid")
                page.select_option("select[name=ct2]", "solar")
                assert not page.locator("input[name=tz_custom]").is_visible()
                page.select_option("select[name=tz]", "AEST-10AEDT,M10.1.0,M4.1.0/3")
                page.click("button[type=submit]")
                page.wait_for_load_state()
                errs = page.locator(".err").inner_text()
                assert "push_interval_s: must be at least 30 (got 10)" in errs
                assert not (state / "config.json").exists()
                assert page.input_value("input[name=ssid]") == "HomeNet"  # kept for the retry
                assert page.input_value("input[name=api_key]") == ""        # secrets are not echoed
                # corrected: saved, the new network tried with the AP up, the result shown
                page.fill("input[name=password]", "hunter2-wifi")
                page.fill("input[name=api_key]", "chq-KEY-0123456789abcdef")
                page.fill("input[name=push_interval_s]", "60")
                page.fill("input[name=admin_password]", "admin-pass-1")
                page.click("button[type=submit]")
                page.wait_for_selector("text=Connected to", timeout=30000)
                assert "HomeNet" in page.locator("body").inner_text()
                page.screenshot(path=str(tmp_path / "connected.png"))
            finally:
                ctx.close()
        saved = json.loads((state / "config.json").read_text())
        assert saved["wifi"] == {"ssid": "HomeNet", "password": "hunter2-wifi",
                                 "hostname": saved["wifi"]["hostname"]}
        assert saved["chargehq"]["api_key"] == "chq-KEY-0123456789abcdef"
        assert saved["chargehq"]["push_interval_s"] == 60
        assert saved["source"]["type"] == "atm90e32" and [c["role"] for c in saved["source"]["channels"]] == [
            "grid", "solar"]
        assert saved["device"]["timezone"] == "AEST-10AEDT,M10.1.0,M4.1.0/3"
        assert dialogs == [], "a script ran: %r" % dialogs
        wait_until(lambda: "ON-SAVED HomeNet True" in dev.output(), "the restart hook")
        dev.finish()
    finally:
        dev.kill()


def test_status_and_settings_in_a_browser(tmp_path, chromium):
    """A running meter's status page, then its settings with the admin password (basic auth)."""
    from playwright.sync_api import sync_playwright
    from test_portal import _provisioned
    path = compile_tree(tmp_path / "mpy")
    state = tmp_path / "device"
    state.mkdir()
    _provisioned(state)
    dev = Device("status", state, path, heap=FUNCTIONAL_HEAP)
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True, args=ARGS,
                http_credentials={"username": "admin", "password": "admin-pass-1"})
            try:
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                page.goto(dev.url + "/")
                wait_until(lambda: page.reload() and page.locator(".flow .v").count() >= 3,
                           "a reading in the flow picture")
                text = page.locator("body").inner_text()
                for label in ("Solar", "Home", "Grid", "Last push", "Free memory", "Last reset"):
                    assert label in text, label
                page.click("text=Settings")
                assert page.title() == "Settings"
                assert page.input_value("input[name=ssid]") == "HomeNet"
                assert page.input_value("input[name=api_key]") == ""  # never shown, only replaced
                page.fill("input[name=push_interval_s]", "120")
                page.click("button[type=submit]")
                page.wait_for_selector("text=Settings saved")
            finally:
                ctx.close()
        saved = json.loads((state / "config.json").read_text())
        assert saved["chargehq"]["push_interval_s"] == 120
        assert saved["chargehq"]["api_key"] == "status-test-KEY-0123456789"
        wait_until(lambda: "ON-SAVED HomeNet True" in dev.output(), "the restart hook")
        dev.finish()
    finally:
        dev.kill()
