"""The evcc.yaml snippets in docs/evcc.md, tested: their jq expressions (PyPI jq) applied to the
live /api/status and the MQTT state of a simulated device with a battery, values and signs
checked against evcc's convention (grid + import, pv + production, battery + discharge, W, kWh, %)."""
import json
import re
import socket
import sys
import time

import jq
import yaml

from mp import ROOT, free_port
from mqtt_fx import Watcher
from test_mqtt_device import api_status

sys.path.insert(0, str(ROOT / "tools"))
import mosquitto_broker  # noqa: E402
import sim  # noqa: E402


def snippets():
    text = (ROOT / "docs" / "evcc.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    http, mqtt = blocks
    return {m["name"]: m for m in http["meters"]}, {m["name"]: m for m in mqtt["meters"]}, http["site"]


def evcc_values(meters, doc):
    """-> {(meter, attribute): value} as evcc's jq would read it from `doc`."""
    out = {}
    for name, m in meters.items():
        assert m["type"] == "custom"
        for attr in ("power", "energy", "soc"):
            if attr in m:
                out[(name, attr)] = jq.compile(m[attr]["jq"]).input_value(doc).first()
    return out


def check_against(vals, doc):
    assert vals[("grid", "power")] == doc["net_import_kw"] * 1000
    assert vals[("pv", "power")] == doc["production_kw"] * 1000
    assert vals[("battery", "power")] == doc["battery_discharge_kw"] * 1000
    assert vals[("grid", "energy")] == doc["imported_kwh"]
    assert vals[("battery", "soc")] == doc["battery_soc"] * 100 and 0 <= vals[("battery", "soc")] <= 100
    # evcc's balance: home = grid + pv + battery (W)
    home = vals[("grid", "power")] + vals[("pv", "power")] + vals[("battery", "power")]
    assert abs(home - doc["consumption_kw"] * 1000) < 2


def test_evcc_snippets_on_a_live_device(tmp_path):
    http_m, mqtt_m, site = snippets()
    assert site["meters"] == {"grid": "grid", "pv": "pv", "battery": "battery"}
    for meters, source in ((http_m, "http"), (mqtt_m, "mqtt")):
        for m in meters.values():
            for attr in ("power", "energy", "soc"):
                if attr in m:
                    assert m[attr]["source"] == source
    broker = mosquitto_broker.Broker().start()
    w = Watcher(broker.port, "chargehq-meter/#")
    http = free_port()
    dev = sim.new_device(tmp_path / "dev", None, None, argv=[
        "--no-chargehq", "--mqtt", "127.0.0.1:%d" % broker.port, "--source", "simulated",
        "--http-port", str(http), "--dns-port", str(free_port(socket.SOCK_DGRAM))],
        config={"mqtt": {"interval_s": 2}, "source": {"type": "simulated", "start_hour": 18}})
    dev.start("power")
    docs = []
    try:
        end = time.time() + 40
        while time.time() < end and len(docs) < 3:
            try:
                st = api_status(http)
                if st["meter_ok"]:
                    docs.append(st)
            except OSError:
                pass
            time.sleep(1)
        assert w.wait_for(lambda: any(json.loads(p)["meter_ok"] for t, p, _r in w.msgs if t.endswith("/state")))
    finally:
        dev.stop()
        w.stop()
        broker.stop()
    assert docs, "\n".join(t for _, t in dev.lines[-30:])
    for st in docs:
        assert st["schema"] == 1
        check_against(evcc_values(http_m, st), st)
    topic = [t for t, _p, _r in w.msgs if t.endswith("/state")][0]
    state = [json.loads(p) for t, p, _r in w.msgs if t == topic and json.loads(p)["meter_ok"]][-1]
    assert all(m[a]["topic"].startswith("chargehq-meter/") and m[a]["topic"].endswith("/state")
               for m in mqtt_m.values() for a in ("power", "energy", "soc") if a in m)
    check_against(evcc_values(mqtt_m, state), state)
    # in the evening the simulated battery discharges and the site imports: the signs are evcc's
    evening = docs[-1]
    assert evening["battery_discharge_kw"] > 0 and evcc_values(http_m, evening)[("battery", "power")] > 0
    # a failed meter: null fields make evcc's jq fail rather than read 0
    failed = dict(docs[-1], net_import_kw=None, meter_ok=False)
    try:
        jq.compile(http_m["grid"]["power"]["jq"]).input_value(failed).first()
        raise AssertionError("null must not become a number")
    except ValueError as e:
        assert "null" in str(e)
