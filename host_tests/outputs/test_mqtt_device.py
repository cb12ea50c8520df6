"""The whole firmware in the simulator with MQTT as its only output, against a real mosquitto
watched with paho-mqtt: Home Assistant device discovery that matches HA's documented MQTT
discovery and sensor schema (templates rendered with Jinja2 against the state the device sent),
the state's fields and signs equal to /api/status, totals that never go down on MQTT or
/api/status across a power cut and a restart, and entities withdrawn when MQTT is removed."""
import json
import re
import socket
import sys
import time
import urllib.request

import jinja2
import pytest

from mp import ROOT, free_port
from mqtt_fx import Watcher

sys.path.insert(0, str(ROOT / "tools"))
import mosquitto_broker  # noqa: E402
import sim  # noqa: E402

# From Home Assistant's MQTT sensor and sensor-entity documentation: the options a discovered
# sensor may carry (the ones this device could use), and the units each device class accepts.
SENSOR_OPTIONS = {"p", "name", "unique_id", "value_template", "unit_of_measurement", "device_class",
                  "state_class", "entity_category", "suggested_display_precision", "state_topic",
                  "availability_topic", "icon", "expire_after", "force_update", "qos", "object_id",
                  "default_entity_id", "enabled_by_default"}
UNITS = {"power": {"W", "kW", "MW", "mW", "GW", "TW", "BTU/h"}, "energy": {"Wh", "kWh", "MWh", "GWh", "TWh", "mWh",
         "MJ", "GJ", "cal", "kcal", "Mcal", "Gcal"}, "battery": {"%"}, "signal_strength": {"dB", "dBm"}}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
ROOT_OPTIONS = {"dev", "device", "o", "origin", "cmps", "components", "state_topic", "availability_topic",
                "availability", "payload_available", "payload_not_available", "qos", "encoding",
                "availability_mode", "command_topic", "availability_template"}


def render(template, state):
    env = jinja2.Environment()
    out = env.from_string(template).render(value_json=state, value=json.dumps(state)).strip()
    return None if out == "None" else float(out) if re.fullmatch(r"-?\d+(\.\d+)?", out) else out


def api_status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=5) as r:
        return json.loads(r.read())


def check_discovery(disc, dev_id):
    """A discovery message against HA's documented device discovery and MQTT sensor schema."""
    # device-based discovery: dev and o at the root, components under cmps with p and unique_id
    assert set(disc) <= ROOT_OPTIONS, set(disc) - ROOT_OPTIONS
    assert disc["dev"]["ids"] == [dev_id] and disc["dev"]["name"] and disc["o"]["name"]
    state_topic = disc["state_topic"]
    avail = disc["availability_topic"]
    assert state_topic == "chargehq-meter/%s/state" % dev_id and avail == "chargehq-meter/%s/status" % dev_id
    cmps = disc["cmps"]
    uids = [c["unique_id"] for c in cmps.values()]
    assert len(set(uids)) == len(uids) and all(u.startswith(dev_id) for u in uids)
    for cid, c in cmps.items():
        assert re.fullmatch(r"[a-zA-Z0-9_-]+", cid)
        assert c["p"] == "sensor" and set(c) <= SENSOR_OPTIONS, (cid, set(c) - SENSOR_OPTIONS)
        if "device_class" in c:
            assert c["unit_of_measurement"] in UNITS[c["device_class"]], c
        if "state_class" in c:
            assert c["state_class"] in STATE_CLASSES
        if c.get("device_class") == "energy":
            assert c["state_class"] == "total_increasing", c
        assert c.get("entity_category") in (None, "diagnostic", "config")
    want = {"grid_power", "solar_power", "consumption_power", "battery_power", "battery_soc",
            "energy_imported", "energy_exported", "energy_imported_today", "energy_exported_today",
            "validation", "wifi_signal"}
    assert set(cmps) == want, set(cmps) ^ want
    return cmps


