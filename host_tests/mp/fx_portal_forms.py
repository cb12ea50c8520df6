# The settings form -> config under MicroPython, for every source (run by test_portal.py in a
# folder holding the repo's boards/ and profiles/, as a board's filesystem does).
from mptest import check, eq, done
from app.core import config
from app.web.setupsave import apply
from app.web.webforms import fields, lookup

BASE = {"ssid": "HomeNet", "password": "pw-12345678", "api_key": "chq-KEY-0123456789",
        "push_interval_s": "60", "admin_password": "admin-pass-1", "board": "", "line_hz": "50",
        "profile": "", "slave": "1", "baud": "9600"}


def form(**kw):
    f = dict(BASE)
    f.update(kw)
    return f


empty = config.defaults()

# CT clamps: each chosen input becomes {"chip", "phase", "role"} from the board's own list
data, errors, fresh = apply(empty, form(source="atm90e32", board="circuitsetup_6ch", ct1="grid",
                                        ct2="grid", ct4="solar", line_hz="60"))
eq(errors, [], "CT form accepted")
eq(data["source"]["channels"], [{"chip": 0, "phase": "A", "role": "grid"}, {"chip": 0, "phase": "B", "role": "grid"},
                                {"chip": 1, "phase": "A", "role": "solar"}], "channels from the board")
eq(data["source"]["line_hz"], 60, "mains frequency")
eq(data["device"]["board"], "circuitsetup_6ch", "board saved in device.board")
check(not fresh.needs_setup, "complete: %s" % fresh.problem)
# shown again: the roles come back in the board's order
f = fields(data)
eq((f["ct1"], f["ct2"], f.get("ct3"), f["ct4"]), ("grid", "grid", "", "solar"), "roles shown again")
# re-saving keeps what the form does not show (invert, calibration) and other source keys
data["source"]["channels"][0]["invert"] = True
data["source"]["channels"][0]["igain"] = 31000
data["source"]["ct_model"] = "SCT-016"
data2, errors, _ = apply(data, form(source="atm90e32", board="circuitsetup_6ch", ct1="grid", ct2="",
                                    ct4="battery", line_hz="60", api_key="", password="", admin_password=""))
eq(errors, [], "re-saved")
eq(data2["source"]["channels"], [{"chip": 0, "phase": "A", "role": "grid", "invert": True, "igain": 31000},
                                 {"chip": 1, "phase": "A", "role": "battery"}], "calibration kept, roles changed")
eq(data2["source"]["ct_model"], "SCT-016", "source keys kept")
eq(data2["chargehq"]["api_key"], "chq-KEY-0123456789", "empty API key field keeps the key")
eq(data2["wifi"]["password"], "pw-12345678", "same network, empty password field keeps it")
eq(data2["device"]["admin_password"], "admin-pass-1", "empty admin field keeps it")
data3, errors, _ = apply(data, form(source="atm90e32", board="circuitsetup_6ch", ct1="grid", ssid="Other",
                                    password=""))
eq(data3["wifi"]["password"], "", "another network with an empty password field: open network")
data4, errors, _ = apply(data, form(source="atm90e32", board="circuitsetup_6ch", ct1="grid", line_hz=""))
check(errors == [] and "line_hz" not in data4["source"], (errors, data4["source"]))  # the board's
# the mains voltage (the AC adapter's rating): asked on the form, saved, shown again, cleared
data5, errors, _ = apply(data, form(source="atm90e32", board="circuitsetup_split", ct1="grid",
                                    mains_v="240"))
eq((errors, data5["source"].get("mains_v")), ([], 240), "mains voltage saved")
eq(fields(data5)["mains_v"], 240, "mains voltage shown again")
data6, errors, _ = apply(data5, form(source="atm90e32", board="circuitsetup_split", ct1="grid",
                                     mains_v=""))
check(errors == [] and "mains_v" not in data6["source"], (errors, data6["source"]))  # the board's
_, errors, _ = apply(data, form(source="atm90e32", board="circuitsetup_split", ct1="grid",
                                mains_v="999"))
eq(errors, [], "an unknown choice falls back to the board's default")

# CT mistakes, each named
_, errors, _ = apply(empty, form(source="atm90e32", board="circuitsetup_split", ct1="grid", ct3="solar"))
check("CT3: board circuitsetup_split has only 2 CT inputs" in errors, errors)
_, errors, _ = apply(empty, form(source="atm90e32", board="", ct1="grid"))
check(any("choose the board" in e for e in errors), errors)
_, errors, _ = apply(empty, form(source="atm90e32", board="circuitsetup_split"))
check(any("at least one CT" in e for e in errors), errors)
_, errors, _ = apply(empty, form(source="atm90e32", board="circuitsetup_split", ct1="<script>"))
check("CT1: unknown role" in errors, errors)
_, errors, _ = apply(empty, form(source="atm90e32", board="../etc/passwd", ct1="grid"))
check(any("choose the board" in e for e in errors), errors)

# Modbus: profile, slave id, baud; a second device on the bus stays as it was
data, errors, fresh = apply(empty, form(source="modbus", profile="sdm630", slave="2", baud="9600"))
eq(errors, [], "Modbus form accepted")
eq(data["source"], {"type": "modbus", "baud": 9600, "devices": [{"profile": "sdm630", "slave": 2}]}, "modbus")
data["source"]["devices"].append({"profile": "sungrow_sh", "slave": 1, "role": "site"})
data["source"]["devices"][0]["timeout_ms"] = 500
data2, errors, _ = apply(data, form(source="modbus", profile="sdm72", slave="3", baud="19200"))
eq(errors, [], "re-saved")
eq(data2["source"]["devices"], [{"profile": "sdm72", "slave": 3, "timeout_ms": 500},
                                {"profile": "sungrow_sh", "slave": 1, "role": "site"}], "second device kept")
