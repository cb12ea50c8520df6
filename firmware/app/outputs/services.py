# The outputs beside the Charge HQ push (app.outputs.chargehq): MQTT and OpenEVSE, each a
# coroutine of its own, started when its settings say so (config.outputs). App.outputs lists
# them for App.status(); each takes its values from App.values().
from app.core import config

# app.outputs.mqtt.MARK, not imported from there: without MQTT that module (~0.8 KB of RAM on the
# ESP32 heap) loads only while there is something to take back from a broker
_MQTT_MARK = "mqtt_announced.json"


def services(app, log):
    on = config.outputs(app.cfg.data)
    app.outputs = []
    out = []
    if "mqtt" in on:
        from app.outputs.mqtt import MqttOutput
        o = MqttOutput(app, log)
        app.outputs.append(o)
        out.append(o.run())
    else:
        import os
        try:
            os.stat(_MQTT_MARK)
        except OSError:
            pass
        else:
            from app.outputs import mqtt as out_mqtt
            out.append(out_mqtt.retract(app, log))
    if "openevse" in on:
        from app.outputs.openevse import OpenEvseOutput
        o = OpenEvseOutput(app, log)
        app.outputs.append(o)
        out.append(o.run())
    return out
