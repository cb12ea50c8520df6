# The device's settings: one JSON file, validated on load, saved atomically.
#
# load() never raises: a missing or corrupt file gives the "needs set-up" state, a bad value
# gets a message naming the key and the reason, and that key falls back to its default.
import json
import os
from micropython import const

PATH = "config.json"
DEFAULT_ENDPOINT = "https://api.chargehq.net/api/public/push-solar-data"
MIN_PUSH_S = const(30)  # Charge HQ: never more often than once per 30 s
# Every setting that is a secret, by key name in any section (an output's "password" too): never
# shown on a page, masked in the log and on the console, scrubbed from text a server sends back.
# A new secret setting needs only its name here.
SECRET_KEYS = ("api_key", "password", "admin_password", "ap_password", "token")

# (section, key, kind, default, low, high); kind: "s" string, "i" integer, "b" bool
_SCHEMA = (
    ("wifi", "ssid", "s", "", 0, 32),
    ("wifi", "password", "s", "", 0, 64),
    ("wifi", "hostname", "s", "chargehq-meter", 1, 32),
    ("chargehq", "enabled", "b", True, 0, 0),      # the Charge HQ push (off: the other outputs only)
    ("chargehq", "api_key", "s", "", 0, 128),
    ("chargehq", "endpoint", "s", DEFAULT_ENDPOINT, 8, 256),
    ("chargehq", "push_interval_s", "i", 60, MIN_PUSH_S, 3600),
    ("chargehq", "ca_file", "s", "ca/roots.der", 1, 64),
    ("chargehq", "timeout_s", "i", 20, 5, 60),
    ("chargehq", "allow_http", "b", False, 0, 0),  # an http:// endpoint (the key in clear): refused unless true
    ("device", "board", "s", "", 0, 40),
    ("device", "sample_interval_ms", "i", 1000, 200, 10000),
    ("device", "watchdog_s", "i", 60, 0, 600),
    ("device", "admin_password", "s", "", 0, 64),
    ("device", "report_s", "i", 0, 0, 3600),
    ("device", "timezone", "s", "", 0, 64),  # POSIX TZ with DST rules (app.core.localtime); "" = UTC
    ("device", "demo", "b", False, 0, 0),    # the set-up form offers the simulated (demo) site
    ("device", "status_led", "b", True, 0, 0),  # the status LED (app.system.led) on
    ("device", "led_pin", "i", -1, -1, 48),     # its GPIO; -1: the board file's status_led
    ("device", "led_active_low", "b", False, 0, 0),
    ("validation", "tolerance_w", "i", 100, 0, 100000),
    ("validation", "tolerance_pct", "i", 5, 0, 100),
    ("validation", "max_site_kw", "i", 100, 1, 10000),
    # -- energy store (section "energy") --
    ("energy", "checkpoint_s", "i", 300, 60, 3600),  # flash checkpoint at most this often
    # -- set-up portal and status page (section "portal") --
    ("portal", "ap_name", "s", "ChargeHQ-Meter", 1, 24),  # set-up network: this + "-" + 6 hex of the chip id
    ("portal", "ap_password", "s", "", 0, 63),     # its WPA2 password (8..63); empty: the device's own (console)
    ("portal", "open_setup_s", "i", 1800, 0, 7200),  # first set-up: no password this long after start
    ("portal", "ap_after_s", "i", 600, 30, 86400),  # home network away this long: set-up network opens
    ("portal", "ap_after_new_s", "i", 60, 0, 86400),  # ... sooner when the network never worked here
    ("portal", "idle_close_s", "i", 600, 30, 86400),  # the set-up network closes when unused this long
    ("portal", "http_port", "i", 80, 1, 65535),    # the web server (set-up portal, status page)
    ("portal", "dns_port", "i", 53, 1, 65535),     # the set-up DNS catch-all
    ("portal", "status_page", "b", True, 0, 0),    # status page + /api/status on the LAN (Microdot: RAM)
    # -- outputs beside Charge HQ: on when their host / url is set (app.outputs); TLS to the
    #    broker is verified against chargehq.ca_file, the device's one CA bundle --
    ("mqtt", "host", "s", "", 0, 64),              # broker host name or IP; empty: no MQTT
    ("mqtt", "port", "i", 1883, 1, 65535),
    ("mqtt", "user", "s", "", 0, 64),
    ("mqtt", "password", "s", "", 0, 64),
    ("mqtt", "tls", "b", False, 0, 0),             # TLS (port 8883 usually), verified: chargehq.ca_file
    ("mqtt", "topic_prefix", "s", "chargehq-meter", 1, 48),  # state on <prefix>/<device id>/state
    ("mqtt", "discovery", "b", True, 0, 0),        # Home Assistant MQTT discovery
    ("mqtt", "discovery_prefix", "s", "homeassistant", 1, 48),
    ("mqtt", "interval_s", "i", 10, 1, 3600),
    ("mqtt", "keepalive_s", "i", 60, 10, 3600),    # the broker says "offline" 1.5 x this after a loss
    ("openevse", "url", "s", "", 0, 128),          # e.g. http://openevse.local (POST /status)
    ("openevse", "interval_s", "i", 10, 5, 3600),
    # -- serial console (section "console") --
    ("console", "enabled", "b", True, 0, 0),   # the service console on the USB serial line
    ("console", "echo", "b", True, 0, 0),      # echo typed characters (off if the terminal echoes)
)