@pytest.fixture
def broker():
    b = mosquitto_broker.Broker().start()
    w = Watcher(b.port)
    yield b, w
    w.stop()
    b.stop()


def new_device(tmp_path, broker_port, config=None, source="simulated"):
    http = free_port()
    dev = sim.new_device(tmp_path / "dev", None, None, argv=[
        "--no-chargehq", "--mqtt", "127.0.0.1:%d" % broker_port, "--source", source,
        "--http-port", str(http), "--dns-port", str(free_port(socket.SOCK_DGRAM))], config=config)
    return dev, http


def states(w, topic):
    return [json.loads(p) for p, _r in w.on(topic)]


def test_mqtt_only_device_discovery_and_state(broker, tmp_path):
    b, w = broker
    dev, http = new_device(tmp_path, b.port, {"mqtt": {"interval_s": 2}})
    assert "api_key" not in json.dumps(dev.cfg["chargehq"]) or not dev.cfg["chargehq"]["enabled"]
    dev.start("power")
    try:
        disc_topics = lambda: [t for t, _p, _r in w.msgs if t.startswith("homeassistant/")]  # noqa: E731
        assert w.wait_for(lambda: disc_topics() and any(
            s["meter_ok"] and s["battery_soc"] is not None
            for t, p, _r in w.msgs if t.endswith("/state") for s in [json.loads(p)]), 40), \
            "\n".join(t for _, t in dev.lines[-40:])
        topic = disc_topics()[-1]
        m = re.fullmatch(r"homeassistant/device/([a-zA-Z0-9_-]+)/config", topic)
        assert m, topic
        dev_id = m.group(1)
        disc = json.loads(w.on(topic)[-1][0])
        st = api_status(http)
    finally:
        dev.stop()
    out = "\n".join(t for _, t in dev.lines)
    assert "mqtt: connected to 127.0.0.1:%d" % b.port in out, out
    assert "push" not in out.lower().replace("push api", ""), "no Charge HQ push without the target: " + out
    cmps = check_discovery(disc, dev_id)
    state_topic, avail = disc["state_topic"], disc["availability_topic"]
    assert w.on(avail)[0] == (b"online", False)
    # the templates, rendered as HA would (Jinja2), give the state's values in the stated units
    s = [x for x in states(w, state_topic) if x["meter_ok"]][-1]
    assert render(cmps["grid_power"]["value_template"], s) == round(s["net_import_kw"] * 1000)
    assert render(cmps["solar_power"]["value_template"], s) == round(s["production_kw"] * 1000)
    assert render(cmps["battery_power"]["value_template"], s) == round(s["battery_discharge_kw"] * 1000)
    assert render(cmps["battery_soc"]["value_template"], s) == round(s["battery_soc"] * 100, 1)
    assert render(cmps["energy_imported"]["value_template"], s) == s["imported_kwh"]
    assert render(cmps["validation"]["value_template"], s) == s["validation"] == "ok"
    assert render(cmps["wifi_signal"]["value_template"], s) == s["rssi"]
    # a field sent as null is unknown in HA, never 0
    assert render(cmps["grid_power"]["value_template"], dict(s, net_import_kw=None)) is None
    # fields and signs as in /api/status; the balance holds with its signs
    for k in ("production_kw", "net_import_kw", "consumption_kw", "battery_discharge_kw", "battery_soc",
              "imported_kwh", "exported_kwh", "today_imported_kwh", "today_exported_kwh", "meter_ok"):
        assert k in st and k in s, k
    assert st["schema"] == 1
    assert abs(s["consumption_kw"] - (s["production_kw"] + s["net_import_kw"] + s["battery_discharge_kw"])) < 0.002
    assert 0 <= s["battery_soc"] <= 1
    # the stop (Ctrl-C here) leaves the socket without DISCONNECT: the broker sends the will
    assert w.wait_for(lambda: w.on(avail)[-1] == (b"offline", False), 15)


