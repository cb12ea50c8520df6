# The meter part of a submitted settings form: CT inputs of the chosen board, or the Modbus
# device. Loaded only when the form chose one of these sources (app.web.setupsave does the rest).
from micropython import const

ROLES = ("", "grid", "solar", "battery")  # "" = not used (web/form.html offers these)
CT_INPUTS = const(6)


def board_channels(board_name):
    """The board's CT inputs [{"chip", "phase", ...}], or None when the board cannot be read."""
    if not board_name:
        return None
    from app.core import boards
    try:
        b = boards.load(board_name)
    except ValueError:
        return None
    ch = b.get("channels") if isinstance(b, dict) else None
    return ch if isinstance(ch, list) else None


def same_input(a, b):
    return isinstance(a, dict) and isinstance(b, dict) and a.get("chip", 0) == b.get("chip", 0) \
        and a.get("phase") == b.get("phase")


def ct_source(form, old, board_name, errors):
    out = []
    src = {"type": "atm90e32", "channels": out}
    hz = form.get("line_hz") or ""
    if hz in ("50", "60"):  # else the board profile's
        src["line_hz"] = int(hz)
    volts = form.get("mains_v") or ""
    if volts in ("120", "230", "240"):  # the AC adapter's rating; else the board's default
        src["mains_v"] = int(volts)
    chans = board_channels(board_name)
    if chans is None:
        errors.append("CT clamps: choose the board the CTs are plugged into")
        return src
    for i in range(CT_INPUTS):
        role = form.get("ct%d" % (i + 1)) or ""
        if not role:
            continue
        if role not in ROLES:
            errors.append("CT%d: unknown role" % (i + 1))
        elif i >= len(chans) or not isinstance(chans[i], dict):
            errors.append("CT%d: board %s has only %d CT inputs" % (i + 1, board_name, len(chans)))
        else:
            ch = {"chip": chans[i].get("chip", 0), "phase": chans[i].get("phase"), "role": role}
            for oc in old.get("channels") or ():  # keep this input's invert, multiplier, calibration
                if same_input(oc, ch):
                    for k, v in oc.items():
                        ch.setdefault(k, v)
            out.append(ch)
    if not out:
        errors.append("CT clamps: give at least one CT a role (grid, solar or battery)")
    return src


def modbus_source(form, old, errors):
    from app.web.formdata import whole
    src = {"type": "modbus"}
    # empty baud rate or slave id: the device profile's own (its factory setting)
    if form.get("baud"):
        baud = whole(form, "baud", errors, "Modbus baud rate")
        if baud is not None:
            src["baud"] = baud
    dev = {"profile": form.get("profile") or ""}
    if not dev["profile"]:
        errors.append("Modbus: choose the device profile")
    if (form.get("slave") or "").strip():
        slave = whole(form, "slave", errors, "Modbus slave id")
        if slave is not None:
            dev["slave"] = slave
    devs = [x for x in (old.get("devices") or []) if isinstance(x, dict)]
    if devs:  # the form edits the first device; others (a second meter) stay as they are
        for k, v in devs[0].items():
            if k not in ("profile", "slave"):  # the form's own: empty slave = the profile's
                dev.setdefault(k, v)
    src["devices"] = [dev] + devs[1:]
    return src
