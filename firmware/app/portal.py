# The device's web server (Microdot): the set-up portal and, once provisioned, the settings page.
#
# Entry point: `await serve(cfg, log, app=None, host, port, wlan)`.
#   app None  -> set-up mode (captive portal on the access point): every page is the set-up form,
#                the OS connectivity probes and unknown paths redirect to http://<portal ip>/.
#   app given -> running mode (LAN): the status page and /api/status (app.statuspage), settings
#                behind the admin password (HTTP basic auth).
# Microdot is imported only here, and only in portal/status mode: deployed as .mpy (see
# tools/build_microdot.py), since compiling it from source does not fit a 64 KB heap.
import asyncio
import gc
from micropython import const
from microdot import Microdot, Request, Response
from app import config

MAX_BODY = const(4096)      # a set-up form is < 1 KB: anything above gets 413
_CONN_TIMEOUT_S = const(15)  # a client that sends nothing must not hold a socket forever
_MAX_CONNS = const(4)        # phones open many connections at once; lwIP has few sockets
_RESTART_DELAY_MS = const(3000)
_CHUNK = const(1024)

Request.max_content_length = MAX_BODY
Request.max_body_length = MAX_BODY
Request.max_readline = 1024

# What phones, laptops and browsers fetch to detect a captive portal (all redirected).
PROBES = ("/generate_204", "/gen_204",                      # Android, Chrome
          "/hotspot-detect.html", "/library/test/success.html",  # Apple
          "/connecttest.txt", "/ncsi.txt", "/redirect",     # Windows
          "/success.txt", "/canonical.html",                # Firefox
          "/check_network_status.txt")                      # GNOME (NetworkManager)

SOURCES = (("simulated", "Simulated meter (demo)"), ("atm90e32", "CT clamps (ATM90E32 board)"),
           ("modbus", "Modbus RTU (inverter or meter on RS485)"))
ROLES = ("", "grid", "solar", "battery")  # "" = not used
CT_CHANNELS = const(6)
BAUDS = (2400, 4800, 9600, 19200, 38400, 57600, 115200)

_HEAD = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
         '<meta name="viewport" content="width=device-width,initial-scale=1">%s<title>%s</title>'
         '<style>body{font-family:sans-serif;max-width:36em;margin:auto;padding:0 1em}'
         'label{display:block;margin-top:.7em}input,select{width:100%%;padding:.4em;box-sizing:border-box}'
         'input[type=checkbox]{width:auto}.err{color:#b00}.ok{color:#070}table{border-collapse:collapse}'
         'td,th{padding:.2em .6em;text-align:left;border-bottom:1px solid #ddd}'
         'button{margin:1em 0;padding:.6em 2em}</style></head><body><h1>%s</h1>')
_TAIL = "</body></html>"
# No scripts at all: even an escaping slip cannot run JavaScript.
HTML_HEADERS = {"Content-Type": "text/html; charset=UTF-8", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                "X-Frame-Options": "DENY"}


def esc(s):
    """Text for HTML (element content and quoted attributes)."""
    if s is None:
        return ""
    s = str(s)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        if a in s:
            s = s.replace(a, b)
    return s


def ssid_text(raw):
    """An SSID from a scan (bytes, any content) as printable text."""
    try:
        s = raw.decode()
    except (UnicodeError, AttributeError):
        s = "".join(chr(b) if 32 <= b < 127 else "?" for b in raw)
    return "".join(c if c >= " " and c != "\x7f" else "?" for c in s)


def page(title, body, status=200, refresh=None):
    """An HTML page; `body` is a string or an iterable of strings (sent as they come, so a page
    never has to fit in RAM as a whole)."""
    head = '<meta http-equiv="refresh" content="%d">' % refresh if refresh else ""
    return Response(_stream(_HEAD % (head, esc(title), esc(title)), body), status, HTML_HEADERS)


def _stream(first, body):
    buf = [first]
    n = len(first)
    for part in ((body,) if isinstance(body, str) else body):
        buf.append(part)
        n += len(part)
        if n >= _CHUNK:  # one TCP write per ~1 KB, not per fragment
            yield "".join(buf)
            buf = []
            n = 0
    buf.append(_TAIL)
    yield "".join(buf)


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
    return out[:20]


# --- the settings form ------------------------------------------------------------------------
def _opt(value, label, chosen):
    return '<option value="%s"%s>%s</option>' % (esc(value), " selected" if str(value) == str(chosen) else "",
                                                 esc(label))