class Config:
    def __init__(self):
        self.data = defaults()
        self.errors = []      # ["chargehq.push_interval_s: must be at least 30 (got 10)", ...]
        self.problem = None   # why set-up is needed, or None when the device can run
        self.warnings = []    # what the owner must know (console at boot, status page)

    @property
    def needs_setup(self):
        return self.problem is not None

    def get(self, section, key):
        return self.data[section][key]

    def section(self, name):
        return self.data[name]


def field(section, key):
    """-> (kind, low, high) of a setting, or None when there is no such setting."""
    for sec, k, kind, _default, lo, hi in _SCHEMA:
        if sec == section and k == key:
            return kind, lo, hi
    return None


def defaults():
    d = {"source": {}}  # no meter until one is chosen (never made-up data by default)
    for sec, key, _kind, default, _lo, _hi in _SCHEMA:
        d.setdefault(sec, {})[key] = default
    return d


def _check_value(kind, v, lo, hi):
    """-> reason string, or None when v is good."""
    if kind == "s":
        if not isinstance(v, str):
            return "must be text"
        if not lo <= len(v) <= hi:
            return "length must be %d..%d (got %d)" % (lo, hi, len(v))
    elif kind == "i":
        if isinstance(v, bool) or not isinstance(v, int):
            return "must be a whole number"
        if v < lo:
            return "must be at least %d (got %d)" % (lo, v)
        if v > hi:
            return "must be at most %d (got %d)" % (hi, v)
    elif kind == "b" and not isinstance(v, bool):
        return "must be true or false"
    return None


def validate(raw, cfg=None, deep=True):
    """Merge `raw` (parsed JSON) over the defaults into a Config, collecting errors. deep=False
    (the set-up portal): the source's check skips what needs large modules (Modbus profiles are
    only looked up, not compiled); loading the saved file at the restart checks everything."""
    cfg = cfg or Config()
    if not isinstance(raw, dict):
        cfg.problem = "config is not a JSON object"
        return cfg
    known = {}
    for sec, key, kind, default, lo, hi in _SCHEMA:
        known.setdefault(sec, set()).add(key)
        part = raw.get(sec)
        if part is None:
            continue
        if not isinstance(part, dict):
            cfg.errors.append("%s: must be an object" % sec)
            continue
        if key not in part:
            continue
        v = part[key]
        why = _check_value(kind, v, lo, hi)
        if why:
            cfg.errors.append("%s.%s: %s" % (sec, key, why))
        else:
            cfg.data[sec][key] = v
    for sec, part in raw.items():
        if sec == "source":
            continue
        if sec not in known:
            cfg.errors.append("%s: unknown section (ignored)" % sec)
        elif isinstance(part, dict):
            for key in part:
                if key not in known[sec]:
                    cfg.errors.append("%s.%s: unknown key (ignored)" % (sec, key))
    ch = cfg.data["chargehq"]
    ep = ch["endpoint"]
    if ep.startswith("http://") and not ch["allow_http"]:
        cfg.errors.append("chargehq.endpoint: http:// would send the API key unencrypted: refused (set "
                          "chargehq.allow_http to true to allow it anyway)")
        ch["endpoint"] = DEFAULT_ENDPOINT
    elif not ep.startswith("https://") and not ep.startswith("http://"):
        cfg.errors.append("chargehq.endpoint: must start with https://")
        ch["endpoint"] = DEFAULT_ENDPOINT
    elif ep.startswith("http://"):
        cfg.warnings.append("the Charge HQ endpoint is http://: the API key is sent unencrypted "
                            "(chargehq.allow_http is on)")
    tz = cfg.data["device"]["timezone"]
    if tz:
        from app.core.localtime import check
        why = check(tz)
        if why:
            cfg.errors.append("device.timezone: " + why)
            cfg.data["device"]["timezone"] = ""
    _validate_source(raw.get("source"), cfg, deep)
    _check_outputs(cfg)
    if cfg.problem is None and not cfg.data["wifi"]["ssid"]:
        cfg.problem = "no Wi-Fi network"
    return cfg


