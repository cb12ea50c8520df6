# The MQTT output's heap cost on the running interpreter (bench.py's fig_mqtt_heap runs it on the
# 32-bit ESP32-shaped build): the modules, a connected client, and what one discovery message and
# one state message allocate. argv: broker_port. Prints "BENCH name value" lines.
import sys
import gc
import asyncio

port = int(sys.argv[1])


def free():
    gc.collect()
    return gc.mem_free()


def row(name, v):
    print("BENCH %s %d" % (name, v))


async def main():
    f0 = free()
    import mqtt_client
    import https_post  # mqtt_client's DNS cache (shared with the Charge HQ push when both run)
    f1 = free()
    row("import_mqtt_client_and_https_post", f0 - f1)
    from app.outputs.services import ha_discovery
    f2 = free()
    row("import_ha_discovery", f1 - f2)
    c = mqtt_client.Client("bench-240ac4123456", "127.0.0.1", port, keepalive_s=60,
                           will=("chargehq-meter/240ac4123456/status", b"offline", True))
    await c.connect(5000)
    await c.publish("chargehq-meter/240ac4123456/status", "online", retain=True)
    f3 = free()
    row("connected_client", f2 - f3)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    msg = ha_discovery.payload("240ac4123456", "Charge HQ meter 123456", "atm90e32 meter",
                               "chargehq-meter/240ac4123456/state", "chargehq-meter/240ac4123456/status", True)
    await c.publish("homeassistant/device/240ac4123456/config", msg, retain=True)
    a1 = gc.mem_alloc()
    row("discovery_message_bytes", len(msg))
    row("discovery_publish_alloc", a1 - a0)
    msg = None
    gc.enable()
    gc.collect()
    gc.disable()
    import json
    a0 = gc.mem_alloc()
    state = json.dumps({"meter_ok": True, "meter_error": None, "production_kw": 4.888, "net_import_kw": -4.394,
                        "consumption_kw": 0.494, "battery_discharge_kw": -1.2, "battery_soc": 0.5,
                        "imported_kwh": 1234.567, "exported_kwh": 2345.678, "today_imported_kwh": 1.2,
                        "today_exported_kwh": 12.3, "validation": "ok", "rssi": -61})
    await c.publish("chargehq-meter/240ac4123456/state", state)
    a1 = gc.mem_alloc()
    row("state_publish_alloc", a1 - a0)
    gc.enable()
    for _ in range(3):
        await c.keepalive()
        await asyncio.sleep_ms(10)
    await c.disconnect()
    row("free_after", free())

asyncio.run(main())
print("BENCH-DONE")