def _files(folder):
    """Names of the JSON data files in `folder` (boards/, profiles/), without .json."""
    import os
    try:
        return sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        return []


def form_parts(data, errors, nets, action, setup):
    """The settings form filled from `data` (config dict), in pieces; secrets are never written into it."""
    w = data["wifi"]
    c = data["chargehq"]
    d = data["device"]
    src = data.get("source") or {}
    kind = src.get("type", "simulated")
    if errors:
        yield ('<div class="err"><p><b>Please fix:</b></p><ul>')
        for e in errors:
            yield ("<li>%s</li>" % esc(e))
        yield ("</ul></div>")
    yield ('<form method="post" action="%s">' % esc(action))
    yield ("<h2>Wi-Fi</h2><label>Network name (SSID)<input name=\"ssid\" list=\"nets\" maxlength=\"32\" "
      "required value=\"%s\"></label><datalist id=\"nets\">" % esc(w["ssid"]))
    for name, _rssi, _open in nets:
        yield (_opt(name, name, None))
    yield ("</datalist>")
    if nets:
        yield ("<details open><summary>Networks in range</summary><table>")
        for name, rssi, is_open in nets:
            yield ("<tr><td>%s</td><td>%d dBm</td><td>%s</td></tr>" % (esc(name), rssi, "open" if is_open else "secured"))
        yield ("</table></details>")
    yield ('<label>Wi-Fi password<input type="password" name="password" maxlength="64" autocomplete="off" '
      'placeholder="%s"></label>' % ("unchanged if left empty (same network)" if w["password"] else ""))
    yield ('<h2>Charge HQ</h2><label>API key<input type="password" name="api_key" maxlength="128" '
      'autocomplete="off" placeholder="%s"%s></label>' % (
          "set: leave empty to keep it" if c["api_key"] else
          "from the Charge HQ app: My Equipment, Solar, Push API", "" if c["api_key"] else " required"))
    yield ('<label>Push interval (seconds, at least 30)<input type="number" name="push_interval_s" min="30" '
      'max="3600" value="%d"></label>' % c["push_interval_s"])
    yield ("<h2>Meter</h2><label>Source<select name=\"source\">")
    for value, label in SOURCES:
        yield _opt(value, label, kind)
    yield "</select></label><label>Board<select name=\"board\">"
    yield _opt("", "(none)", d["board"])
    for name in _files("boards"):
        yield _opt(name, name, d["board"])
    yield "</select></label><fieldset><legend>CT clamps: role of each CT input of the board</legend>"
    roles = ct_roles(src, d["board"]) if kind == "atm90e32" else ()
    for ch in range(CT_CHANNELS):
        yield '<label>CT%d<select name="ct%d">' % (ch + 1, ch + 1)
        for r in ROLES:
            yield _opt(r, r or "(not used)", roles[ch] if ch < len(roles) else "")
        yield "</select></label>"
    yield '<label>Mains frequency<select name="line_hz">'
    for hz in (50, 60):
        yield _opt(hz, "%d Hz" % hz, src.get("line_hz", 50))
    yield "</select></label></fieldset><fieldset><legend>Modbus (RS485)</legend><label>Device profile" \
          "<select name=\"profile\">"
    dev = (src.get("devices") or [{}])[0] if kind == "modbus" else {}
    yield _opt("", "(choose)", dev.get("profile", ""))
    for name in _files("profiles"):
        yield _opt(name, name, dev.get("profile", ""))
    yield '</select></label><label>Slave id<input type="number" name="slave" min="1" max="247" ' \
          'value="%s"></label><label>Baud rate<select name="baud">' % esc(dev.get("slave", 1))
    for b in BAUDS:
        yield _opt(b, b, src.get("baud", 9600))
    yield "</select></label></fieldset>"
    yield ('<h2>Device</h2><label>Admin password (protects these settings on your network)'
      '<input type="password" name="admin_password" maxlength="64" autocomplete="new-password" '
      'placeholder="%s"%s></label>' % (
          "set: leave empty to keep it" if d["admin_password"] else "at least 8 characters",
          "" if d["admin_password"] else " required"))
    yield ('<button type="submit">%s</button></form>' % ("Save and connect" if setup else "Save and restart"))


def _int(form, key, errors, what):
    v = (form.get(key) or "").strip()
    try:
        return int(v)
    except ValueError:
        errors.append("%s: must be a whole number (got %r)" % (what, v[:20]))
        return None


