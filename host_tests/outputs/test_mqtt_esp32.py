"""All the outputs at once in the ESP32's heap: the 32-bit build with the app frozen in
(tools/unix32.py) at the GC heap of ESP32_GENERIC, a CT board, verified HTTPS pushes to the local
fake Charge HQ, MQTT with Home Assistant discovery to mosquitto, OpenEVSE to a fake charger, and
/api/status fetched throughout: every output delivers, never a MemoryError."""
import json
import socket
import sys
import time
import urllib.request

from mp import ROOT, free_port, mp32
from mqtt_fx import Watcher

sys.path.insert(0, str(ROOT / "tools"))
import fake_chargehq  # noqa: E402
import fake_openevse  # noqa: E402
import mosquitto_broker  # noqa: E402
import sim  # noqa: E402
import unix32  # noqa: E402

KEY = "esp32-mqtt-key-0123456789-WXYZ"


def test_all_outputs_in_the_esp32_heap(tmp_path):
    frozen = mp32("frozen")
    srv, url, ca = fake_chargehq.serve(str(tmp_path / "chq"), 0, 29.9, out=open("/dev/null", "w"))
    oe, oe_url = fake_openevse.serve(tmp_path / "oe")
    broker = mosquitto_broker.Broker().start()
    w = Watcher(broker.port)
    port = free_port()
    dev = sim.new_device(tmp_path / "dev", url, open(ca, "rb").read(),
                         ["--interval", "30", "--api-key", KEY, "--source", "atm90e32",
                          "--micropython", frozen, "--heap", str(unix32.ESP32_HEAP),
                          "--mqtt", "127.0.0.1:%d" % broker.port, "--openevse", oe_url,
                          "--http-port", str(port), "--dns-port", str(free_port(socket.SOCK_DGRAM))],
                         {"device": {"report_s": 10}, "mqtt": {"interval_s": 5}, "openevse": {"interval_s": 10}})
    api = []
    ran = None
    try:
        dev.start("power")
        t_end = time.time() + 75
        while time.time() < t_end and dev.alive():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=10) as r:
                    api.append(json.loads(r.read()))
            except Exception as e:
                api.append(type(e).__name__)
            time.sleep(3)
        alive = dev.alive()
        ran = len(dev.lines)
    finally:
        # (judged on what it printed while running: the unix port raises Ctrl-C's KeyboardInterrupt
        # from the signal handler, and one landing inside a collection leaves the heap locked,
        # a 'MemoryError: heap is locked' at the stop that no ESP32 has)
        dev.stop()
        srv.shutdown()
        oe.shutdown()
        w.stop()
        broker.stop()
    out = "\n".join(line for _, line in dev.lines[:ran])
    assert alive, "the device stopped:\n" + out[-3000:]
    assert "MemoryError" not in out and "out of memory" not in out, out[-4000:]
    pushes = [json.loads(x) for x in (tmp_path / "chq" / "pushes.jsonl").read_text().splitlines()]
    assert len(pushes) >= 2 and all(p["status"] == 200 and p["problems"] == [] for p in pushes), pushes
    states = [json.loads(p) for t, p, _r in w.msgs if t.endswith("/state")]
    assert len(states) >= 10 and all(s["meter_ok"] for s in states[1:]), (len(states), out[-3000:])
    assert any(t.startswith("homeassistant/device/") for t, _p, _r in w.msgs)
    posts = [json.loads(x) for x in (tmp_path / "oe" / "posts.jsonl").read_text().splitlines()]
    assert len(posts) >= 5 and all(p["status"] == 200 for p in posts), posts
    while api and not isinstance(api[0], dict):  # before the web server listens (boot)
        api.pop(0)
    docs = [a for a in api if isinstance(a, dict)]
    assert len(docs) >= 20 and len(docs) == len(api), [a for a in api if not isinstance(a, dict)]
    last = docs[-1]
    assert last["mqtt"]["connected"] and last["openevse"]["error"] is None, last
    print("free heap (the firmware's own view, all outputs on): min %d B, last %d B" % (
        min(d["free_heap"] for d in docs), last["free_heap"]))
    assert KEY not in out
