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
    """`make ota HOST=... PASSWORD=...` (make build, then tools/ota.py --wait) to a running meter."""
    import subprocess
    chq_dir, url, ca = chq
    m = ota_fx.Meter(tmp_path / "dev", url, ca).start()
    try:
        m.wait_for("status page on", 30)
        m.wait_for("pushed (HTTP 200)", 60)
        before = m.get_json("/api/status")
        assert before["firmware"]["version"] == "1.0.0" and before["firmware"]["previous"] is None
        # (-o: the venv is set up already; the worktrees share one, so its stamp may look older)
        res = subprocess.run(["make", "-s", "-o", ".venv/.installed", "ota", "HOST=127.0.0.1:%d" % m.port, "PASSWORD=" + ota_fx.PASSWORD,
                              "OTA_ARGS=--version 2.0.0-test --wait-s 180"],
                             cwd=str(ROOT), capture_output=True, text=True, timeout=400)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:] + m.text()[-3000:]
        assert "restarting into it" in res.stdout and "running 2.0.0-test" in res.stdout, res.stdout
        assert ota_fx.PASSWORD not in res.stdout + res.stderr
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


@pytest.mark.parametrize("kind", ["import", "crashloop"])
def test_a_version_that_fails_at_start_is_rolled_back(tmp_path, chq, kind):
    """import: the new app raises as it is imported -> main.py rolls back at once (1 boot).
    crashloop: the new app resets the chip each time it starts -> the RTC boot counter rolls it
    back at boot MAX_BOOTS + 1. Either way the old version runs again, confirmed, totals intact."""
    import ota
    chq_dir, url, ca = chq
    build = ota_fx.make_build(tmp_path / "build")
    code = {"import": 'raise RuntimeError("this version cannot start")\n',
            "crashloop": 'import time, machine\ntime.sleep(0.5)\nmachine.reset()\n'}[kind]
    bad = ota_fx.broken_build(build, tmp_path / "bad", code)
    m = ota_fx.Meter(tmp_path / "dev", url, ca).start()
    try:
        m.wait_for("status page on", 30)
        m.wait_for("pushed (HTTP 200)", 60)
        before = m.get_json("/api/status")
        boots0 = len(m.dev.boots)
        rc = ota.main(["--host", "127.0.0.1:%d" % m.port, "--password", ota_fx.PASSWORD,
                       "--build", str(bad), "--version", "3.0.0-broken", "--wait", "--wait-s", "120"])
        assert rc == 1, "the broken version must be reported as rolled back\n" + m.text()[-4000:]
        st = m.get_json("/api/status")
        fw = st["firmware"]
        assert fw["version"] == "1.0.0" and fw["slot"] == "base" and not fw["on_trial"], fw
        assert fw["previous"] == "3.0.0-broken" and "rolled back from 3.0.0-broken" in fw["note"], fw
        boots = len(m.dev.boots) - boots0
        want = 2 if kind == "import" else ota_fx.otaboot_const("MAX_BOOTS") + 1
        assert boots == want, (boots, m.dev.boots)
        assert st["imported_kwh"] >= before["imported_kwh"] and st["exported_kwh"] >= before["exported_kwh"]
        m.wait_for("rolled back from 3.0.0-broken", 5)
        ok, gaps = ota_fx.gaps_ok(chq_dir)
        assert ok, gaps
    finally:
        m.stop()


def _post_form(m, path, fields, password=ota_fx.PASSWORD):
    import base64
    import urllib.parse
    import urllib.request
    req = urllib.request.Request(m.url(path), data=urllib.parse.urlencode(fields).encode())
    req.add_header("Authorization", "Basic " + base64.b64encode(("admin:" + password).encode()).decode())
    req.add_header("Origin", m.url(""))  # as the browser posting the device's own form (others: 403)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def test_pull_over_https_with_its_own_ca(tmp_path, chq):
    """The /update page (and the console's `update URL`) pull a release over verified TLS: a
    server whose CA is not in the bundle is refused; a truncated file and a file whose hash does
    not match abort the update with the old version running and nothing left staged; then the
    good release installs, confirms itself, and the page shows both versions."""
    import ota
    import release_server
    chq_dir, url, ca = chq
    build = ota_fx.make_build(tmp_path / "build")
    rel = tmp_path / "rel"
    ota.write_release(rel / "good", ota.build_files(build), "4.0.0-pulled")
    ota.write_release(rel / "short", ota.build_files(build), "4.0.1-short")
    ota.write_release(rel / "tampered", ota.build_files(build), "4.0.2-tampered")
    (rel / "tampered" / "app" / "outputs" / "payload.mpy").write_bytes(b"\x00" * len((rel / "tampered" / "app" / "outputs" / "payload.mpy").read_bytes()))
    srv, base, rs_ca, hits = release_server.serve(str(rel), str(tmp_path / "rs"),
                                                  faults={"short/app/core/scheduler.mpy": "short"})
    m = ota_fx.Meter(tmp_path / "dev", url, ca)
    try:
        m.start()
        m.wait_for("status page on", 30)
        # 1. the release server's CA is not in the device's bundle yet: refused
        _post_form(m, "/update", {"url": base + "good/manifest.txt"})
        m.wait_for("update from %sgood/manifest.txt failed: TLS" % base, 30)
        assert not any(h.startswith("good/app") for h in hits)
        # the user adds the CA to the bundle (tools/make_ca_bundle.py --add on a real device)
        bundle = m.dev.fs / "ca" / "roots.der"
        bundle.write_bytes(bundle.read_bytes() + open(rs_ca, "rb").read())
        # 2. plain http is refused
        st, page = _post_form(m, "/update", {"url": "http://localhost:1/x/manifest.txt"})
        m.wait_for("must start with https://", 10)
        # 3. truncated, 4. tampered
        for name, why in (("short", "ended"), ("tampered", "SHA-256 does not match")):
            n0 = len(m.dev.lines)
            _post_form(m, "/update", {"url": base + name + "/manifest.txt"})
            line = m.wait_for("update from %s%s/manifest.txt failed" % (base, name), 60, since=n0)
            assert why in line, line
            fw = m.get_json("/api/ota")
            assert fw["version"] == "1.0.0" and fw["update"] is None, fw
            assert not (m.dev.fs / "ota" / "a").exists(), "a failed update leaves nothing staged"
        # 5. the good release
        st, page = _post_form(m, "/update", {"url": base + "good/manifest.txt"})
        assert st == 200 and "started" in page
        m.wait_for("version 4.0.0-pulled confirmed", 120)
        fw = m.get_json("/api/status")["firmware"]
        assert (fw["version"], fw["previous"]) == ("4.0.0-pulled", "1.0.0"), fw
        import urllib.request
        import base64
        req = urllib.request.Request(m.url("/"))
        html = urllib.request.urlopen(req, timeout=10).read().decode()
        assert "4.0.0-pulled (previous: 1.0.0)" in html
        ok, gaps = ota_fx.gaps_ok(chq_dir)
        assert ok, gaps
        assert "Traceback" not in m.text()
    finally:
        m.stop()
        srv.shutdown()


