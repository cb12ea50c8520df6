# The "source" settings for CT clamps (type "atm90e32"), checked without loading the driver:
# config validation (boot, set-up portal, console `set`) imports only this small module.
from micropython import const

ROLES = ("grid", "solar", "battery", "ignored")
CAL_KEYS = (("igain", 0, 65535), ("ugain", 0, 65535), ("ioffset", -32768, 65535),
            ("uoffset", -32768, 65535), ("poffset", -32768, 65535), ("qoffset", -32768, 65535))
MAX_CHIPS = const(14)
_ROLES = ROLES
_CAL_KEYS = CAL_KEYS
_MAX_CHIPS = MAX_CHIPS


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_config(src, err, deep=True):  # deep: see modbus_check
    """Validate the "source" section for type "atm90e32"; err(key, why) records a problem."""
    hz = src.get("line_hz")
    if hz is not None and hz not in (50, 60):
        err("source.line_hz", "must be 50 or 60")
    if "ct_model" in src and not isinstance(src["ct_model"], str):
        err("source.ct_model", "must be text")
    for key, lo, hi in (("addons", 0, 6), ("ugain", 0, 65535), ("mains_v", 100, 250)):
        v = src.get(key)
        if v is not None and (not _is_int(v) or not lo <= v <= hi):
            err("source." + key, "must be a whole number %d..%d" % (lo, hi))
    chans = src.get("channels")
    if not isinstance(chans, list) or not chans:
        err("source.channels", "must be a list of CT channels ({\"chip\", \"phase\", \"role\"})")
        return
    seen = []
    used = 0
    for i, ch in enumerate(chans):
        k = "source.channels[%d]" % i
        if not isinstance(ch, dict):
            err(k, "must be an object")
            continue
        chip = ch.get("chip", 0)
        if not _is_int(chip) or not 0 <= chip < _MAX_CHIPS:
            err(k + ".chip", "must be a whole number 0..%d" % (_MAX_CHIPS - 1))
        ph = ch.get("phase")
        if ph not in ("A", "B", "C"):
            err(k + ".phase", "must be \"A\", \"B\" or \"C\"")
        role = ch.get("role")
        if role not in _ROLES:
            err(k + ".role", "must be one of " + ", ".join(_ROLES))
        elif role != "ignored":
            used += 1
        if "invert" in ch and not isinstance(ch["invert"], bool):
            err(k + ".invert", "must be true or false")
        m = ch.get("multiplier", 1)
        if not _is_int(m) or not 1 <= m <= 100:
            err(k + ".multiplier", "must be a whole number 1..100")
        if "pga" in ch and ch["pga"] not in (1, 2, 4):
            err(k + ".pga", "must be 1, 2 or 4")
        if "ct_model" in ch and not isinstance(ch["ct_model"], str):
            err(k + ".ct_model", "must be text")
        for key, lo, hi in _CAL_KEYS:
            v = ch.get(key)
            if v is not None and (not _is_int(v) or not lo <= v <= hi):
                err(k + "." + key, "must be a whole number %d..%d" % (lo, hi))
        where = (chip, ph)
        if where in seen:
            err(k, "chip %s phase %s is listed twice" % (chip, ph))
        seen.append(where)
    if not used:
        err("source.channels", "no channel has a role (grid, solar or battery)")
