"""The simulated device's config as tools/sim.py's flags ask for it: the device filesystem laid
out (boards, CA roots, Modbus profiles, web pages), config.json written from the flags (the
source, Modbus, outputs, the loopback ports of the web server and set-up DNS), and what the last
run's flags put there taken out again, so that settings the device saved itself survive."""
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIM_KEY = "sim-0123456789abcdef-KEY9"  # what the simulated device sends (never printed)
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