def test_trial_deadline_timer_rolls_back(tmp_path):
    """A version on trial that runs but never delivers: otaboot's timer (DEADLINE_S, here armed
    for 0.3 s) points back to the previous version and resets the chip, from outside the app."""
    import json
    from mp import run_mp_code
    (tmp_path / "ota" / "a" / "app").mkdir(parents=True)
    (tmp_path / "ota" / "a" / "manifest.txt").write_text("x")
    (tmp_path / "ota" / "state").write_text(json.dumps(
        {"cur": "a", "cur_v": "5.0.0", "prev": "", "prev_v": "1.0.0", "trial": True, "id": 77, "pon": 0}))
    res = run_mp_code("import time, otaboot\notaboot.select()\nprint('slot', otaboot.slot)\n"
                      "otaboot._arm_deadline(300)\ntime.sleep(3)\nprint('STILL RUNNING')\n",
                      state_dir=tmp_path, reset_cause="soft")
    assert "slot a" in res.stdout and "STILL RUNNING" not in res.stdout, res.stdout + res.stderr
    assert "no reading and output within 600 s - restarting" in res.stdout, res.stdout
    assert (tmp_path / ".reset_reason").read_text() == "soft", "the chip was reset"
    st = json.loads((tmp_path / "ota" / "state").read_text())
    assert (st["cur"], st["trial"], st["prev_v"]) == ("", False, "5.0.0"), st


def test_endpoint_refuses_bad_requests(tmp_path, chq):
    """Wrong or no password, no OTA header, a second update while one runs, a file over the size
    limit, a manifest naming ../config.json, and password guessing (locked after 10)."""
    import http.client
    import base64
    import ota
    chq_dir, url, ca = chq
    build = ota_fx.make_build(tmp_path / "build")
    files = ota.build_files(build)
    m = ota_fx.Meter(tmp_path / "dev", url, ca).start()

    def call(method, path, body=b"", password=ota_fx.PASSWORD, header=True):
        c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=15)
        h = {"Content-Type": "application/octet-stream"}
        if password is not None:
            h["Authorization"] = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
        if header:
            h["X-Meter-OTA"] = "1"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data
    try:
        m.wait_for("status page on", 30)
        good = ota.manifest(files, "6.0.0")
        assert call("POST", "/api/ota/begin", good, password=None)[0] == 401
        assert call("POST", "/api/ota/begin", good, password="wrong-password")[0] == 401
        assert call("POST", "/api/ota/begin", good, header=False)[0] == 400
        st, body = call("POST", "/api/ota/begin", good + b"file %s 3 ../config.json\n" % (b"0" * 64))
        assert st == 400 and b"../config.json" in body, body
        st, body = call("POST", "/api/ota/begin", good)
        assert st == 200, body
        st, body = call("POST", "/api/ota/begin", good)
        assert st == 409 and b"is running" in body, body
        # a body over the limit: refused from its Content-Length, before any of it is stored
        c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=15)
        c.putrequest("PUT", "/api/ota/file?path=app/main.mpy")
        c.putheader("Authorization", "Basic " + base64.b64encode(("admin:" + ota_fx.PASSWORD).encode()).decode())
        c.putheader("X-Meter-OTA", "1")
        c.putheader("Content-Length", str(ota_fx.ota_const("MAX_FILE") + 1))
        c.endheaders(b"x" * 1000)
        r = c.getresponse()
        assert r.status == 413, r.status
        c.close()
        st, body = call("POST", "/api/ota/abort")
        assert st == 200, body
        for _ in range(10):
            call("GET", "/api/ota", password="guess")
        st, body = call("GET", "/api/ota")
        assert st == 429, "locked after 10 wrong passwords, even for the right one"
        cfg_before = (m.dev.fs / "config.json").read_text()
        assert not (m.dev.fs / "ota" / "a").exists() or not (m.dev.fs / "ota" / "a" / "manifest.txt").exists()
        assert (m.dev.fs / "config.json").read_text() == cfg_before
        assert m.get_json("/api/status", password=None)["firmware"]["version"] == "1.0.0"
        assert "Traceback" not in m.text()
    finally:
        m.stop()
