# The outputs beside the Charge HQ push (app.outputs.chargehq): MQTT and OpenEVSE, each a
# coroutine of its own, started when its settings say so (config.outputs). App.outputs lists
# them for App.status(); each takes its values from App.values().
from app.core import config


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
        from app.outputs import mqtt as out_mqtt
        try:
            os.stat(out_mqtt.MARK)
            out.append(out_mqtt.retract(app, log))
        except OSError:
            pass
    if "openevse" in on:
        from app.outputs.openevse import OpenEvseOutput
        o = OpenEvseOutput(app, log)
        app.outputs.append(o)
        out.append(o.run())
    return out