def outputs(data):
    """-> the names of the outputs that run: "chargehq", "mqtt", "openevse"."""
    out = []
    ch = data["chargehq"]
    if ch["enabled"] and ch["api_key"]:
        out.append("chargehq")
    if data["mqtt"]["host"]:
        out.append("mqtt")
    if data["openevse"]["url"]:
        out.append("openevse")
    return out


def _check_outputs(cfg):
    # At least one output. Charge HQ without a key is set-up work only when it is the one output
    # (as before); beside MQTT or OpenEVSE it is switched off with a message.
    d = cfg.data
    url = d["openevse"]["url"]
    if url and not url.startswith("http://"):
        cfg.errors.append("openevse.url: must start with http://")
        d["openevse"]["url"] = ""
    on = outputs(d)
    ch = d["chargehq"]
    if ch["enabled"] and not ch["api_key"]:
        if on:
            cfg.errors.append("chargehq.api_key: empty: Charge HQ off")
            ch["enabled"] = False
        elif cfg.problem is None:
            cfg.problem = "no Charge HQ API key"
    elif not on and cfg.problem is None:
        cfg.problem = "no output (Charge HQ, mqtt.host, openevse.url)"


def _validate_source(src, cfg, deep):
    if src is None:
        cfg.problem = "no meter (source) chosen"
        return
    if not isinstance(src, dict) or not isinstance(src.get("type"), str):
        cfg.errors.append("source: must be an object with a \"type\"")
        cfg.problem = "source is invalid"
        return
    kind = src["type"]
    mod = _SOURCE_MODULES.get(kind)
    if mod is None:
        cfg.errors.append("source.type: unknown source %r (one of %s)" % (
            kind, ", ".join(sorted(_SOURCE_MODULES))))
        cfg.problem = "source is invalid"
        return
    before = len(cfg.errors)

    def err(key, why):
        cfg.errors.append("%s: %s" % (key, why))

    try:
        m = __import__("app.sources." + mod, None, None, ("check_config",))
        check = getattr(m, "check_config", None)
        if check:
            check(src, err, deep)
    except ImportError as e:
        err("source.type", "not available in this build (%s)" % e)
    if len(cfg.errors) > before:
        cfg.problem = "source settings are invalid"
    cfg.data["source"] = src


# the module holding each source type's check_config (small: not the driver itself)
_SOURCE_MODULES = {"simulated": "simulated", "atm90e32": "ct_check", "modbus": "modbus_check"}


MAX_BYTES = const(16384)  # a config with several Modbus devices is ~2 KB: larger is not a config


def load(path=PATH, log=None):
    """-> Config (never raises). A file that cannot be used (too large, not UTF-8, not JSON,
    nested too deep) is kept as <path>.bad and the device starts in set-up mode."""
    from app.core.statefile import read_json, unload
    cfg = Config()
    raw = why = None
    for name in (path, path + ".tmp"):  # .tmp: a power cut between the two steps of save()
        raw, why = read_json(name, MAX_BYTES, log)
        if raw is not None or why is not None:
            break
    unload()
    if why is not None:
        cfg.problem = "config file cannot be used (%s)%s" % (
            why, "" if why.startswith("too large for the free") else ": kept as %s.bad" % name)
        return cfg
    if raw is None:
        cfg.problem = "no config file (%s)" % path
        return cfg
    return validate(raw, cfg)


def save(data, path=PATH):
    """Write atomically: a power cut leaves either the old or the new file, never half."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    try:
        os.rename(tmp, path)  # atomic on LittleFS (the ESP32 default) and POSIX
    except OSError:
        # FAT cannot rename over a file: remove first; load() then finds the .tmp if a
        # power cut falls between the two steps
        os.remove(path)
        os.rename(tmp, path)


def masked(data):
    """A copy for display: secrets masked."""
    out = {}
    for sec, part in data.items():
        if isinstance(part, dict):
            part = dict(part)
            for k in SECRET_KEYS:
                if k in part:
                    part[k] = mask(part[k])
        out[sec] = part
    return out


def secret_values(data):
    """Every secret set in a config dict (SECRET_KEYS, one level of sections deep)."""
    out = []
    for part in data.values():
        if isinstance(part, dict):
            for k in SECRET_KEYS:
                v = part.get(k)
                if isinstance(v, str) and v:
                    out.append(v)
    return out


def mask(secret):
    """A secret as shown anywhere (console, log, pages): never any of its characters."""
    return "(set, hidden)" if secret else "(not set)"
