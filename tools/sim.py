#!/usr/bin/env python3
"""Run the firmware unchanged on the host: MicroPython unix port + ESP32 stand-ins, a simulated
meter, and (unless --endpoint is given) a local fake Charge HQ over HTTPS.

    make sim                                   # defaults: simulated CT board, fake Charge HQ
    .venv/bin/python tools/sim.py --duration 120 --interval 30
    .venv/bin/python tools/sim.py --endpoint https://localhost:9443/x --ca my-ca.pem

--state-dir is the device's flash filesystem and RTC memory: reusing it is a reboot. Killing the
simulator (SIGKILL) is a power cut. A reset the firmware performs (machine.reset(), watchdog)
restarts the interpreter with RTC memory kept, as on the chip. Killing only the device's
interpreter (SIGKILL) is a power cut too: it powers on again, RTC memory lost.
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import threading

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import unix32  # noqa: E402
from sim_config import prepare_device  # noqa: E402  (the device's filesystem and config.json)
from sim_device import Device  # noqa: E402  (the interpreter run as one ESP32)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Run the firmware in the simulator.")
    ap.add_argument("--endpoint", help="push URL (default: a local fake Charge HQ)")
    ap.add_argument("--ca", help="CA certificate (PEM or DER) the device trusts for --endpoint")
    ap.add_argument("--api-key", help="Charge HQ API key (default: a simulator key)")
    ap.add_argument("--interval", type=int, help="push interval in seconds (>= 30)")
    ap.add_argument("--duration", type=float, help="stop after this many seconds (exit 0)")
    ap.add_argument("--state-dir", default=str(ROOT / "state" / "sim"),
                    help="the device's filesystem and RTC memory (reuse = reboot)")
    ap.add_argument("--heap", type=int, help="MicroPython heap in bytes (e.g. 65536)")
    ap.add_argument("--micropython", metavar="PATH",
                    help="the interpreter: a binary, or 64 (default: the PyPI unix port), 32 (32-bit, "
                         "ESP32 heap shape; tools/unix32.py builds it), 32-frozen (the same with the "
                         "firmware frozen in, as the ESP32 image)")
    ap.add_argument("--mpy", action="store_true",
                    help="run the firmware as `make build` compiles it for a board (.mpy), not from source")
    ap.add_argument("--esp32", action="store_true",
                    help="as a plain ESP32 runs the frozen image: --micropython 32-frozen --heap 114688")
    ap.add_argument("--source", default=None,
                    help="simulated | atm90e32 | modbus (default: keep the config's, else atm90e32: a "
                         "simulated CircuitSetup split-phase CT board)")
    ap.add_argument("--boot", choices=("power", "soft", "wdt", "hard"), default=None,
                    help="reset cause of the first start (default: power-on, or what the last run left)")
    ap.add_argument("--fresh", action="store_true", help="wipe --state-dir first (a new device)")
    ap.add_argument("--ticks-start", type=int, help="start ticks_ms here (e.g. just before 2**30)")
    ap.add_argument("--no-ntp", action="store_true", help="no time server: the clock stays unset")
    ap.add_argument("--min-gap", type=float, default=29.9, help="fake Charge HQ: 429 below this gap")
    ap.add_argument("--quiet-server", action="store_true", help="do not print the fake server's lines")
    ap.add_argument("--chq-dir", help="fake Charge HQ's folder (CA, pushes.jsonl; default: a temp dir)")
    ap.add_argument("--portal", action="store_true",
                    help="start unprovisioned: the set-up network, DNS catch-all and portal come up")
    ap.add_argument("--http-port", type=int, help="the device's web server on 127.0.0.1 (default 8080)")
    ap.add_argument("--dns-port", type=int, help="the set-up DNS catch-all on 127.0.0.1 (default 5353)")
    ap.add_argument("--profile", help="--source modbus: device profile (firmware/profiles/NAME.json)")
    ap.add_argument("--modbus-port", help="--source modbus: an existing serial device or pty to read "
                    "(no own peer); default: a pymodbus peer serving the profile's registers")
    ap.add_argument("--baud", type=int, help="--source modbus: bus speed (default: the profile's)")
    ap.add_argument("--slave", type=int, help="--source modbus: the device's slave id (default 1)")
    ap.add_argument("--console", action="store_true",
                    help="attach the device's serial console (and REPL) to this terminal")
    ap.add_argument("--mqtt", metavar="HOST:PORT", help="publish to this MQTT broker (state, Home Assistant discovery)")
    ap.add_argument("--mqtt-broker", action="store_true",
                    help="start a local mosquitto (Debian package; installed when root) for the device "
                         "and print what arrives on it as [mqtt] lines")
    ap.add_argument("--no-chargehq", action="store_true", help="run without the Charge HQ target")
    ap.add_argument("--openevse", metavar="URL", help="OpenEVSE solar divert: POST grid_ie to URL/status")
    a = ap.parse_args(argv)
    if a.interval is not None and a.interval < 30:
        ap.error("--interval must be at least 30 s (Charge HQ's floor)")
    if a.esp32:
        a.micropython = a.micropython or "32-frozen"
        a.heap = a.heap or unix32.ESP32_HEAP
    return a


def to_der(path):
    raw = open(path, "rb").read()
    if b"-----BEGIN" in raw:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding
        import re
        return b"".join(x509.load_pem_x509_certificate(m).public_bytes(Encoding.DER) for m in re.findall(
            rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", raw, re.S))
    return raw


def new_device(fs, endpoint, ca_der, argv=(), config=None, serial=False):
    """A new device in fs (wiped first) set up as `sim.py --fresh --state-dir FS ARGV...` would
    set it up, with config ({section: {key: value}}) merged into its config.json, its output
    captured (Device(capture=True)); .cfg is its config. Not started."""
    a = parse_args(["--fresh", "--state-dir", str(fs)] + list(argv))
    fs, cfg = prepare_device(a, endpoint, ca_der)
    cfg.setdefault("console", {})["enabled"] = True  # as on a board: measured with its console task
    for sec, vals in (config or {}).items():
        cfg.setdefault(sec, {}).update(vals)
    (fs / "config.json").write_text(json.dumps(cfg, indent=1))
    extra, chip_stop = {}, None
    if cfg.get("source", {}).get("type") == "atm90e32":  # (none yet with --portal)
        extra, chip_stop = start_chip(fs)
    dev = Device(a, fs, extra, capture=True, serial=serial)
    dev.cfg = cfg
    dev.on_stop = chip_stop
    return dev


def start_chip(fs):
    """The CT board's ATM90E32 in a process of its own (tools/atm90e32_peer.py): the chip model's
    registers and code stay out of the device's heap, as on a board. -> (device env, stop)"""
    from atm90e32_peer import start_peer
    return start_peer(fs)


