"""The whole firmware in normal mode as a plain ESP32 runs it: the 32-bit build with the app frozen
in (tools/unix32.py, the same manifest as the ESP32 image) and the GC heap of ESP32_GENERIC after
its one growth (two areas, 111,936 B at -X heapsize=114688). CT board with the chip model, verified
HTTPS pushes to the local fake Charge HQ, the status page and /api/status fetched throughout, the
serial console used: several pushes, every page answered, never a MemoryError."""
import json
import sys
import time
import urllib.request

import pytest

from mp import ROOT, free_port, mp32

sys.path.insert(0, str(ROOT / "tools"))
import fake_chargehq  # noqa: E402
import sim  # noqa: E402
import unix32  # noqa: E402

KEY = "esp32-shape-key-0123456789-WXYZ"


@pytest.fixture(scope="module")
def frozen32():
    return mp32("frozen")


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except Exception as e:  # the device too busy or out of memory: recorded, asserted below
        return type(e).__name__, b""


def test_whole_firmware_normal_mode_in_the_esp32_heap(tmp_path, frozen32):
    srv, url, ca = fake_chargehq.serve(str(tmp_path / "chq"), 0, 29.9, out=open("/dev/null", "w"))
    port = free_port()
    dev = sim.new_device(tmp_path / "dev", url, open(ca, "rb").read(),
                         ["--interval", "30", "--api-key", KEY, "--source", "atm90e32",
                          "--micropython", frozen32, "--heap", str(unix32.ESP32_HEAP),
                          "--http-port", str(port)],
                         {"device": {"report_s": 10}}, serial=True)
    answers = []
    ran = None
    try:
        dev.start("power")
        for _ in range(100):  # the status page is up within seconds of the boot
            if _get("http://127.0.0.1:%d/api/status" % port)[0] == 200:
                break
            time.sleep(0.2)
        t_end = time.time() + 70
        typed = False
        while time.time() < t_end and dev.alive():
            for path in ("/", "/api/status"):
                answers.append((path, _get("http://127.0.0.1:%d%s" % (port, path))))
            if not typed and time.time() > t_end - 50:
                dev.type("\rstatus\r")  # the serial console, as a person at a terminal
                typed = True
            time.sleep(2)
        alive = dev.alive()
        ran = len(dev.lines)
    finally:
        # (judged on what it printed while running: the unix port raises Ctrl-C's KeyboardInterrupt
        # from the signal handler, and one landing inside a collection leaves the heap locked,
        # a 'MemoryError: heap is locked' at the stop that no ESP32 has)
        dev.stop()
        srv.shutdown()
    out = "\n".join(line for _, line in dev.lines[:ran])
    pushes = [json.loads(line) for line in (tmp_path / "chq" / "pushes.jsonl").read_text().splitlines()]
    assert alive, "the device stopped:\n" + out[-3000:]
    assert "MemoryError" not in out, out[-4000:]
    assert len(pushes) >= 3 and all(p["status"] == 200 for p in pushes), (pushes, out[-3000:])
    assert all(p["problems"] == [] for p in pushes), pushes
    statuses = [a[1][0] for a in answers]
    assert len(answers) >= 30 and all(s == 200 for s in statuses), (answers, out[-3000:])
    api = json.loads([a[1][1] for a in answers if a[0] == "/api/status"][-1])
    assert api["meter_ok"] is True and isinstance(api["production_kw"], (int, float)), api
    assert 0 < api["free_heap"] < unix32.ESP32_HEAP, api  # the firmware's own view of the small heap
    assert "> status" in out, out[-3000:]
    console = out.split("> status", 1)[1]
    assert "atm90e32: ok" in console and "free heap" in console, out[-3000:]
    assert KEY not in out
