# Home Assistant MQTT discovery, device-based (one retained message for the whole device,
# topic <discovery_prefix>/device/<object id>/config, components under "cmps", each with its
# platform "p" and a unique_id; shared: dev, o, state_topic, availability). Built from HA's
# MQTT integration documentation; values come from the state JSON (app.outputs.mqtt), whose
# fields and signs are those of /api/status.
import json

ORIGIN = "chargehq-esp32-meter"

# (component id, name, state field, scale, unit, device_class, state_class, category)
# scale: the state's kW -> W (1000), a 0..1 fraction -> % (100), 1 as is; None: text
_POWER = (("grid_power", "Grid power", "net_import_kw", 1000, "W", "power", "measurement", None),
          ("solar_power", "Solar power", "production_kw", 1000, "W", "power", "measurement", None),
          ("consumption_power", "Consumption power", "consumption_kw", 1000, "W", "power", "measurement", None))
_BATTERY = (("battery_power", "Battery power", "battery_discharge_kw", 1000, "W", "power", "measurement", None),
            ("battery_soc", "Battery charge", "battery_soc", 100, "%", "battery", "measurement", None))
_REST = (("energy_imported", "Energy imported", "imported_kwh", 1, "kWh", "energy", "total_increasing", None),
         ("energy_exported", "Energy exported", "exported_kwh", 1, "kWh", "energy", "total_increasing", None),
         ("energy_imported_today", "Energy imported today", "today_imported_kwh", 1, "kWh", "energy",
          "total_increasing", None),
         ("energy_exported_today", "Energy exported today", "today_exported_kwh", 1, "kWh", "energy",
          "total_increasing", None),
         ("validation", "Validation", "validation", None, None, None, None, "diagnostic"),
         ("wifi_signal", "Wi-Fi signal", "rssi", 1, "dBm", "signal_strength", "measurement", "diagnostic"))


def topic(prefix, dev_id):
    return "%s/device/%s/config" % (prefix, dev_id)


def _template(field, scale):
    v = "value_json.%s" % field
    if scale is None:
        return "{{ %s }}" % v
    x = v if scale == 1 else "(%s * %d) | round(%d)" % (v, scale, 0 if scale == 1000 else 1)
    # a field sent as null (meter not read, check failed) makes the entity unknown, never 0
    return "{{ %s if %s is not none else none }}" % (x, v)


def component_ids(battery):
    return [c[0] for c in _POWER + (_BATTERY if battery else ()) + _REST]


def payload(dev_id, name, model, state_topic, avail_topic, battery):
    """-> the discovery JSON (text). battery: the site measures a battery (else no battery
    entities: a site without one should not show two entities that are always unknown)."""
    cmps = {}
    for cid, label, field, scale, unit, dcls, scls, cat in _POWER + (_BATTERY if battery else ()) + _REST:
        c = {"p": "sensor", "name": label, "unique_id": "%s_%s" % (dev_id, cid),
             "value_template": _template(field, scale)}
        if unit:
            c["unit_of_measurement"] = unit
        if dcls:
            c["device_class"] = dcls
        if scls:
            c["state_class"] = scls
        if cat:
            c["entity_category"] = cat
        if scale == 1000:
            c["suggested_display_precision"] = 0
        cmps[cid] = c
    return json.dumps({
        "dev": {"ids": [dev_id], "name": name, "mf": "chargehq-esp32-meter (open source)", "mdl": model},
        "o": {"name": ORIGIN},
        "state_topic": state_topic,
        "availability_topic": avail_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 0,
        "cmps": cmps,
    })