def apply_form(current, form):
    """Merge a submitted form over the current config dict.
    -> (new config dict, [error texts]); the dict is only good when there are no errors."""
    import json
    data = json.loads(json.dumps(current))  # a deep copy, and only JSON in it
    errors = []
    w = data["wifi"]
    c = data["chargehq"]
    d = data["device"]
    ssid = (form.get("ssid") or "").strip()
    if not ssid:
        errors.append("Wi-Fi network: choose one from the list or type its name")
    pw = form.get("password") or ""
    if pw or ssid != w["ssid"]:  # empty keeps the password only for the same network
        w["password"] = pw
    w["ssid"] = ssid
    key = (form.get("api_key") or "").strip()
    if key:
        c["api_key"] = key
    elif not c["api_key"]:
        errors.append("Charge HQ API key: required (find it in the Charge HQ app)")
    iv = _int(form, "push_interval_s", errors, "push interval")
    if iv is not None:
        c["push_interval_s"] = iv
    admin = form.get("admin_password") or ""
    if admin:
        if len(admin) < 8:
            errors.append("admin password: at least 8 characters")
        d["admin_password"] = admin
    elif not d["admin_password"]:
        errors.append("admin password: required (it protects the settings on your network)")
    kind = form.get("source") or ""
    old = data.get("source") or {}
    if old.get("type") != kind:
        old = {}
    d["board"] = form.get("board") or ""
    if kind == "atm90e32":
        src = _ct_source(form, old, d["board"], errors)
    elif kind == "modbus":
        src = _modbus_source(form, old, errors)
    else:
        src = {"type": kind}
    for k, v in old.items():  # keep what the form does not show (CT model, calibration...)
        src.setdefault(k, v)
    data["source"] = src
    checked = config.validate(data)  # every message at once, not one per try
    for e in checked.errors:
        if e not in errors:
            errors.append(e)
    if checked.problem and not errors:
        errors.append(checked.problem)
    return data, errors


def _board_channels(board_name):
    """The board's CT inputs [{"chip", "phase", ...}], or None when the board cannot be read."""
    if not board_name:
        return None
    from app import boards
    try:
        b = boards.load(board_name)
    except ValueError:
        return None
    ch = b.get("channels") if isinstance(b, dict) else None
    return ch if isinstance(ch, list) else None


def ct_roles(src, board_name):
    """The configured role of each of the board's CT inputs, in board order."""
    chans = _board_channels(board_name) or ()
    out = []
    for bc in chans:
        role = ""
        for c in src.get("channels") or ():
            if isinstance(c, dict) and isinstance(bc, dict) and c.get("chip", 0) == bc.get("chip", 0) \
                    and c.get("phase") == bc.get("phase") and c.get("role") != "ignored":
                role = c.get("role") or ""
        out.append(role)
    return out


def _ct_source(form, old, board_name, errors):
    src = {"type": "atm90e32", "channels": []}
    hz = form.get("line_hz")
    src["line_hz"] = 60 if hz == "60" else 50
    chans = _board_channels(board_name)
    if chans is None:
        errors.append("CT clamps: choose the board the CTs are plugged into")
        return src
    for i in range(CT_CHANNELS):
        role = form.get("ct%d" % (i + 1)) or ""
        if not role:
            continue
        if role not in ROLES:
            errors.append("CT%d: unknown role" % (i + 1))
            continue
        if i >= len(chans):
            errors.append("CT%d: board %s has only %d CT inputs" % (i + 1, board_name, len(chans)))
            continue
        ch = {"chip": chans[i].get("chip", 0), "phase": chans[i].get("phase"), "role": role}
        for oc in old.get("channels") or ():  # keep this input's invert, multiplier, calibration
            if isinstance(oc, dict) and oc.get("chip", 0) == ch["chip"] and oc.get("phase") == ch["phase"]:
                for k, v in oc.items():
                    ch.setdefault(k, v)
                ch["role"] = role
        src["channels"].append(ch)
    if not src["channels"]:
        errors.append("CT clamps: give at least one CT a role (grid, solar or battery)")
    return src


def _modbus_source(form, old, errors):
    src = {"type": "modbus"}
    baud = _int(form, "baud", errors, "Modbus baud rate")
    if baud is not None:
        src["baud"] = baud
    dev = {"profile": form.get("profile") or ""}
    if not dev["profile"]:
        errors.append("Modbus: choose the device profile")
    slave = _int(form, "slave", errors, "Modbus slave id")
    if slave is not None:
        dev["slave"] = slave
    devs = [d for d in (old.get("devices") or []) if isinstance(d, dict)]
    if devs:  # the form edits the first device; others (a second meter) stay as they are
        for k, v in devs[0].items():
            if k not in ("profile", "slave"):
                dev[k] = v
    src["devices"] = [dev] + devs[1:]
    return src


