# The "source" settings for Modbus (type "modbus"), checked without loading the source:
# config validation (boot, console `set`) imports only this and the profile reader (each
# device's profile is compiled with its options). The set-up portal checks shallow (deep=False):
# the profile file must exist, and the full check runs when the saved settings are loaded at the
# restart (a bad profile then shows in the portal again): the profile compiler would not fit in
# the portal's heap next to Microdot.
from micropython import const
from app.sources.profile_file import PROFILE_DIR, profile_problem

ROLES = ("grid", "site", "solar")
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITY = {"N": None, "E": 0, "O": 1}
MAX_DEVICES = const(8)
_ROLES, _BAUDS, _PARITY, _MAX_DEVICES = ROLES, BAUDS, PARITY, MAX_DEVICES


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_config(src, err, deep=True):
    for key, lo, hi in (("uart", 0, 2), ("tx", 0, 48), ("rx", 0, 48), ("de_pin", 0, 48),
                        ("timeout_ms", 50, 30000)):
        v = src.get(key)
        if v is not None and (not _is_int(v) or not lo <= v <= hi):
            err("source." + key, "must be a whole number %d..%d%s" % (
                lo, hi, " or null" if key == "de_pin" else ""))
    if "baud" in src and src["baud"] not in _BAUDS:
        err("source.baud", "must be one of %s" % ", ".join(str(b) for b in _BAUDS))
    if "parity" in src and src["parity"] not in _PARITY:
        err("source.parity", "must be \"N\", \"E\" or \"O\"")
    if "stop" in src and src["stop"] not in (1, 2):
        err("source.stop", "must be 1 or 2")
    if "port" in src and not isinstance(src["port"], str):
        err("source.port", "must be a device path (Linux only)")
    devs = src.get("devices")
    if not isinstance(devs, list) or not 1 <= len(devs) <= _MAX_DEVICES:
        err("source.devices", "must be a list of 1..%d devices" % _MAX_DEVICES)
        return
    seen = []
    for i, d in enumerate(devs):
        k = "source.devices[%d]" % i
        if not isinstance(d, dict):
            err(k, "must be an object")
            continue
        _check_profile(d, k, err, deep)
        slave = d.get("slave", 1)
        if not _is_int(slave) or not 0 <= slave <= 247:
            err(k + ".slave", "must be a whole number 0..247")
        elif slave in seen:
            err(k + ".slave", "id %d is used by another device on this bus" % slave)
        else:
            seen.append(slave)
        if d.get("role", "grid") not in _ROLES:
            err(k + ".role", "must be one of %s" % ", ".join(_ROLES))
        for key, lo, hi in (("timeout_ms", 50, 30000), ("battery_wh", 100, 10000000)):
            v = d.get(key)
            if v is not None and (not _is_int(v) or not lo <= v <= hi):
                err("%s.%s" % (k, key), "must be a whole number %d..%d" % (lo, hi))
        if "optional" in d and not isinstance(d["optional"], bool):
            err(k + ".optional", "must be true or false")
        if "options" in d and not isinstance(d["options"], dict):
            err(k + ".options", "must be an object")


def _check_profile(d, k, err, deep):
    name = d.get("profile")
    if not deep:
        why = profile_problem(name)
        if why:
            err(k + ".profile", why)
        return
    from app.sources import modbus_profile as mp
    try:
        mp.Profile(name, mp.load(name, PROFILE_DIR), _opts(d))
    except mp.ProfileError as e:
        err(k + ".profile", str(e))
    except (ValueError, KeyError, TypeError, AttributeError) as e:  # a malformed file
        err(k + ".profile", "profile %s is malformed (%s: %s)" % (name, type(e).__name__, e))


def _opts(d):
    o = d.get("options")
    return o if isinstance(o, dict) else {}
