# The LAN pages of a running meter: the status page, /api/status (JSON for evcc, Home Assistant,
# scripts) and /settings behind the admin password (HTTP basic auth). The status comes from
# App.status(), which holds no secrets; the settings form never shows the stored ones.
import time
from micropython import const
from app.portal import esc, page, serve

_MAX_WRONG = const(10)    # wrong admin passwords in a row before the settings lock for a while
_LOCK_MS = const(60000)
LOCK_MS = _LOCK_MS  # (app.ota_web: the same lock)
_MAX_TRACKED = const(16)  # client addresses whose wrong passwords are counted at once

# The public readings (power and energy) that /api/readings gives any page (dashboards)
_READINGS = ("production_kw", "consumption_kw", "net_import_kw", "battery_discharge_kw", "battery_soc",
             "today_imported_kwh", "today_exported_kwh", "imported_kwh", "exported_kwh")

# The status page runs one script of its own (web/status.js, refreshes the numbers in place):
# the same policy as app.portal's pages plus scripts and fetches from this device only.
STATUS_HEADERS = {"Content-Type": "text/html; charset=UTF-8", "Cache-Control": "no-store",
                  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                  "script-src 'self'; connect-src 'self'; form-action 'self'",
                  "X-Frame-Options": "DENY"}
_NOSCRIPT = '<noscript><meta http-equiv="refresh" content="30"></noscript>'


def authorized(req, pw):
    """HTTP basic auth against the admin password (any user name)."""
    got = req.headers.get("Authorization") or ""
    if not pw or not got.startswith("Basic "):
        return False
    try:
        import binascii
        given = binascii.a2b_base64(got[6:]).decode().split(":", 1)[-1]
    except Exception:
        return False
    diff = len(given) ^ len(pw)  # no early exit: the time does not tell how much was right
    for i in range(min(len(given), len(pw))):
        diff |= ord(given[i]) ^ ord(pw[i])
    return diff == 0


def setup_client(app, req):
    """The set-up network (the fallback access point) when `req` comes from a phone on it, else
    None. Such a phone gets the settings without the admin password: it knows the set-up
    network's own password, shown only on the serial console."""
    sup = getattr(app, "wifi_sup", None)
    ap = getattr(sup, "setup", None)
    if ap is None or not getattr(ap, "active", False):
        return None
    from app.portal import peer_ip
    try:
        if ap.is_client(peer_ip(req.client_addr)):
            ap.touch()  # the set-up network is in use: not idle
            return ap
    except Exception:
        pass
    return None


class _Guard:
    """Wrong admin passwords in a row, per client address: one guesser on the LAN locks out
    only itself, never the owner. Up to _MAX_TRACKED addresses; more at once: the first counted
    is forgotten."""

    def __init__(self):
        self.by_ip = {}  # ip -> [wrong in a row, ticks of the last wrong one]

    def locked(self, ip):
        g = self.by_ip.get(ip)
        if g and g[0] >= _MAX_WRONG:
            if time.ticks_diff(time.ticks_ms(), g[1]) < _LOCK_MS:
                return True
            del self.by_ip[ip]  # the lock has run out: a fresh start
        return False

    def wrong(self, ip):
        d = self.by_ip
        if ip not in d:
            if len(d) >= _MAX_TRACKED:
                del d[next(iter(d))]
            d[ip] = [0, 0]
        d[ip][0] += 1
        d[ip][1] = time.ticks_ms()

    def right(self, ip):
        self.by_ip.pop(ip, None)


GUARD = _Guard()  # one count per client address for every password-protected page (/settings, updates)


