# The routes of the device's web server (app.web.server): the set-up portal and, once
# provisioned, the LAN pages.
#
#   web = make(cfg, log, app=None, port=80, wlan=None, on_saved=None); await run(web, host, port, log)
#   or: await serve(cfg, log, app=None, host="0.0.0.0", port=80, wlan=None, on_saved=None)
#   status_service(app, log): the LAN pages as one of app.main's services
# app None  -> set-up mode (captive portal on the access point): "/" is the set-up form; the OS
#              connectivity probes, unknown paths and other hosts redirect to http://<portal ip>/.
# app given -> running mode (LAN): the status page and /api/status (app.web.statuspage); /settings
#              behind the admin password (HTTP basic auth).
#
# What phones, laptops and browsers fetch to detect a captive portal - Android/Chrome
# /generate_204 /gen_204, Apple /hotspot-detect.html /library/test/success.html, Windows
# /connecttest.txt /ncsi.txt /redirect, Firefox /success.txt /canonical.html, GNOME
# /check_network_status.txt - needs no route: every unknown path is redirected to the portal.
import asyncio
import gc
from micropython import const
from microdot import Response
from app.web.html import page
from app.web.server import MAX_BODY, Web, portal_ip, run, same_site

_DRAIN = const(8192)


def make(cfg, log, app=None, port=80, wlan=None, on_saved=None):
    """Build the Microdot app (`serve` runs it; tests can add routes). See the module comment.
    on_saved(cfg, joined): called once settings are saved (set-up: after joining the new network);
    it may be a coroutine function. Default: restart the chip (app.shutdown() first)."""
    setup = app is None
    web = Web(cfg, log, app, wlan, on_saved)

    def url(req):
        return "http://%s/" % portal_ip(req) if port == 80 else "http://%s:%d/" % (portal_ip(req), port)

    def to_portal(req):
        return Response.redirect(url(req), 302)

    @web.before_request
    def _guard(req):
        host = req.headers.get("Host")
        if setup and host and host != url(req)[7:-1]:  # a phone asking another site: send it here
            return to_portal(req)
        # (/api/ota/...: its handler requires the X-Meter-OTA header instead, which no form can
        # send and no other site's script either: the device never answers a CORS preflight)
        if req.method not in ("GET", "HEAD", "OPTIONS") and not same_site(req) and \
                not req.path.startswith("/api/ota/"):
            return page("Refused", '<p class="err">A form from another site was refused: settings change '
                        "only from this meter's own pages.</p>", 403)

    # The OS probes need no route of their own: every unknown path is redirected (see above).

    @web.errorhandler(404)
    def _unknown(req):
        if req.path.startswith("/api/"):
            return {"error": "not found"}, 404
        return to_portal(req)

    @web.errorhandler(413)
    async def _too_big(req):
        # read (and drop) a few KB of what the client is still sending: closing with unread
        # data resets the connection, and the browser would show that instead of this page
        left = _DRAIN
        while left > 0:
            try:
                chunk = await asyncio.wait_for(req.stream.read(min(left, 512)), 1)
            except Exception:  # nothing more within a second
                break
            if not chunk:
                break
            left -= len(chunk)
        return page("Too large", '<p class="err">The request is larger than %d bytes.</p>' % MAX_BODY, 413)

    @web.errorhandler(MemoryError)
    def _no_memory(req, e):
        gc.collect()
        return "The meter is short of memory: try again in a moment.", 503, {"Retry-After": "5"}

    if setup:
        def index(req):
            from app.web import webforms
            return webforms.form_page(web)

        async def save(req):
            from app.web import setupsave
            return await setupsave.save(web, req)

        def result(req):
            from app.web import setupsave
            return setupsave.result(web)

        async def restore(req):  # a backup onto a new or reset device
            from app.web import backup
            return await backup.restore_page(web, req)
        web.on("/", index)
        web.on("/save", save, ("POST",))
        web.on("/result", result)
        web.on("/restore", restore, ("GET", "POST"))
    else:
        from app.web import statuspage
        statuspage.register(web, app)
    return web


async def serve(cfg, log, app=None, host="0.0.0.0", port=80, wlan=None, on_saved=None):
    """Run the web server until cancelled (the set-up portal when `app` is None). `wlan`: the
    station interface (scans, trying the new network); default: network.WLAN(STA_IF)."""
    if wlan is None and app is None:
        try:
            import network
            wlan = network.WLAN(network.STA_IF)
        except Exception:
            wlan = None
    web = make(cfg, log, app, port, wlan, on_saved)
    log.info("%s on http://%s:%d/" % ("set-up portal" if app is None else "status page", host, port))
    await run(web, host, port, log)


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