def read_form(req):
    """-> dict of the posted form fields, or None when the body is not a readable form."""
    try:
        f = req.form
    except Exception:  # bad %-escapes, bad UTF-8
        return None
    if f is None:
        return None
    return dict((k, f.get(k)) for k in f)


def _chain(first, rest):
    yield first
    for part in rest:
        yield part


# --- the server -------------------------------------------------------------------------------
class Web(Microdot):
    """Microdot with a deadline per connection and a cap on connections held at once."""

    def __init__(self):
        super().__init__()
        self.conns = 0

    async def handle_request(self, reader, writer):
        if self.conns >= _MAX_CONNS:
            try:
                await writer.aclose()
            except Exception:
                pass
            return
        self.conns += 1
        try:
            await asyncio.wait_for(super().handle_request(reader, writer), _CONN_TIMEOUT_S)
        except Exception:  # timeout, reset by the peer, out of memory for this request
            try:
                await writer.aclose()
            except Exception:
                pass
        finally:
            self.conns -= 1
            gc.collect()


def portal_url(req, port):
    """The portal's absolute URL on the access point (what probes are redirected to)."""
    ip = None
    try:
        import network
        ap = network.WLAN(network.AP_IF)
        if ap.active():
            ip = ap.ifconfig()[0]
    except Exception:
        pass
    if not ip:
        ip = (req.headers.get("Host") or "192.168.4.1").split(":")[0]
    return "http://%s/" % ip if port == 80 else "http://%s:%d/" % (ip, port)


