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
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import unix32  # noqa: E402
SIM_KEY = "sim-0123456789abcdef-KEY9"  # what the simulated device sends (never printed)


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


_FLAGS_FILE = ".sim_flags.json"  # what the last run's flags put into config.json


def prepare_device(a, endpoint, ca_der):
    """Lay out the device filesystem and write the config the flags ask for. Settings the device
    saved itself (set-up page, console) are kept across runs; what an earlier run's flags put
    there is taken out again unless this run asks for it too (a plain `make sim` after
    `--portal --http-port 9000` runs the default device, not that one)."""
    fs = pathlib.Path(a.state_dir)
    if a.fresh and fs.exists():
        shutil.rmtree(fs)
    fs.mkdir(parents=True, exist_ok=True)
    # data files the deploy step copies onto a board
    # (web/: a frozen app finds its pages on the filesystem, as on a board)
    for src, dst in ((ROOT / "boards", fs / "boards"), (ROOT / "firmware" / "ca", fs / "ca"),
                     (ROOT / "firmware" / "profiles", fs / "profiles"), (ROOT / "firmware" / "web", fs / "web")):
        if src.exists():
            shutil.copytree(src, dst, dirs_exist_ok=True)
    cfg_path = fs / "config.json"
    cfg = {}
    if cfg_path.exists():
        try:
            cfg = json.loads(cfg_path.read_text())
        except ValueError as e:  # as the firmware does: kept for the user, then set-up mode
            cfg_path.replace(fs / "config.json.bad")
            print("[sim] %s is not valid JSON (%s): kept as config.json.bad; the device starts in set-up "
                  "mode (--fresh for a new device)" % (cfg_path, e), flush=True)
            a.portal = True
    if not isinstance(cfg, dict):
        cfg = {}
    _forget_old_flags(fs, cfg)
    put = _Recorder(cfg)
    if a.portal:
        cfg = portal_config(a, fs, cfg_path, endpoint, ca_der)
        _save_flags(fs, {})
        return fs, cfg
    put("device", "report_s", 10, keep=True)  # a reading line every 10 s
    put("wifi", "ssid", "HomeNet", keep=True)
    put("wifi", "password", "sim-wifi-pass", keep=True)  # not a word the log uses: secrets are masked in every line
    if a.api_key or not cfg.get("chargehq", {}).get("api_key"):
        put("chargehq", "api_key", a.api_key or SIM_KEY)
    if endpoint:
        put("chargehq", "endpoint", endpoint)
        if endpoint.startswith("http://"):  # asked for on the command line: allowed, with the warning
            put("chargehq", "allow_http", True)
    if a.interval:
        put("chargehq", "push_interval_s", a.interval)
    if ca_der:
        (fs / "sim_ca.der").write_bytes(ca_der)
        put("chargehq", "ca_file", "sim_ca.der")
    # the serial console only where someone can type (else its prompt would ignore every key)
    put("console", "enabled", bool(a.console))
    put("device", "demo", True)  # the set-up form may offer the simulated site here
    put("device", "led_pin", 2)  # an LED the simulated owner wired to GPIO 2: its states show in the log
    if a.source or "source" not in cfg or not cfg["source"]:
        cfg["source"] = default_source(a.source or "atm90e32", cfg.get("source"))
        put.done.append(["source", None, cfg["source"]])
        if cfg["source"].get("type") == "atm90e32":
            put("device", "board", "circuitsetup_split")
    modbus_flags(a, cfg["source"])
    output_flags(a, cfg, put)
    sim_ports(a, cfg, put)
    cfg_path.write_text(json.dumps(cfg, indent=1))
    _save_flags(fs, put.done)
    return fs, cfg


def output_flags(a, cfg, put):
    """--mqtt / --no-chargehq / --openevse: the outputs of the device's config (recorded, so a
    later run without the flag does not keep it)."""
    if a.mqtt:
        host, _, port = a.mqtt.rpartition(":")
        put("mqtt", "host", host or "127.0.0.1")
        put("mqtt", "port", int(port))
    if a.no_chargehq:
        put("chargehq", "enabled", False)
    elif "chargehq" in cfg:
        put("chargehq", "enabled", True, keep=True)
    if a.openevse:
        put("openevse", "url", a.openevse)


