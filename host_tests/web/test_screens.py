"""The pages as a user sees them: headless Chromium (Playwright + Debian's chromium) at phone
(390x844) and desktop (1366x900) size against the firmware's web server under MicroPython.
Checks what a person would notice (the flow picture and the day's chart drawn, nothing wider
than a phone's screen, the numbers refreshing without a reload) and saves the screenshots;
SCREENSHOTS=docs/img writes them where docs/status-page.md shows them."""
import json
import os
import pathlib
import shutil

import pytest

from mp import ROOT
from portal_fx import FUNCTIONAL_HEAP, Device, compile_tree, wait_until
from test_portal_browser import ARGS, chromium  # noqa: F401  (the fixture)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
SYDNEY = "AEST-10AEDT,M10.1.0,M4.1.0/3"


def _keep(tmp_path, name):
    dest = os.environ.get("SCREENSHOTS")
    if dest:
        d = ROOT / dest
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, d / name)


def _fits(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture(scope="module")
def mpy(tmp_path_factory):
    return compile_tree(tmp_path_factory.mktemp("mpy"))


def test_status_page_with_a_day_of_history(tmp_path, chromium, mpy):  # noqa: F811
    from playwright.sync_api import sync_playwright
    cfg = {"wifi": {"ssid": "HomeNet", "password": "hunter2-wifi"},
           "chargehq": {"api_key": "screens-KEY-0123456789", "endpoint": "https://127.0.0.1:9/push"},
           "device": {"admin_password": "admin-pass-1", "watchdog_s": 0, "timezone": SYDNEY,
                      "sample_interval_ms": 500},
           "source": {"type": "simulated", "speed": 60}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    # the heap of test_portal's status test (.mpy on 64-bit: portal_fx.FUNCTIONAL_HEAP)
    dev = Device("status", tmp_path, mpy, heap=FUNCTIONAL_HEAP, args=["day"])
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
            try:
                for size, name in ((PHONE, "status-phone.png"), (DESKTOP, "status-desktop.png")):
                    page = b.new_page(viewport=size)
                    page.goto(dev.url + "/")
                    wait_until(lambda: page.locator(".flow .v").count() >= 3, "a reading in the flow picture")
                    flow = page.locator("svg.flow")
                    assert flow.is_visible() and flow.bounding_box()["width"] > 250
                    # the chart: four lines drawn from a day of 5-minute points, local hour marks
                    d = page.locator("svg.chart path.ln").first.get_attribute("d")
                    assert d.count("L") > 250, d[:200]
                    marks = page.locator("svg.chart text.m").all_text_contents()
                    assert len(marks) == 4 and all(m.endswith(":00") for m in marks), marks
                    assert _fits(page), "wider than the screen"
                    text = page.locator("body").inner_text()
                    for label in ("Solar", "Grid", "Home", "Battery", "Imported today", "24 h 0 min",
                                  "Free memory", "AEST" if "AEST" in text else "AEDT"):
                        assert label in text, label
                    page.screenshot(path=str(tmp_path / name), full_page=True)
                    _keep(tmp_path, name)
                    if size is DESKTOP:  # two columns side by side, the page wider than a phone's
                        boxes = [page.locator(".cols > div").nth(i).bounding_box() for i in (0, 1)]
                        assert boxes[1]["x"] > boxes[0]["x"] + 300
                        assert page.locator("svg.chart").bounding_box()["width"] > 900
                    # refreshed in place by the script: the live part is fetched again, no reload
                    page.evaluate("window.__same = 1")
                    with page.expect_response(lambda r: "part=live" in r.url, timeout=15000):
                        pass
                    assert page.evaluate("window.__same") == 1
                    page.close()
                # without scripts: the page still shows everything and reloads itself
                ctx = b.new_context(java_script_enabled=False, viewport=PHONE)
                page = ctx.new_page()
                page.goto(dev.url + "/")
                assert page.locator("svg.chart path.ln").count() == 4
                assert 'http-equiv="refresh"' in page.content()
                ctx.close()
            finally:
                b.close()
        assert "Traceback" not in dev.output(), dev.output()
    finally:
        dev.kill()
