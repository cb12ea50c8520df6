# The settings form page (the set-up portal's "/", the LAN /settings). Loaded per request
# (app.web.portal drops it afterwards in set-up mode, to keep the heap free); app.web.setupsave handles a
# submitted form. The form's text and choices are in web/form.html (flash, not RAM); this fills
# its {{key}}s.
from micropython import const
from app.web.html import esc, page, render

_MAX_NETS = const(20)
_SCAN_TTL_MS = const(30000)


def ssid_text(raw):
    """An SSID from a scan (bytes, any content) as printable text."""
    try:
        s = raw.decode()
    except (UnicodeError, AttributeError):
        s = "".join(chr(b) if 32 <= b < 127 else "?" for b in raw)
    return "".join(c if " " <= c != "\x7f" else "?" for c in s)


def scan(wlan):
    """-> [(ssid, rssi, open)] strongest first, one row per name; [] when scanning fails."""
    if wlan is None:
        return []
    nets = {}
    try:
        if not wlan.active():
            wlan.active(True)
        for row in wlan.scan():
            name = ssid_text(row[0])
            if name and (name not in nets or nets[name][0] < row[3]):
                nets[name] = (row[3], row[4] == 0)
    except Exception:
        return []
    out = [(k, v[0], v[1]) for k, v in nets.items()]
    out.sort(key=lambda r: -r[1])
    return out[:_MAX_NETS]


def _files(folder, chosen):
    """<option>s for the JSON data files in `folder` (boards/, profiles/)."""
    import os
    try:
        names = sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        return
    for n in names:
        yield '<option value="%s"%s>%s</option>' % (esc(n), " selected" if n == chosen else "", esc(n))


def _boards():
    """(name, source, number of CT inputs) of each board file, read a line at a time: parsed
    whole, a board file (several KB as objects) was the form page's biggest allocation."""
    import os
    try:
        names = sorted(n[:-5] for n in os.listdir("boards") if n.endswith(".json"))
    except OSError:
        return
    for n in names:
        kind, count, depth = "", 0, -1  # depth: bracket depth inside "channels" (-1: not there)
        try:
            with open("boards/%s.json" % n) as fh:
                for line in fh:
                    if not kind and '"source"' in line:
                        parts = line[line.index('"source"') + 8:].split('"', 2)
                        kind = parts[1] if len(parts) > 2 else ""
                    if depth < 0 and '"channels"' in line:
                        depth = 0
                        line = line[line.index('"channels"'):]
                    if depth >= 0:
                        count += line.count('"phase"')
                        depth += line.count("[") - line.count("]")
                        if depth <= 0 and "]" in line:
                            depth = -2  # done: later lines are not channels
        except OSError:
            pass
        yield n, kind, count


_KINDS = {"atm90e32": "CT clamps", "modbus": "RS485"}


def _board_options(info, chosen):
    for n, kind, _ in info:
        yield '<option value="%s" data-src="%s"%s>%s%s</option>' % (
            esc(n), esc(kind), " selected" if n == chosen else "", esc(n),
            " (%s)" % _KINDS[kind] if kind in _KINDS else "")


def _board_css(info):
    # per board: hide the CT inputs it does not have, and boards of the other kind of meter
    for n, kind, count in info:
        if kind == "atm90e32" and count < 6:
            yield 'form:has(select[name=board]>option[value="%s"]:checked) :is(%s){display:none}\n' % (
                esc(n), ",".join(".ct%d" % i for i in range(count + 1, 7)))
    for kind, other in (("atm90e32", "modbus"), ("modbus", "atm90e32")):
        yield 'form:has(select[name=source]>option[value=%s]:checked) option[data-src=%s]{display:none}\n' % (
            kind, other)


def _tz_custom(tz):
    from app.core.tzrules import ZONES
    return bool(tz) and not any(z[1] == tz for z in ZONES)


def _tz_options(tz):
    from app.core.tzrules import ZONES
    yield '<option value=""%s>UTC (not set)</option>' % (" selected" if not tz else "")
    for name, rule in ZONES:
        yield '<option value="%s"%s>%s</option>' % (esc(rule), " selected" if rule == tz else "", esc(name))
    yield '<option value="custom"%s>Other (type it below)</option>' % (" selected" if _tz_custom(tz) else "")


def _errors(errors):
    if errors:
        yield '<div class="err"><p><b>Please fix:</b></p><ul>'
        for e in errors:
            yield "<li>%s</li>" % esc(e)
        yield "</ul></div>"


def _net_options(nets):
    for n in nets:
        yield '<option value="%s">' % esc(n[0])


def _net_table(nets):
    if nets:
        yield "<details open><summary>Networks in range</summary><table>"
        for name, rssi, is_open in nets:
            yield "<tr><td>%s</td><td>%d dBm</td><td>%s</td></tr>" % (esc(name), rssi, "open" if is_open else "secured")
        yield "</table></details>"


