"""Over-the-air updates in the simulator (the unchanged firmware under MicroPython): make ota's
client pushes a build to a running meter, which switches, proves itself and stays; a version
that cannot start is rolled back by itself; the pull path over HTTPS with the project's own CA."""
import os
import sys

import pytest

from mp import ROOT
import ota_fx

sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture
def chq(tmp_path):
    import fake_chargehq
    srv, url, ca = fake_chargehq.serve(str(tmp_path / "chq"), 0, 29.9, out=open(os.devnull, "w"))
    yield tmp_path / "chq", url, open(ca, "rb").read()
    srv.shutdown()


def test_make_ota_brings_the_new_version_up(tmp_path, chq):
    import ota
    chq_dir, url, ca = chq
    build = ota_fx.make_build(tmp_path / "build")
    m = ota_fx.Meter(tmp_path / "dev", url, ca).start()
    try:
        m.wait_for("status page on", 30)
        m.wait_for("pushed (HTTP 200)", 60)
        before = m.get_json("/api/status")
        assert before["firmware"]["version"] == "1.0.0" and before["firmware"]["previous"] is None
        rc = ota.main(["--host", "127.0.0.1:%d" % m.port, "--password", ota_fx.PASSWORD,
                       "--build", str(build), "--version", "2.0.0-test", "--wait", "--wait-s", "180"])
        assert rc == 0, m.text()[-4000:]
        after = m.get_json("/api/status")
        fw = after["firmware"]
        assert (fw["version"], fw["previous"], fw["slot"], fw["on_trial"]) == ("2.0.0-test", "1.0.0", "a", False), fw
        assert after["imported_kwh"] >= before["imported_kwh"] and after["exported_kwh"] >= before["exported_kwh"]
        text = m.text()
        assert "version 2.0.0-test confirmed" in text
        assert "energy: saved (update)" in text
        ok, gaps = ota_fx.gaps_ok(chq_dir)
        assert ok, gaps
        assert "Traceback" not in text, text[-3000:]
    finally:
        m.stop()
