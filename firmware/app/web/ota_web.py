# The update endpoints of the LAN web server (registered by app.web.statuspage), all behind the
# admin password, and for the API also a header no cross-site form can send:
#   GET  /api/ota                      running and previous version, trial, the update running
#   POST /api/ota/begin                body: the manifest -> {"want": [paths to send]}
#   PUT  /api/ota/file?path=P          body: the file, streamed to flash (app.system.ota)
#   POST /api/ota/commit               check all, switch, restart
#   POST /api/ota/abort
#   GET/POST /update                   a page: pull an update from an HTTPS URL (app.system.ota_pull)
# tools/ota.py is the client (make ota). Files stream to flash in 1 KB pieces: app.web.portal's Web
# lets /api/ota requests be up to ota.MAX_FILE bytes and leaves their body unread.
import asyncio

HEADER = "X-Meter-OTA"


def _refused(app, req, api):
    """-> None when the request may update the device, else the response."""
    from app.web.auth import authorized, GUARD, LOCK_MS
    pw = app.cfg.get("device", "admin_password")
    if not pw:
        return {"error": "no admin password is set (device.admin_password): updates are off"}, 403
    ip = _who(req)
    if GUARD.locked(ip):  # counted per client address with /settings: a guesser locks out only itself
        return {"error": "too many wrong passwords: try again later"}, 429, {"Retry-After": str(LOCK_MS // 1000)}
    if not authorized(req, pw):
        if req.headers.get("Authorization"):
            GUARD.wrong(ip)
        return ({"error": "admin password required"}, 401,
                {"WWW-Authenticate": 'Basic realm="meter settings"'})
    GUARD.right(ip)
    if api and req.method != "GET" and req.headers.get(HEADER) != "1":
        return {"error": "missing header %s: 1" % HEADER}, 400
    return None


def _who(req):
    from app.web.server import peer_ip
    return peer_ip(req.client_addr) or "LAN"


def _error(e):
    from app.system import ota
    code = 409 if isinstance(e, ota.Busy) else 507 if isinstance(e, ota.NoRoom) else 400
    return {"error": str(e)}, code


def register(web, app):
    async def api(req):
        no = _refused(app, req, True)
        if no:
            return no
        from app.system import ota
        if req.method == "GET":
            return ota.status(), 200, {"Cache-Control": "no-store"}
        op = req.path[9:]
        try:
            if op == "begin":
                s = ota.start(_who(req), web.log)
                await s.begin(req.content_length or None, req.stream)
                return {"version": s.version, "slot": s.slot, "frozen": s.frozen, "want": list(s.want_list())}
            s = ota.active()
            if s is None:
                return {"error": "no update running (POST /api/ota/begin first)"}, 409
            if op == "file":
                path = req.args.get("path") or ""
                if not req.content_length and req.headers.get("Content-Length") is None:
                    return {"error": "Content-Length required"}, 411
                await s.put(path, req.content_length, req.stream)
                return {"ok": path, "files": s.done, "of": s.count}
            if op == "commit":
                msg = s.commit()
                asyncio.create_task(ota.restart_soon(app))
                return {"result": msg}
            if op == "abort":
                s.abort("aborted by %s" % _who(req))
                return {"result": "aborted"}
        except Exception as e:
            return _error(e)
        return {"error": "not found"}, 404

    async def page(req):
        no = _refused(app, req, False)
        if no:
            return no[0]["error"], no[1], (no[2] if len(no) > 2 else {})
        from app.system import ota
        from app.web.html import esc, page as html
        msg = ""
        if req.method == "POST":
            url = (req.form or {}).get("url") or ""
            if ota.active() is not None:
                msg = '<p class="err">An update is running already.</p>'
            else:
                asyncio.create_task(_pull(app, url, _who(req)))
                msg = "<p>Update from %s started: it shows below; the meter restarts when it is done.</p>" % esc(url)
        st = ota.status()
        rows = "".join("<tr><th>%s</th><td>%s</td></tr>" % (k, esc(v)) for k, v in (
            ("Running", st["version"]), ("Previous", st["previous"] or "-"),
            ("On trial", "yes" if st["on_trial"] else "no"), ("Last event", st["note"] or "-"),
            ("Update running", "-" if not st["update"] else "%(version)s: %(files)d of %(of)d files" % st["update"])))
        form = ('<form method="post" action="/update"><label>Release manifest URL (https://)<br>'
                '<input name="url" type="url" size="60" required></label> <button>Update</button></form>')
        return html("Update", '<p><a href="/">Back to status</a></p>%s<table>%s</table>%s' % (msg, rows, form),
                    refresh=5 if st["update"] else None)

    for op in ("", "/begin", "/file", "/commit", "/abort"):
        web.on("/api/ota" + op, api, ("GET",) if not op else ("PUT",) if op == "/file" else ("POST",))
    web.on("/update", page, ("GET", "POST"))


async def _pull(app, url, who):
    from app.system import ota_pull
    try:
        await ota_pull.pull(app, url, app.log, who)
    except Exception as e:
        app.log.error("update from %s failed: %s" % (url[:80], e))
