"""Bench figure `mqtt`: the MQTT output's heap on the 32-bit build (bench/mqtt_heap.py against a
local mosquitto)."""
import subprocess

import unix32
from bench_parts.common import KB, ROOT, bench_lines


def measure(env, rows, quick):
    """The MQTT output's heap: its modules, a connected client, one discovery and one state
    message (bench/mqtt_heap.py against a local mosquitto), on the 32-bit build (tools/unix32.py)."""
    import mosquitto_broker
    mp = unix32.interpreter("32")
    broker = mosquitto_broker.Broker().start()
    state = env.device_dir("mqtt")
    try:
        res = subprocess.run([mp, "-X", "heapsize=114688", str(env.stubs / "espsim_run.py"),
                              str(ROOT / "bench" / "mqtt_heap.py"), str(broker.port)],
                             cwd=state, env=env.env(state), capture_output=True, text=True, timeout=120)
    finally:
        broker.stop()
    b = dict(bench_lines(res.stdout))
    if "free_after" not in b:
        rows.append(("MQTT client heap (32-bit)", "-", "failed", False, (res.stdout + res.stderr)[-300:]))
        return
    kept = int(b["import_mqtt_client_and_https_post"]) + int(b["connected_client"])
    rows.append(("MQTT client heap, kept (32-bit, 112 KB heap)", "-", "%.1f KB" % (kept / KB), None,
                 "mqtt_client + https_post modules %s B, a connected client %s B; ha_discovery module %s B "
                 "while it announces" % (b["import_mqtt_client_and_https_post"], b["connected_client"],
                                         b["import_ha_discovery"])))
    rows.append(("MQTT publish, allocated (32-bit)", "-", "%.1f KB discovery, %.1f KB state" % (
        int(b["discovery_publish_alloc"]) / KB, int(b["state_publish_alloc"]) / KB), None,
        "discovery message %s B, built and sent once per connection" % b["discovery_message_bytes"]))