def fields(data):
    """The form's current values (as the browser would post them) from a config dict."""
    w = data["wifi"]
    c = data["chargehq"]
    d = data["device"]
    src = data.get("source") or {}
    kind = src.get("type", "")  # a new device: nothing chosen (never the demo by default)
    dev = (src.get("devices") or [{}])[0] if kind == "modbus" else {}
    if not isinstance(dev, dict):
        dev = {}
    f = {"ssid": w["ssid"], "push_interval_s": c["push_interval_s"], "source": kind, "board": d["board"],
         "line_hz": src.get("line_hz", ""), "mains_v": src.get("mains_v", ""), "profile": dev.get("profile", ""),
         "slave": dev.get("slave", ""), "baud": src.get("baud", ""), "tz": d.get("timezone", "")}
    if kind == "atm90e32":
        for i, role in enumerate(ct_roles(src, d["board"])):
            f["ct%d" % (i + 1)] = role
    m = data.get("mqtt") or {}  # the outputs (app.web.setupoutputs reads them back); no secrets
    f["chargehq_on"] = "1" if c.get("enabled", True) else "0"
    f["mqtt_host"], f["mqtt_port"], f["mqtt_user"] = m.get("host", ""), m.get("port", 1883), m.get("user", "")
    f["openevse_url"] = (data.get("openevse") or {}).get("url", "")
    return f


def lookup(data, saved, errors, nets, action, setup):
    """-> the function that fills web/form.html's {{key}}s from `data` (a config dict). Secrets
    are never put in the page: their fields stay empty, and a hint says whether one is set."""
    f = fields(data)
    c = saved["chargehq"]  # the secrets' hints say what is stored, not what was just typed
    admin = saved["device"]["admin_password"]

    seen = []

    def boards():  # the board files are read once per page (options and CSS use them)
        if not seen:
            seen.append(list(_boards()))
        return seen[0]

    def value(key):
        if key.startswith("sel:"):  # sel:FIELD:VALUE -> " selected" when the field has that value
            _, name, v = key.split(":", 2)
            return " selected" if str(f.get(name, "")) == v else ""
        if key.startswith("files:"):  # files:FOLDER:FIELD -> one <option> per data file
            _, folder, name = key.split(":", 2)
            return _files(folder, f.get(name))
        if key in f:
            return esc(f[key])
        if key == "errors":
            return _errors(errors)
        if key == "action":
            return esc(action)
        if key == "net_options":
            return _net_options(nets)
        if key == "net_table":
            return _net_table(nets)
        if key == "password_hint":
            return "unchanged if left empty (same network)" if saved["wifi"]["password"] else ""
        if key == "key_hint":
            return "set: leave empty to keep it" if c["api_key"] else ""
        if key == "key_required":
            return ""  # not with Charge HQ off: app.web.setupsave checks it
        if key == "mqtt_password_hint":
            m = saved.get("mqtt") or {}
            return "set: leave empty to keep it" if m.get("password") else ""
        if key == "admin_hint":
            return "set: leave empty to keep it" if admin else "at least 8 characters"
        if key == "admin_required":
            return "" if admin else " required"
        if key == "demo_option":  # the simulated site only where asked for (device.demo, the simulator)
            if data["device"].get("demo") or f["source"] == "simulated":
                return '<option value="simulated"%s>Simulated site (demo, made-up data)</option>' % (
                    " selected" if f["source"] == "simulated" else "")
            return ""
        if key == "board_options":
            return _board_options(boards(), f["board"])
        if key == "board_css":
            return _board_css(boards())
        if key == "tz_options":
            return _tz_options(f["tz"])
        if key == "tz_custom":
            return esc(f["tz"]) if _tz_custom(f["tz"]) else ""
        if key == "button":
            return "Save and connect" if setup else "Save and restart"
        return ""
    return value


def ct_roles(src, board_name):
    """The configured role of each of the board's CT inputs, in board order."""
    from app.web.setupsources import board_channels, same_input
    out = []
    for bc in board_channels(board_name) or ():
        role = ""
        for c in src.get("channels") or ():
            if same_input(c, bc) and c.get("role") != "ignored":
                role = c.get("role") or ""
        out.append(role)
    return out


# --- the pages ------------------------------------------------------------------------------------
def nets(web):
    """The scan list; a scan blocks the radio ~2 s on an ESP32, so it is reused for a while."""
    import time
    st = web.state
    now = time.ticks_ms()
    if st["nets"] is None or time.ticks_diff(now, st["scanned"]) > _SCAN_TTL_MS:
        st["nets"] = scan(web.wlan)
        st["scanned"] = now
    return st["nets"]


def form_page(web, errors=None, data=None, status=200):
    cfg = web.cfg
    if web.setup:
        intro = ('<p>Connect this meter to your Wi-Fi and to Charge HQ (or <a href="/restore">restore a '
                 'backup</a> of another meter\'s settings).</p>')
        if cfg.problem and not errors:
            intro += "<p>Needed: %s.</p>" % esc(cfg.problem)
    else:
        intro = '<p><a href="/">Back to status</a> &middot; <a href="/update">Update the app</a></p>'
    form = render("form", lookup(data or cfg.data, cfg.data, errors, nets(web),
                                 "/save" if web.setup else "/settings", web.setup))
    return page("Set up your meter" if web.setup else "Settings", _chain(intro, form), status)


def _chain(first, rest):
    yield first
    for part in rest:
        yield part
