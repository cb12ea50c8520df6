"""A meter whose app is frozen into the firmware image (the 32-bit build with firmware/manifest.py
frozen in, tools/unix32.py) in the ESP32's heap: an update over the LAN takes only the data files
(web/, ca/, profiles/, boards/), installs them, restarts, and says that the app itself needs a new
image; the version stays, nothing runs out of memory."""
import os
import sys

import pytest

from mp import ROOT, mp32
import ota_fx

sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture(scope="module")
def frozen32():
    return mp32("frozen")


def test_frozen_app_takes_data_files_only(tmp_path, frozen32):
    import fake_chargehq
    import ota
    import unix32
    srv, url, ca = fake_chargehq.serve(str(tmp_path / "chq"), 0, 29.9, out=open(os.devnull, "w"))
    build = ota_fx.make_build(tmp_path / "build")
    head = build / "web" / "head.html"
    head.write_bytes(head.read_bytes() + b"<!-- updated over the air -->\n")
    m = ota_fx.Meter(tmp_path / "dev", url, open(ca, "rb").read(),
                     argv=["--micropython", frozen32, "--heap", str(unix32.ESP32_HEAP)])
    try:
        m.start()
        m.wait_for("status page on", 60)
        dev = ota.Device("127.0.0.1:%d" % m.port, ota_fx.PASSWORD)
        st, r = dev.call("POST", "/api/ota/begin", ota.manifest(ota.build_files(build), "7.0.0-data"))
        assert st == 200 and r["frozen"] is True, r
        assert r["want"] and all(p.split("/")[0] in ("web", "ca", "profiles", "boards") for p in r["want"]), r
        assert dev.call("POST", "/api/ota/abort", b"")[0] == 200
        n0, l0 = len(m.dev.boots), len(m.dev.lines)
        msg = ota.push(dev, ota.build_files(build), "7.0.0-data", log=lambda *_: None)
        assert "frozen into this device's firmware image" in msg and "data files" in msg, msg
        m.wait_for("boot: soft reset", 30, since=l0)
        m.wait_for("status page on", 60, since=l0)
        assert len(m.dev.boots) > n0
        assert (m.dev.fs / "web" / "head.html").read_bytes() == head.read_bytes()
        fw = m.get_json("/api/status")["firmware"]
        assert fw["version"] == "1.0.0" and fw["slot"] == "base" and not fw["on_trial"], fw
        assert not (m.dev.fs / "ota" / "state").exists(), "the pointer is not used"
        text = m.text()
        assert "MemoryError" not in text and "Traceback" not in text, text[-3000:]
    finally:
        m.stop()
        srv.shutdown()