def make(cfg, log, app=None, port=80, wlan=None, on_saved=None):
    """Build the Microdot app (`serve` runs it; tests can add routes). See the module comment."""
    web = Web()
    setup = app is None
    state = {"join": None, "why": None, "ip": None, "ssid": None, "errors": None}

    def redirect_to_portal(req):
        return Response.redirect(portal_url(req, port), 302)

    def is_portal_host(req):
        host = req.headers.get("Host")
        if not host:
            return True
        url = portal_url(req, port)
        return url[7:-1] == host or url[7:-1].split(":")[0] == host

    @web.before_request
    def _guard(req):
        if setup and not is_portal_host(req):  # a phone asking some other site: send it here
            return redirect_to_portal(req)
        if req.method == "POST":
            origin = req.headers.get("Origin")
            if origin and origin != "null" and origin.split("://", 1)[-1] != req.headers.get("Host"):
                return page("Refused", "<p class=\"err\">A form from another site was refused.</p>", 403)

    for path in PROBES:
        web.route(path)(redirect_to_portal)

    @web.errorhandler(404)
    def _unknown(req):
        if req.path.startswith("/api/"):
            return {"error": "not found"}, 404
        return redirect_to_portal(req)

    @web.errorhandler(413)
    def _too_big(req):
        return page("Too large", "<p class=\"err\">The request is larger than %d bytes.</p>" % MAX_BODY, 413)

    def authorized(req):
        if setup:
            return True
        pw = cfg.get("device", "admin_password")
        if not pw:
            return False
        got = req.headers.get("Authorization") or ""
        if not got.startswith("Basic "):
            return False
        try:
            import binascii
            user_pw = binascii.a2b_base64(got[6:]).decode()
        except Exception:
            return False
        given = user_pw.split(":", 1)[-1]
        diff = len(given) ^ len(pw)  # same time for any wrong guess of the same length
        for i in range(min(len(given), len(pw))):
            diff |= ord(given[i]) ^ ord(pw[i])
        return diff == 0

    def need_auth():
        if not cfg.get("device", "admin_password"):
            return page("Settings locked", "<p>No admin password is set: set <code>device.admin_password</code> "
                        "with the serial console, then reload.</p>", 403)
        return ("Admin password required", 401,
                {"WWW-Authenticate": 'Basic realm="charge-hq-meter settings"', "Content-Type": "text/plain"})

    def settings_page(req, errors=None, data=None, status=200):
        title = "Set up your meter" if setup else "Settings"
        intro = ("<p>Connect this meter to your Wi-Fi and to Charge HQ.</p>" if setup else
                 '<p><a href="/">Back to status</a></p>')
        why = ""
        if setup and cfg.problem and not errors:
            why = "<p>Needed: %s.</p>" % esc(cfg.problem)
        return page(title, _chain(intro + why, form_parts(data or cfg.data, errors, scan(wlan),
                                                           "/save" if setup else "/settings", setup)), status)

    @web.route("/settings", methods=["GET", "POST"])
    async def settings(req):
        if not authorized(req):
            return need_auth()
        if req.method == "GET":
            return settings_page(req)
        return await _save(req)

    @web.post("/save")
    async def save(req):
        if not setup:
            return await settings(req)
        return await _save(req)

    async def _save(req):
        form = read_form(req)
        if form is None:
            return page("Bad request", "<p class=\"err\">Send the form as application/x-www-form-urlencoded "
                        "UTF-8.</p>", 400)
        data, errors = apply_form(cfg.data, form)
        if errors:
            return settings_page(req, errors, data, 400)
        try:
            config.save(data)
        except OSError as e:
            log.error("set-up: cannot save config: %s" % e)
            return settings_page(req, ["could not save the settings (%s)" % e], data, 500)
        log.info("settings saved (Wi-Fi %s, source %s)" % (data["wifi"]["ssid"], data["source"]["type"]))
        fresh = config.validate(data)
        cfg.data = fresh.data
        cfg.errors = fresh.errors
        cfg.problem = fresh.problem
        if setup:
            state["join"] = "trying"
            state["ssid"] = data["wifi"]["ssid"]
            asyncio.create_task(_try_network(data))
            return Response.redirect("/result", 303)
        asyncio.create_task(_finish(True))
        return page("Saved", "<p class=\"ok\">Settings saved. The meter restarts now to apply them; "
                    "this page returns in a moment.</p>", refresh=15)

    async def _try_network(data):
        # The access point stays up while the station tries the new network.
        from app import wifi
        w = data["wifi"]
        try:
            sta, why = await wifi.join(w["ssid"], w["password"], w["hostname"])
        except Exception as e:
            sta, why = None, "%s: %s" % (type(e).__name__, e)
        if why:
            state["join"] = "failed"
            state["why"] = why
            log.warn("set-up: cannot join %s: %s" % (w["ssid"], why))
            return
        state["join"] = "ok"
        try:
            state["ip"] = sta.ifconfig()[0]
        except Exception:
            state["ip"] = None
        log.info("set-up: joined %s, IP %s" % (w["ssid"], state["ip"]))
        await _finish(True)

    async def _finish(ok):
        await asyncio.sleep_ms(_RESTART_DELAY_MS)  # let the browser fetch the result page first
        if on_saved:
            r = on_saved(cfg, ok)
            if r is not None and hasattr(r, "send"):
                await r
            return
        if app is not None:
            app.shutdown("settings")
        import machine
        machine.reset()

    @web.route("/result")
    def result(req):
        j = state["join"]
        if j is None:
            return Response.redirect("/", 303)
        ssid = esc(state["ssid"])
        if j == "trying":
            return page("Connecting", "<p>Trying to join <b>%s</b>... (the set-up network stays up)</p>" % ssid,
                        refresh=2)
        if j == "ok":
            return page("Connected", "<p class=\"ok\">Connected to <b>%s</b>, address %s.</p><p>The meter "
                        "restarts now and starts sending readings to Charge HQ. Its status page will be at "
                        "<b>http://%s/</b> on your network.</p>" % (ssid, esc(state["ip"]), esc(state["ip"])))
        errs = ["Could not join %s: %s. The settings are saved; correct them and try again."
                % (state["ssid"], state["why"])]
        return settings_page(req, errs)

    if setup:
        @web.route("/")
        def index(req):
            return settings_page(req)
    else:
        from app import statuspage
        statuspage.register(web, app)
    return web


async def serve(cfg, log, app=None, host="0.0.0.0", port=80, wlan=None, on_saved=None):
    """Run the web server until cancelled (the set-up portal when `app` is None).
    `wlan`: the station interface (scans, trying the new network). `on_saved(cfg, joined)`: called
    once set-up has saved the config (and joined Wi-Fi); the default restarts the chip."""
    if wlan is None and app is None:
        try:
            import network
            wlan = network.WLAN(network.STA_IF)
        except Exception:
            wlan = None
    web = make(cfg, log, app, port, wlan, on_saved)
    log.info("%s on http://%s:%d/" % ("set-up portal" if app is None else "status page", host, port))
    await web.start_server(host=host, port=port)