class _Recorder:
    """put(section, key, value): set in the config and remember it was the simulator's doing;
    keep=True: only when the device has no value of its own."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.done = []

    def __call__(self, sec, key, value, keep=False):
        part = self.cfg.setdefault(sec, {})
        if keep and key in part:
            return
        part[key] = value
        self.done.append([sec, key, value])


def _forget_old_flags(fs, cfg):
    try:
        old = json.loads((fs / _FLAGS_FILE).read_text())
    except (OSError, ValueError):
        return
    for sec, key, value in old:
        if key is None:
            if cfg.get(sec) == value:
                del cfg[sec]
        elif isinstance(cfg.get(sec), dict) and cfg[sec].get(key) == value:
            del cfg[sec][key]  # the device did not change it since: the flag's, not the user's


def _save_flags(fs, done):
    (fs / _FLAGS_FILE).write_text(json.dumps(done))


def sim_ports(a, cfg, put=None):
    # The device's web server and set-up DNS, on the loopback network the stand-ins give it
    # (ports 80 and 53 would need root and clash with the host's own).
    put = put or _Recorder(cfg)
    put("portal", "http_port", a.http_port or 8080)
    put("portal", "dns_port", a.dns_port or 5353)


def portal_config(a, fs, cfg_path, endpoint, ca_der):
    """--portal: a device never set up (no Wi-Fi, no API key, no meter), which still pushes to
    the local fake Charge HQ once the set-up portal has saved its settings."""
    ch = {}
    if endpoint:
        ch["endpoint"] = endpoint
        if endpoint.startswith("http://"):
            ch["allow_http"] = True
    if ca_der:
        (fs / "sim_ca.der").write_bytes(ca_der)
        ch["ca_file"] = "sim_ca.der"
    cfg = {"chargehq": ch, "device": {"report_s": 10, "demo": True, "led_pin": 2},
           "console": {"enabled": bool(a.console)}}
    sim_ports(a, cfg)
    cfg_path.write_text(json.dumps(cfg, indent=1))
    print("[sim] unprovisioned: set-up portal at http://127.0.0.1:%d/ , its DNS on 127.0.0.1:%d "
          "(e.g. dig @127.0.0.1 -p %d example.com)" % (cfg["portal"]["http_port"], cfg["portal"]["dns_port"],
                                                       cfg["portal"]["dns_port"]), flush=True)
    return cfg


def default_source(kind, old):
    if old and old.get("type") == kind:
        return old
    if kind == "simulated":
        return {"type": "simulated"}
    if kind == "atm90e32":
        return {"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000",
                "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                             {"chip": 0, "phase": "C", "role": "solar"}]}
    if kind == "modbus":
        return {"type": "modbus", "uart": 1, "devices": [{"profile": "sdm630", "slave": 1}]}
    raise SystemExit("unknown --source %s" % kind)


def modbus_flags(a, src):
    """--profile / --baud / --slave shape the first Modbus device of the config."""
    if src.get("type") != "modbus":
        return
    dev = src.setdefault("devices", [{}])[0]
    if a.profile:
        dev["profile"] = a.profile
    if a.slave is not None:
        dev["slave"] = a.slave
    if a.baud:
        src["baud"] = a.baud
    path = ROOT / "firmware" / "profiles" / (str(dev.get("profile")) + ".json")
    if not path.exists():
        names = sorted(x.stem for x in path.parent.glob("*.json"))
        raise SystemExit("sim: no Modbus profile %r; the profiles are: %s" % (dev.get("profile"), ", ".join(names)))
    if not src.get("baud"):  # the peer paces replies at the line speed the device uses
        prof = json.loads(path.read_text())
        src["baud"] = prof.get("serial", {}).get("baud", 9600)


def microdot_path():
    """Microdot compiled to .mpy (as deployed): the web server imports it from there."""
    import build_microdot
    return str(build_microdot.ensure())


def _die_with_parent():
    # SIGKILL of the simulator is a power cut of the device too (Linux PR_SET_PDEATHSIG)
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


class Device:
    """One ESP32: restarts the interpreter when the firmware resets the chip.

    capture=True: what the firmware prints (stdout and stderr) is read into self.lines as
    (time.time(), text) instead of going to this terminal, for tools that drive the device
    start by start and read its log (bench.py, faults.py; see new_device)."""

    def __init__(self, a, fs, env_extra, capture=False, serial=False):
        self.a = a
        self.serial = serial  # capture: a serial line to type on (type()); else nothing to read
        self.fs = fs
        self.env_extra = env_extra
        self.capture = capture
        self.cfg = None
        self.proc = None
        self.stopping = False
        self.lines = []  # capture: (time, text) of every line printed, all starts
        self.boots = []  # (time, reset cause) of every start
        self.micropython = unix32.interpreter(a.micropython)
        self.on_stop = None  # capture: called once the device has stopped (its chip's process)
        self.image = None
        if a.mpy:  # compiled once per device, beside its filesystem
            import build
            self.image = pathlib.Path(str(fs).rstrip("/") + ".image")
            build.build(self.image, quiet=True)

    def env(self, cause):
        env = dict(os.environ)
        if self.image:  # --mpy: the board's layout (app/, lib/ with Microdot, all .mpy)
            code = [str(self.image), str(self.image / "lib")]
        else:
            code = [str(ROOT / "firmware"), str(ROOT / "lib"), microdot_path()]
        env["MICROPYPATH"] = ":".join([".frozen", str(ROOT / "host_tests" / "stubs")] + code)
        env["ESPSIM_STATE"] = str(self.fs)
        env["ESPSIM_RESET_CAUSE"] = cause
        if self.a.ticks_start is not None:
            env["ESPSIM_TICKS_START"] = str(self.a.ticks_start)
        if self.a.no_ntp:
            env["ESPSIM_NTP"] = "0"
        env.update(self.env_extra)
        return env

    def start(self, cause):
        """Power the interpreter up with this reset cause -> the time it started."""
        cmd = [self.micropython]
        if self.a.heap:
            cmd += ["-X", "heapsize=%d" % self.a.heap]
        if self.a.console:
            cmd.append("-i")  # the console's `repl` command leaves to a REPL, as on the chip
        cmd += [str(ROOT / "tools" / "espsim_boot.py"), str(self.image or ROOT / "firmware")]
        if self.capture:  # (no preexec_fn: the tools start devices from several threads)
            self.proc = subprocess.Popen(cmd, cwd=self.fs, env=self.env(cause), stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.PIPE if self.serial else subprocess.DEVNULL,
                                         text=True, errors="replace", start_new_session=True)
        else:
            # the serial line: this terminal with --console, else nothing to read (the console quits)
            self.proc = subprocess.Popen(cmd, cwd=self.fs, env=self.env(cause),
                                         stdin=None if self.a.console else subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        t0 = time.time()
        self.boots.append((t0, cause))
        if self.capture:
            threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return t0

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def type(self, text):
        """capture with serial=True: type text on the device's serial line."""
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, reset_reason=None):
        """SIGKILL: a power cut, or a chip reset when reset_reason (soft/wdt) is left behind
        (what _espsim.die leaves: run() restarts with RTC memory kept)."""
        if reset_reason:
            (self.fs / ".reset_reason").write_text(reset_reason)
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def run(self, first_cause):
        cause = first_cause
        while True:
            print("[sim] device start (%s)" % cause, flush=True)
            self.start(cause)
            rc = self.proc.wait()
            if self.stopping:
                return 0
            marker = self.fs / ".reset_reason"
            if marker.exists():
                cause = marker.read_text().strip()
                marker.unlink()
                print("[sim] chip reset (%s): restarting with RTC memory kept" % cause, flush=True)
                continue
            if rc == -signal.SIGKILL:  # only the device was killed: a power cut, then power on
                cause = "power"
                print("[sim] power cut: powering on again (RTC memory lost)", flush=True)
                continue
            print("[sim] firmware exited (code %s)" % rc, flush=True)
            return 0 if rc == 0 else 1

    def stop(self, wait_s=None):
        self.stopping = True
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C: the firmware checkpoints and stops
            if wait_s is None:
                wait_s = 2 if self.a.console else 5  # with -i it waits at the REPL
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                if self.capture:  # (in run() the main thread is waiting for it)
                    self.proc.wait()
        if self.capture and self.on_stop:
            self.on_stop()
            self.on_stop = None


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
