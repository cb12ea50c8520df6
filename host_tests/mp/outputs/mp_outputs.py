# The outputs beside Charge HQ, under MicroPython: which run (config.outputs), what a set-up is
# missing, the form's outputs part (app.setupoutputs), the discovery payload (app.ha_discovery),
# the OpenEVSE URL, and App.values() taking the push's reading, check and flash totals.
import json
from app.core import config
from app.outputs import ha_discovery
from app.web import setupoutputs
from app.outputs.openevse import status_url
from mptest import check, eq, done

BASE = {"wifi": {"ssid": "HomeNet"}, "source": {"type": "simulated"}}


def cfg(**parts):
    raw = json.loads(json.dumps(BASE))
    raw.update(parts)
    return config.validate(raw)


c = cfg(chargehq={"api_key": "k"})
eq(config.outputs(c.data), ["chargehq"], "Charge HQ alone, as before")
check(c.problem is None, c.problem)
c = cfg()
eq(c.problem, "no Charge HQ API key", "no output at all: the key is what set-up asks for")
c = cfg(mqtt={"host": "192.168.1.10"})
eq(config.outputs(c.data), ["mqtt"], "MQTT only: complete without a key")
check(c.problem is None, c.problem)
check(not c.get("chargehq", "enabled"), "the key-less Charge HQ is off")
check(any("chargehq.api_key" in e for e in c.errors), "... and says so")
c = cfg(chargehq={"enabled": False}, openevse={"url": "http://openevse.local"})
eq(config.outputs(c.data), ["openevse"], "OpenEVSE only")
check(c.problem is None and not c.errors, (c.problem, c.errors))
c = cfg(chargehq={"enabled": False})
check(c.problem.startswith("no output"), c.problem)
c = cfg(chargehq={"enabled": False}, mqtt={"host": ""}, openevse={"url": ""})
check(c.problem.startswith("no output"), "an emptied broker and charger are no output")
c = cfg(chargehq={"api_key": "k"}, openevse={"url": "https://x"})
check(any(e.startswith("openevse.url") for e in c.errors), c.errors)
eq(config.outputs(c.data), ["chargehq"], "a bad OpenEVSE URL is dropped, not used")
c = cfg(chargehq={"api_key": "k"}, mqtt={"host": "b", "port": 0})
check(any(e.startswith("mqtt.port") for e in c.errors), c.errors)
eq(c.get("mqtt", "port"), 1883, "a bad port falls back to 1883")

# the set-up form's outputs
data = config.defaults()
errors = []
setupoutputs.apply({"chargehq_on": "0", "mqtt_host": " 10.0.0.2 ", "mqtt_port": "8883", "mqtt_user": "u",
                    "mqtt_password": "p", "openevse_url": ""}, data, errors)
eq(errors, [], "no errors")
eq((data["chargehq"]["enabled"], data["mqtt"]["host"], data["mqtt"]["port"], data["mqtt"]["user"],
    data["mqtt"]["password"]), (False, "10.0.0.2", 8883, "u", "p"), "form -> config")
setupoutputs.apply({"mqtt_host": "10.0.0.2", "mqtt_port": "8883", "mqtt_user": "u", "mqtt_password": ""},
                   data, errors)
eq(data["mqtt"]["password"], "p", "an empty password field keeps the stored one")
eq(data["chargehq"]["enabled"], False, "a form without the Charge HQ choice keeps it")
setupoutputs.apply({"mqtt_host": "x", "mqtt_port": "eighty"}, data, errors)
check(errors and "MQTT port" in errors[0], errors)
# (config -> form: fx_portal_forms.py, which has Microdot on its path)

# discovery: device-based, retained by the caller; battery entities only with a battery
d = json.loads(ha_discovery.payload("a1b2", "M", "m", "p/a1b2/state", "p/a1b2/status", False))
eq(sorted(d), ["availability_topic", "cmps", "dev", "o", "payload_available", "payload_not_available",
               "qos", "state_topic"], "root keys")
check("battery_power" not in d["cmps"] and "grid_power" in d["cmps"], "no battery entities")
d = json.loads(ha_discovery.payload("a1b2", "M", "m", "p/a1b2/state", "p/a1b2/status", True))
check("battery_power" in d["cmps"] and "battery_soc" in d["cmps"], "battery entities")
for cid, comp in d["cmps"].items():
    eq(comp["p"], "sensor", cid)
    eq(comp["unique_id"], "a1b2_" + cid, "unique id from the chip id: stable across reboots")
eq(d["cmps"]["energy_imported"]["state_class"], "total_increasing", "lifetime energy")
eq(ha_discovery.topic("homeassistant", "a1b2"), "homeassistant/device/a1b2/config", "topic")
eq(status_url("http://oe.local"), "http://oe.local/status", "OpenEVSE url")
eq(status_url("http://oe.local/status/"), "http://oe.local/status", "OpenEVSE url with /status")

# App.values(): stale and non-numeric readings reach no output; totals are the flash ones
from app.outputs.chargehq import ChargeHQApp as App
from app.core import clock
from mptest import ListLog
app = App(cfg(chargehq={"api_key": "k"}), ListLog())
vals, v = app.values()
check(not vals["meter_ok"] and vals["net_import_kw"] is None and v is None, "no reading yet")
s = app.site
s.grid_w, s.solar_w, s.load_w = -1500, 2000, 500
app.source_error = None
app.last_ok_up = clock.uptime_ms()


class Store:  # what app.persist gives: the totals on flash
    def pushable_wh(self, energy):
        return [100, 200]


app.store = Store()
app.energy.wh = [150, 260]  # live totals ahead of flash
vals, v = app.values()
eq((vals["net_import_kw"], vals["production_kw"], vals["consumption_kw"]), (-1.5, 2.0, 0.5), "powers")
eq((vals["imported_kwh"], vals["exported_kwh"]), (0.1, 0.2), "the flash totals, not the live ones")
check(v.ok, v.text())
s.grid_w = 1.5  # garbage from a driver: not an integer
vals, v = app.values()
check(not vals["meter_ok"] and vals["net_import_kw"] is None, "non-numeric reaches no output")
s.grid_w = -1500
app.last_ok_up = clock.uptime_ms() - 60000
vals, v = app.values()
check(not vals["meter_ok"] and "no meter reading" in vals["meter_error"], "a stale reading reaches no output")

# without MQTT in the settings and no mark of an earlier announcement, app.outputs.mqtt stays
# unloaded (RAM on the ESP32); the mark's name app.outputs.services looks for is that module's
import os
import sys
from app.outputs import services
try:
    os.remove(services._MQTT_MARK)
except OSError:
    pass
sys.modules.pop("app.outputs.mqtt", None)
eq(services.services(app, app.log), [], "Charge HQ alone: no output task")
check("app.outputs.mqtt" not in sys.modules, "app.outputs.mqtt not loaded without MQTT or a mark")
from app.outputs import mqtt as out_mqtt
eq(services._MQTT_MARK, out_mqtt.MARK, "the mark app.outputs.services looks for is the one app.outputs.mqtt writes")
done()