# empty slave id and baud rate: the profile's own (nothing written, nothing kept from before)
one, errors, _ = apply(empty, form(source="modbus", profile="sdm72", slave="5", baud="19200"))
data3, errors, _ = apply(one, form(source="modbus", profile="sdm72", slave="", baud=""))
eq(errors, [], "profile defaults accepted")
eq(data3["source"], {"type": "modbus", "devices": [{"profile": "sdm72"}]}, "left to the profile")
_, errors, _ = apply(data2, form(source="modbus", profile="sdm72", slave="", baud=""))
check(any("id 1 is used by another device" in e for e in errors), errors)
f = fields(data3)
eq((f["slave"], f["baud"]), ("", ""), "shown as the profile's")
_, errors, _ = apply(empty, form(source="modbus", profile="", slave="x", baud="12345"))
check(any("choose the device profile" in e for e in errors), errors)
check(any("slave id: must be a whole number" in e for e in errors), errors)
check(any("source.baud" in e for e in errors), errors)
_, errors, _ = apply(empty, form(source="modbus", profile="no_such_device"))
check(any("source.devices[0].profile" in e for e in errors), errors)

# the rest of the form
_, errors, _ = apply(empty, form(source="simulated", ssid=" ", push_interval_s="abc", api_key="",
                                 admin_password="1234567"))
for want in ("Wi-Fi network: choose one", "push interval: must be a whole number",
             "API key: required", "admin password: at least 8 characters"):
    check(any(want in e for e in errors), (want, errors))
_, errors, _ = apply(empty, form(source="simulated", push_interval_s="100000"))
check(any("chargehq.push_interval_s: must be at most 3600" in e for e in errors), errors)
_, errors, _ = apply(empty, form(source="simulated", ssid="x" * 33))
check(any("wifi.ssid: length must be 0..32" in e for e in errors), errors)

# Wi-Fi: names up to 32 bytes (not characters), kept exactly; WPA2 passwords 8..63 (or 64 hex)
_, errors, _ = apply(empty, form(source="simulated", ssid="\u00e9" * 17))
check(any("at most 32 bytes (this one has 34)" in e for e in errors), errors)
data, errors, _ = apply(empty, form(source="simulated", ssid=" Caf\u00e9 5G "))
eq((errors, data["wifi"]["ssid"]), ([], " Caf\u00e9 5G "), "name kept exactly")
for pw, good in (("short", False), ("x" * 63, True), ("x" * 64, False), ("ab" * 32, True), ("", True)):
    _, errors, _ = apply(empty, form(source="simulated", password=pw))
    eq(not any("Wi-Fi password" in e for e in errors), good, "password %r" % pw[:10])

# the page never carries a stored secret
value = lookup(data2, data2, [], [], "/settings", False)
page = "".join(value(k) if isinstance(value(k), str) else "".join(value(k))
               for k in ("ssid", "password_hint", "key_hint", "admin_hint", "slave", "push_interval_s"))
check("chq-KEY" not in page and "pw-1234" not in page and "admin-pass" not in page, page)
eq(value("sel:source:modbus"), " selected", "current source selected")
eq(value("sel:baud:19200"), " selected", "current baud selected")
eq(value("sel:baud:9600"), "", "other baud not selected")
opts = "".join(value("files:profiles:profile"))
check('<option value="sdm72" selected>' in opts and "sungrow_sh" in opts, opts[:200])
# one try at a time: a second form while the first network is being tried is turned away
# the outputs: Charge HQ off, a broker, OpenEVSE; the form shows them back, never the password
base = config.defaults()
base["source"] = {"type": "simulated"}
base["wifi"]["ssid"] = "HomeNet"
base["device"]["admin_password"] = "admin-pass-1"
out_form = {"ssid": "HomeNet", "source": "simulated", "api_key": "", "push_interval_s": "60",
            "chargehq_on": "0", "mqtt_host": "10.0.0.2", "mqtt_port": "8883", "mqtt_user": "u",
            "mqtt_password": "secret-pw", "openevse_url": "http://oe.local"}
d6, errs6, chk6 = apply(base, out_form)
eq(errs6, [], "an MQTT + OpenEVSE set-up without a Charge HQ key")
eq(config.outputs(chk6.data), ["mqtt", "openevse"], "the outputs that run")
f6 = fields(d6)
eq((f6["chargehq_on"], f6["mqtt_host"], f6["mqtt_port"], f6["mqtt_user"], f6["openevse_url"]),
   ("0", "10.0.0.2", 8883, "u", "http://oe.local"), "config -> form")
check("secret-pw" not in str(f6), "the MQTT password is never put in the form")
d7, errs7, _ = apply(base, dict(out_form, chargehq_on="1"))
check(any("turn Charge HQ off" in e for e in errs7), errs7)
import asyncio
from app.web import setupsave


class Web:  # what app.portal's server carries for the handlers
    setup = True
    state = {"join": "trying"}


async def second_form():
    return await setupsave.save(Web(), None)
eq(asyncio.run(second_form()).status_code, 409, "busy while trying")
done()
