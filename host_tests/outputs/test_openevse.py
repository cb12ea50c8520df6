"""OpenEVSE solar divert from the whole firmware in the simulator, against a local fake OpenEVSE
(tools/fake_openevse.py): POST {"grid_ie": W} to /status every openevse.interval_s with the sign
of /api/status's net_import_kw (+ import / - export); a slow OpenEVSE costs one log line and
neither sampling nor the MQTT output waits for it."""
import json
import socket
import sys
import time
import urllib.request

from mp import ROOT, free_port
from mqtt_fx import Watcher
from test_mqtt_device import api_status

sys.path.insert(0, str(ROOT / "tools"))
import fake_openevse  # noqa: E402
import mosquitto_broker  # noqa: E402
import sim  # noqa: E402


def test_openevse_grid_ie_and_a_slow_openevse(tmp_path):
    oe_dir = tmp_path / "oe"
    srv, url = fake_openevse.serve(oe_dir)
    broker = mosquitto_broker.Broker().start()
    w = Watcher(broker.port, "chargehq-meter/#")
    http = free_port()
    dev = sim.new_device(tmp_path / "dev", None, None, argv=[
        "--no-chargehq", "--openevse", url, "--mqtt", "127.0.0.1:%d" % broker.port, "--source", "simulated",
        "--http-port", str(http), "--dns-port", str(free_port(socket.SOCK_DGRAM))],
        config={"openevse": {"interval_s": 5}, "mqtt": {"interval_s": 2}})
    api = []
    dev.start("power")
    try:
        end = time.time() + 17
        while time.time() < end:
            try:
                api.append((time.time(), api_status(http)["net_import_kw"]))
            except OSError:
                pass
            time.sleep(0.5)
        (oe_dir / "mode").write_text("slow")  # OpenEVSE now answers after 8 s (device timeout: 5 s)
        polls_before = len([1 for _, t in dev.lines if "reading:" in t])
        n_state = len([1 for t, _p, _r in w.msgs if t.endswith("/state")])
        time.sleep(16)
        n_state_slow = len([1 for t, _p, _r in w.msgs if t.endswith("/state")]) - n_state
        st = api_status(http)
        with urllib.request.urlopen("http://127.0.0.1:%d/" % http, timeout=5) as r:
            page = r.read().decode()
    finally:
        dev.stop()
        srv.shutdown()
        w.stop()
        broker.stop()
    out = "\n".join(t for _, t in dev.lines)
    posts = [json.loads(x) for x in (oe_dir / "posts.jsonl").read_text().splitlines()]
    good = [p for p in posts if p["status"] == 200 and not p["slow"]]
    assert len(good) >= 2, posts
    for p in good:
        assert p["path"] == "/status" and p["problems"] == [] and p["content_type"] == "application/json"
        g = p["body"]["grid_ie"]
        assert isinstance(g, int), p
        # /api/status around the same time: the same sign and size (the site changes slowly)
        near = [kw for t, kw in api if abs(t - p["t"]) < 1.5 and kw is not None]
        assert near, p
        assert any(abs(g - kw * 1000) < 150 and (g < 0) == (kw < 0) for kw in near), (g, near)
    assert any(p["body"]["grid_ie"] < 0 for p in good), "the simulated site exports at midday"
    # the slow OpenEVSE: one clear line, the device's other work went on
    assert out.count("openevse: no answer from 127.0.0.1 within 5 s") == 1, out
    assert n_state_slow >= 5, "MQTT state kept flowing while OpenEVSE was slow (%d)" % n_state_slow
    assert st["openevse"]["error"] and st["meter_ok"], st
    assert "<th>Endpoint</th>" in page, page
    assert len([1 for _, t in dev.lines if "reading:" in t]) >= polls_before
