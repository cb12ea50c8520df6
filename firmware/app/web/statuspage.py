# The LAN pages of a running meter: the status page, /api/status (JSON for evcc, Home Assistant,
# scripts) and /settings behind the admin password (HTTP basic auth). The status comes from
# App.status(), which holds no secrets; the settings form never shows the stored ones.
import time
from micropython import const
from app.web.auth import GUARD, LOCK_MS, authorized, setup_client
from app.web.html import esc, page


# The public readings (power and energy) that /api/readings gives any page (dashboards)
_READINGS = ("production_kw", "consumption_kw", "net_import_kw", "battery_discharge_kw", "battery_soc",
             "today_imported_kwh", "today_exported_kwh", "imported_kwh", "exported_kwh")

# The status page runs one script of its own (web/status.js, refreshes the numbers in place):
# the same policy as app.web.portal's pages plus scripts and fetches from this device only.
STATUS_HEADERS = {"Content-Type": "text/html; charset=UTF-8", "Cache-Control": "no-store",
                  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                  "script-src 'self'; connect-src 'self'; form-action 'self'",
                  "X-Frame-Options": "DENY"}
_JSON_HEADERS = {"Content-Type": "application/json; charset=UTF-8", "Cache-Control": "no-store"}
_NOSCRIPT = '<noscript><meta http-equiv="refresh" content="30"></noscript>'


def register(web, app):
    """Add the LAN routes to the web server (app.web.portal.make)."""
    cfg = app.cfg

    def index(req):
        if setup_client(app, req):  # a phone that joined the fallback set-up network
            from app.web import webforms
            return webforms.form_page(web)
        from app.web import statusview as v
        part = req.args.get("part")
        if part == "live":  # what web/status.js fetches to refresh the page in place
            return v.live_parts(_status(app)), 200, {"Content-Type": "text/html; charset=UTF-8",
                                                     "Cache-Control": "no-store"}
        if part == "chart":
            return v.chart_parts(*v.now_args(app)), 200, {"Content-Type": "text/html; charset=UTF-8",
                                                          "Cache-Control": "no-store"}
        from app.web.html import render

        def made(key):  # each part made when the page reaches it: the status is garbage once
            if key == "live":  # its part is sent (the head before it, the chart after: less RAM)
                return v.live_parts(_status(app))
            return v.chart_parts(*v.now_args(app))
        return page("Charge HQ meter", render("status", made), headers=STATUS_HEADERS, head=_NOSCRIPT)

    def status_js(req):
        from app.web.html import WEB
        return _file(WEB + "status.js"), 200, {"Content-Type": "application/javascript",
                                               "Cache-Control": "max-age=3600"}

    def api_status(req):
        # no Access-Control-Allow-Origin: another site's page in a LAN browser must not read the
        # device's state (push results, Wi-Fi, errors); evcc and Home Assistant are not browsers
        from app.web.html import chunked
        return chunked(_json_parts(_status(app))), 200, _JSON_HEADERS

    def api_readings(req):
        # the public readings only (power and energy): any page may read these (dashboards)
        st = app.status()
        return (dict((k, st.get(k)) for k in _READINGS), 200,
                {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"})

    def api_history(req):
        # readings only (5-minute power averages), like /api/readings: any page may read them
        from app.web import statusview as v
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
            from app.web.server import peer_ip
            ip = peer_ip(req.client_addr)
            if guard.locked(ip):  # guessing: locked for a while, right password or not
                return ("Too many wrong passwords: try again later.", 429,
                        {"Retry-After": str(LOCK_MS // 1000)})
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
            from app.web import webforms
            return webforms.form_page(web)
        from app.web import setupsave
        return await setupsave.save(web, req)

    def log_page(req):
        no = admin(req)
        if no is not None:
            return no
        from app.web import statusview as v
        return page("Log", v.log_parts(app.log), head=_NOSCRIPT)

    async def backup(req):
        no = admin(req)
        if no is not None:
            return no
        from app.web import backup as b
        return b.download(cfg)

    async def restore(req):
        no = admin(req)
        if no is not None:
            return no
        from app.web import backup as b
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
    from app.web import ota_web  # over-the-air updates: /api/ota..., /update
    ota_web.register(web, app)


def _status(app):
    st = app.status()
    from app.system.ota_health import status
    st["firmware"] = status()
    return st


def _json_parts(d):
    """json.dumps(d) of a dict, the same text a key at a time (for app.web.html.chunked)."""
    import json
    sep = "{"
    for k in d:
        yield sep + json.dumps(k) + ": "
        yield json.dumps(d[k])
        sep = ", "
    yield "{}" if sep == "{" else "}"


def _file(path):
    with open(path) as f:
        while True:
            chunk = f.read(512)
            if not chunk:
                break
            yield chunk