def register(web, app):
    """Add the LAN routes to app.portal's server."""
    cfg = app.cfg

    def index(req):
        if setup_client(app, req):  # a phone that joined the fallback set-up network
            from app import webforms
            return webforms.form_page(web)
        from app import statusview as v
        part = req.args.get("part")
        if part == "live":  # what web/status.js fetches to refresh the page in place
            return v.live_parts(_status(app)), 200, {"Content-Type": "text/html; charset=UTF-8",
                                                     "Cache-Control": "no-store"}
        if part == "chart":
            return v.chart_parts(*v.now_args(app)), 200, {"Content-Type": "text/html; charset=UTF-8",
                                                          "Cache-Control": "no-store"}
        from app.portal import render
        st = _status(app)
        return page("Charge HQ meter", render("status", {"live": v.live_parts(st),
                                                         "chart": v.chart_parts(*v.now_args(app))}),
                    headers=STATUS_HEADERS, head=_NOSCRIPT)

    def status_js(req):
        from app.portal import WEB
        return _file(WEB + "status.js"), 200, {"Content-Type": "application/javascript",
                                               "Cache-Control": "max-age=3600"}

    def api_status(req):
        # no Access-Control-Allow-Origin: another site's page in a LAN browser must not read the
        # device's state (push results, Wi-Fi, errors); evcc and Home Assistant are not browsers
        return _status(app), 200, {"Cache-Control": "no-store"}

    def api_readings(req):
        # the public readings only (power and energy): any page may read these (dashboards)
        st = app.status()
        return (dict((k, st.get(k)) for k in _READINGS), 200,
                {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"})

    def api_history(req):
        # readings only (5-minute power averages), like /api/readings: any page may read them
        from app import statusview as v
        return v.history_json(*v.now_args(app)), 200, {
            "Content-Type": "application/json", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}

    guard = GUARD

    def admin(req):
        """None when `req` may see the protected pages, else the answer to send."""
        if not setup_client(app, req):  # on the set-up network: no admin password (see there)
            pw = cfg.get("device", "admin_password")
            if not pw:
                return page("Settings locked", "<p>No admin password is set: set <code>device.admin_password"
                            "</code> with the serial console, then reload.</p>", 403)
            from app.portal import peer_ip
            ip = peer_ip(req.client_addr)
            if guard.locked(ip):  # guessing: locked for a while, right password or not
                return ("Too many wrong passwords: try again later.", 429,
                        {"Retry-After": str(_LOCK_MS // 1000)})
            if not authorized(req, pw):
                if req.headers.get("Authorization"):
                    guard.wrong(ip)
                return ("Admin password required", 401,
                        {"WWW-Authenticate": 'Basic realm="meter settings"', "Content-Type": "text/plain"})
            guard.right(ip)
        return None

    async def settings(req):
        no = admin(req)
        if no is not None:
            return no
        if req.method == "GET":
            from app import webforms
            return webforms.form_page(web)
        from app import setupsave
        return await setupsave.save(web, req)

    def log_page(req):
        no = admin(req)
        if no is not None:
            return no
        from app import statusview as v
        return page("Log", v.log_parts(app.log), head=_NOSCRIPT)

    async def backup(req):
        no = admin(req)
        if no is not None:
            return no
        from app import backup as b
        return b.download(cfg)

    async def restore(req):
        no = admin(req)
        if no is not None:
            return no
        from app import backup as b
        return await b.restore_page(web, req)

    web.on("/", index)
    web.on("/status.js", status_js)
    web.on("/api/status", api_status)
    web.on("/api/readings", api_readings)
    web.on("/api/history", api_history)
    web.on("/settings", settings, ("GET", "POST"))
    web.on("/log", log_page)
    web.on("/backup", backup)
    web.on("/restore", restore, ("GET", "POST"))
    from app import ota_web  # over-the-air updates: /api/ota..., /update
    ota_web.register(web, app)


def _status(app):
    st = app.status()
    from app.ota_health import status
    st["firmware"] = status()
    return st


def _file(path):
    with open(path) as f:
        while True:
            chunk = f.read(512)
            if not chunk:
                break
            yield chunk


async def status_service(app, log):
    """The LAN status page as one of the app's services (app.main._services). While it listens,
    app.web_running is True: the set-up network then needs no web server of its own."""
    cfg = app.cfg
    port = cfg.get("portal", "http_port")
    app.web_running = True
    try:
        await serve(cfg, log, app, "0.0.0.0", port)
    except OSError as e:  # the port is taken: the meter runs on without its page
        log.error("status page: cannot listen on port %d: %s" % (port, e))
        app.web_running = False
        ap = getattr(getattr(app, "wifi_sup", None), "setup", None)
        if ap is not None and ap.active:  # the set-up network relied on this server: its own now
            ap.start_http()
    finally:
        app.web_running = False