def serial_line(console):
    """--console: make this terminal behave like the chip's serial line (no local echo, no line
    buffering: the console echoes and edits itself); Ctrl-C still stops the simulator.
    -> the terminal settings to restore, or None."""
    if not console or not sys.stdin.isatty():
        return None
    import termios
    import tty
    old = termios.tcgetattr(sys.stdin.fileno())
    tty.setcbreak(sys.stdin.fileno())
    return old


def main(argv=None):
    a = parse_args(argv)
    server = None
    endpoint, ca_der = a.endpoint, None
    if a.ca:
        ca_der = to_der(a.ca)
    if not endpoint and not a.no_chargehq:
        import fake_chargehq
        chq_dir = a.chq_dir or tempfile.mkdtemp(prefix="fake-chargehq-")
        out = open(os.devnull, "w") if a.quiet_server else sys.stdout
        server, endpoint, ca_path = fake_chargehq.serve(chq_dir, 0, a.min_gap, out=out)
        ca_der = open(ca_path, "rb").read()
        print("[sim] fake Charge HQ at %s (records in %s/pushes.jsonl)" % (endpoint, chq_dir), flush=True)
    broker = None
    if a.mqtt_broker:
        broker, a.mqtt = start_broker_watch()
    fs, cfg = prepare_device(a, endpoint, ca_der)
    env_extra = {}
    peers = []
    src = cfg.get("source", {}).get("type")
    if src == "atm90e32" or a.portal:  # (--portal: the board a phone may choose in the form)
        chip_env, chip_stop = start_chip(fs)  # the chip model on the SPI bus, in its own process
        env_extra.update(chip_env)
        peers.append(chip_stop)
    elif src == "modbus":
        path = a.modbus_port
        if not path:  # one peer serves every device of the bus, each at its slave id
            from modbus_peer import start_peer
            devs = {d.get("slave", 1): d["profile"] for d in cfg["source"].get("devices", [])}
            path, stop = start_peer(devs, baud=cfg["source"].get("baud", 9600))
            peers.append(stop)
        env_extra["ESPSIM_UART%d" % cfg["source"].get("uart", 1)] = path
    print("[sim] device filesystem %s, source %s, %s" % (
        fs, src, "no Charge HQ" if not cfg["chargehq"].get("enabled", True) else
        "push every %s s" % cfg["chargehq"].get("push_interval_s", 60)), flush=True)
    dev = Device(a, fs, env_extra)
    if a.micropython or a.heap:
        print("[sim] interpreter %s%s" % (dev.micropython, ", heap %d B" % a.heap if a.heap else ""), flush=True)
    cause = a.boot or "power"
    if a.duration:
        threading.Timer(a.duration, dev.stop).start()
    tty = serial_line(a.console)
    try:
        rc = dev.run(cause)
    except KeyboardInterrupt:
        dev.stop()
        rc = 0
    finally:
        if tty:
            import termios
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, tty)
    for stop in peers:
        stop()
    if server:
        server.shutdown()
    if broker:
        broker.stop()
    return rc


def start_broker_watch():
    """--mqtt-broker: a local mosquitto, and a paho-mqtt client printing what arrives on it.
    -> (broker, "127.0.0.1:PORT")"""
    import mosquitto_broker
    import paho.mqtt.client as paho
    broker = mosquitto_broker.Broker().start()

    def show(c, ud, m):
        text = m.payload.decode(errors="replace")
        print("[mqtt] %s%s %s" % (m.topic, " (retained)" if m.retain else "",
                                  text if len(text) < 400 else text[:400] + "..."), flush=True)
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="sim-watch", protocol=paho.MQTTv311)
    c.on_message = show
    c.on_connect = lambda cl, ud, fl, rc, props=None: cl.subscribe("#")
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    print("[sim] local mosquitto on 127.0.0.1:%d (mosquitto_sub -p %d -t '#' -v)" % (
        broker.port, broker.port), flush=True)
    return broker, "127.0.0.1:%d" % broker.port


if __name__ == "__main__":
    sys.exit(main())