def test_totals_never_go_down_on_mqtt_or_api_across_power_cuts(broker, tmp_path):
    b, w = broker
    dev, http = new_device(tmp_path, b.port, {"mqtt": {"interval_s": 2}}, source="atm90e32")
    seen = []  # (source, export kWh, import kWh) in time order

    def poll(seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                st = api_status(http)
                seen.append(("api", st["exported_kwh"], st["imported_kwh"]))
            except OSError:
                pass
            time.sleep(1)
    dev.start("power")
    poll(25)
    dev.kill()                 # power cut: RTC memory lost, the live totals fall back to flash
    dev.start("power")
    poll(15)
    dev.stop()                 # clean stop: the totals are checkpointed
    dev.start("power")
    poll(12)
    dev.stop()
    topic = [t for t, _p, _r in w.msgs if t.endswith("/state")][0]
    mq = [(s["exported_kwh"], s["imported_kwh"]) for s in states(w, topic)]
    api = [(e, i) for _src, e, i in seen]
    assert len(mq) >= 10 and len(api) >= 20, (len(mq), len(api))
    for name, seq in (("mqtt", mq), ("api", api)):
        for a, b2 in zip(seq, seq[1:]):
            assert b2[0] >= a[0] and b2[1] >= a[1], "%s total went down: %s -> %s" % (name, a, b2)
    assert mq[-1][0] > 0 and api[-1][0] > 0, "the checkpoint at the clean stop reached both outputs"
    out = "\n".join(t for _, t in dev.lines)
    # the live totals did move before the cut (what /api/status served before this change)
    assert re.search(r"export 0\.0[1-9]\d kWh", out), out


def test_removing_mqtt_withdraws_the_entities(broker, tmp_path):
    b, w = broker
    dev, http = new_device(tmp_path, b.port)
    dev.start("power")
    assert w.wait_for(lambda: any(t.startswith("homeassistant/device/") for t, _p, _r in w.msgs), 30)
    dev.stop()
    topic = [t for t, _p, _r in w.msgs if t.startswith("homeassistant/device/")][0]
    avail = json.loads(w.on(topic)[0][0])["availability_topic"]
    # MQTT removed from the settings (the device keeps an OpenEVSE target to stay complete)
    cfg = json.loads((dev.fs / "config.json").read_text())
    del cfg["mqtt"]
    cfg["openevse"] = {"url": "http://127.0.0.1:%d" % free_port()}
    (dev.fs / "config.json").write_text(json.dumps(cfg))
    dev.start("soft")
    try:
        assert w.wait_for(lambda: (b"", True) in w.on(topic) or (b"", False) in w.on(topic), 30), \
            "\n".join(t for _, t in dev.lines[-30:])
    finally:
        dev.stop()
    assert "Home Assistant entities withdrawn" in "\n".join(t for _, t in dev.lines)
    late = Watcher(b.port, "homeassistant/#")
    time.sleep(1)
    assert late.on(topic) == [], "no retained discovery left: HA removes the device"
    late.stop()
    late = Watcher(b.port, avail)
    time.sleep(1)
    assert late.on(avail) == [], "no retained availability left"
    late.stop()
    assert not (dev.fs / "mqtt_announced.json").exists()


def test_portal_provisioned_mqtt_only_device(broker, tmp_path):
    """A new device set up through the set-up portal's form with Charge HQ off and only a broker:
    no API key asked for; after its restart it publishes discovery and state."""
    import urllib.parse
    b, w = broker
    http = free_port()
    dev = sim.new_device(tmp_path / "dev", None, None, argv=[
        "--portal", "--http-port", str(http), "--dns-port", str(free_port(socket.SOCK_DGRAM))])
    dev.start("power")
    try:
        url = "http://127.0.0.1:%d" % http
        for _ in range(100):
            try:
                page = urllib.request.urlopen(url + "/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        for name in ('name="chargehq_on"', 'name="mqtt_host"', 'name="mqtt_port"', 'name="mqtt_password"',
                     'name="openevse_url"'):
            assert name in page, name
        form = {"ssid": "HomeNet", "password": "hunter2-wifi", "api_key": "", "push_interval_s": "60",
                "chargehq_on": "0", "mqtt_host": "127.0.0.1", "mqtt_port": str(b.port), "mqtt_user": "",
                "mqtt_password": "", "openevse_url": "", "source": "simulated",
                "admin_password": "admin-pass-1", "board": "", "line_hz": "50", "profile": "", "slave": "1",
                "baud": "9600"}
        # Charge HQ left on without a key: refused with a message naming the way out
        bad = dict(form, chargehq_on="1")
        req = urllib.request.Request(url + "/save", data=urllib.parse.urlencode(bad).encode(),
                                     headers={"Origin": url})
        try:
            urllib.request.urlopen(req, timeout=20)
            raise AssertionError("a key-less Charge HQ must be refused")
        except urllib.error.HTTPError as e:
            assert e.code == 400 and "turn Charge HQ off" in e.read().decode()
        req = urllib.request.Request(url + "/save", data=urllib.parse.urlencode(form).encode(),
                                     headers={"Origin": url})
        with urllib.request.urlopen(req, timeout=20) as r:
            assert r.status == 200  # (the 303 to /result followed)
        for _ in range(300):  # the portal restarts the chip: the capture device restarts it here
            if not dev.alive():
                break
            time.sleep(0.1)
        marker = dev.fs / ".reset_reason"
        assert not dev.alive() and marker.exists(), "\n".join(t for _, t in dev.lines[-20:])
        cause = marker.read_text().strip()
        marker.unlink()
        dev.start(cause)
        assert w.wait_for(lambda: any(t.startswith("homeassistant/device/") for t, _p, _r in w.msgs) and any(
            json.loads(p)["meter_ok"] for t, p, _r in w.msgs if t.endswith("/state")), 60), \
            "\n".join(t for _, t in dev.lines[-40:])
        topic = [t for t, _p, _r in w.msgs if t.startswith("homeassistant/device/")][-1]
        check_discovery(json.loads(w.on(topic)[-1][0]), topic.split("/")[2])
    finally:
        dev.stop()
    saved = json.loads((dev.fs / "config.json").read_text())
    assert saved["chargehq"]["enabled"] is False and not saved["chargehq"].get("api_key")
    assert saved["mqtt"]["host"] == "127.0.0.1" and saved["mqtt"]["port"] == b.port
    out = "\n".join(t for _, t in dev.lines)
    assert "needs set-up" in out and "mqtt: connected" in out, out


def test_wifi_outage_offline_then_online_again(broker, tmp_path):
    """The router goes away for 12 s: the device drops its MQTT link with the station (the broker
    sends the will: offline), logs no MQTT error for it, and is online with state again after."""
    b, w = broker
    dev, http = new_device(tmp_path, b.port, {"mqtt": {"interval_s": 2}})
    dev.start("power")
    try:
        assert w.wait_for(lambda: any(t.endswith("/state") for t, _p, _r in w.msgs), 30)
        avail = [t for t, _p, _r in w.msgs if t.endswith("/status")][0]
        (dev.fs / ".wifi").write_text("down")
        assert w.wait_for(lambda: w.on(avail)[-1] == (b"offline", False), 20), w.on(avail)
        time.sleep(8)
        t_back = time.time()
        (dev.fs / ".wifi").write_text("ok")
        assert w.wait_for(lambda: w.on(avail)[-1][0] == b"online", 30), w.on(avail)
        assert w.wait_for(lambda: any(t > t_back and tp.endswith("/state")
                                      for t, (tp, _p, _r) in zip(w.times, w.msgs)), 20)
    finally:
        dev.stop()
    out = "\n".join(t for _, t in dev.lines)
    assert "mqtt: " not in out.replace("mqtt: connected", ""), out
