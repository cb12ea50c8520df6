# The device's web server (Microdot): the set-up portal and, once provisioned, the LAN pages.
#
#   web = make(cfg, log, app=None, port=80, wlan=None, on_saved=None); await run(web, host, port, log)
#   or: await serve(cfg, log, app=None, host="0.0.0.0", port=80, wlan=None, on_saved=None)
#   app.statuspage.status_service(app, log): the LAN pages as one of app.main's services
# app None  -> set-up mode (captive portal on the access point): "/" is the set-up form; the OS
#              connectivity probes, unknown paths and other hosts redirect to http://<portal ip>/.
# app given -> running mode (LAN): the status page and /api/status (app.statuspage); /settings
#              behind the admin password (HTTP basic auth).
# Microdot is imported only here, and only in portal/status mode. It is deployed compiled (.mpy,
# tools/build_microdot.py): compiling it from source does not fit a 64 KB heap. Page text lives in
# web/*.html (flash), streamed piece by piece, so a page never has to fit in RAM whole.
import asyncio
import gc
import sys
from micropython import const
from microdot import Microdot, Request, Response
from app import config

MAX_BODY = const(4096)       # a set-up form is < 1 KB: anything above gets 413
_CONN_TIMEOUT_S = const(15)  # a client that sends nothing must not hold a socket forever
_MAX_CONNS = const(4)        # phones open many connections at once; lwIP has few sockets
_CHUNK = const(1024)
_DRAIN = const(8192)
# loaded for one request, dropped after it (see Web.forget)
_FORGET = ("app.webforms", "app.setupsave", "app.setupsources", "app.sources", "app.boards", "app.wifi",
           "app.backup", "app.statusview", "app.tzrules")

Request.max_content_length = MAX_BODY
Request.max_body_length = MAX_BODY
Request.max_readline = 1024

# What phones, laptops and browsers fetch to detect a captive portal - Android/Chrome
# /generate_204 /gen_204, Apple /hotspot-detect.html /library/test/success.html, Windows
# /connecttest.txt /ncsi.txt /redirect, Firefox /success.txt /canonical.html, GNOME
# /check_network_status.txt - needs no route: every unknown path is redirected to the portal.

# No scripts at all: even an escaping slip cannot run JavaScript.
HTML_HEADERS = {"Content-Type": "text/html; charset=UTF-8", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                "X-Frame-Options": "DENY"}


def _web_dir():
    # web/ sits beside app/ (the board's root, firmware/ on the host)
    f = globals().get("__file__") or ""
    i = f.rfind("/app/")
    return f[:i + 1] + "web/" if i >= 0 else "web/"


WEB = _web_dir()


def esc(s):
    """Text for HTML (element content and quoted attributes)."""
    if s is None:
        return ""
    s = str(s)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        if a in s:
            s = s.replace(a, b)
    return s


def render(name, values):
    """Stream web/<name>.html with each {{key}} replaced by values(key) (or values[key] for a
    dict): a str, or an iterable of str, that is HTML already (escaped)."""
    with open(WEB + name + ".html") as f:
        for line in f:
            pos = 0  # pieces are cut from the line read, never a copy of its rest (RAM)
            while True:
                i = line.find("{{", pos)
                if i < 0:
                    break
                j = line.index("}}", i)
                if i > pos:
                    yield line[pos:i]
                key = line[i + 2:j]
                v = values[key] if isinstance(values, dict) else values(key)
                if isinstance(v, str):
                    yield v
                else:
                    for part in v:
                        yield part
                pos = j + 2
            yield line[pos:] if pos else line


def page(title, body, status=200, refresh=None, headers=None, head=""):
    """An HTML page; `body` is a string or an iterable of strings (sent ~1 KB at a time).
    `head`: more HTML for <head>; `headers`: instead of HTML_HEADERS (the status page's script)."""
    head = render("head", {"title": esc(title),
                           "refresh": ('<meta http-equiv="refresh" content="%d">' % refresh if refresh else "")
                           + head})
    return Response(_stream(head, body), status, headers or HTML_HEADERS)


def _stream(head, body):
    # Pieces are copied into one buffer per response and sent ~1 KB at a time (one TCP write per
    # KB, not per fragment); joining them into new strings instead fragmented the heap until a
    # long page (the status chart) could not find 2 KB in 50 KB free.
    try:
        buf = bytearray(_CHUNK)
    except MemoryError:  # no 1 KB block free just now: the page still goes out, piece by piece
        for part in _parts(head, body):
            yield part
        yield "</body></html>"
        return
    n = 0
    for part in _parts(head, body):
        b = part.encode() if isinstance(part, str) else part
        i = 0
        while i < len(b):
            k = min(len(b) - i, _CHUNK - n)
            buf[n:n + k] = b[i:i + k] if i or k < len(b) else b
            n += k
            i += k
            if n == _CHUNK:
                yield buf  # written before the next piece is asked for (Microdot awaits it)
                n = 0
        b = None
    end = b"</body></html>"
    if n + len(end) > _CHUNK:
        yield memoryview(buf)[:n]
        n = 0
    buf[n:n + len(end)] = end
    yield memoryview(buf)[:n + len(end)]


def _parts(head, body):
    for part in head:
        yield part
    if isinstance(body, str):
        yield body
    else:
        for part in body:
            yield part


class Web(Microdot):
    """Microdot with a deadline per connection, a cap on connections held at once, and the
    modules loaded for one request dropped after it."""

    def __init__(self, cfg, log, app=None, wlan=None, on_saved=None):
        super().__init__()
        # what the page handlers (app.webforms, app.setupsave, app.statuspage) work with
        self.cfg = cfg
        self.log = log
        self.app = app
        self.wlan = wlan
        self.on_saved = on_saved
        self.setup = app is None
        self.state = {"join": None, "why": None, "ip": None, "ssid": None, "nets": None, "scanned": None}
        self.conns = 0
        self.paths = {}
        self.keep = set(sys.modules)

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
            self.forget()  # another request may still use them: it keeps its own references
            gc.collect()

    async def dispatch_request(self, req):
        if req and req.path.startswith("/api/ota/"):  # update files: streamed to flash by app.ota
            from app.ota import MAX_FILE
            req.max_content_length = MAX_FILE
        return await super().dispatch_request(req)

    def on(self, path, handler, methods=("GET",)):
        """Add a route by exact path: a dict lookup, without the regex and pattern objects that
        Microdot keeps per route (RAM)."""
        self.paths[path] = (methods, handler)

    def find_route(self, req):
        r = self.paths.get(req.path)
        if r is None:
            return super().find_route(req)  # routes added with route() (tests)
        req.url_args = {}
        method = "GET" if req.method == "HEAD" else req.method
        return (r[1] if method in r[0] else 405), "", None

    def forget(self):
        """Drop the modules imported since start that only one request needed (the form, a
        source's config check, the status page's views): the set-up portal, and the LAN pages
        beside the running meter, must fit next to Microdot in a small heap. They load again
        when needed."""
        for name in list(sys.modules):
            if name not in self.keep and name.startswith(_FORGET):
                del sys.modules[name]
                pkg, _, leaf = name.rpartition(".")
                parent = sys.modules.get(pkg)
                if parent is not None and hasattr(parent, leaf):
                    try:
                        delattr(parent, leaf)
                    except Exception:
                        pass


def peer_ip(addr):
    # ("192.168.4.2", 51234) on the ESP32; a raw sockaddr_in (bytes) on the unix port
    if isinstance(addr, (bytes, bytearray)):
        return "%d.%d.%d.%d" % tuple(addr[4:8]) if len(addr) >= 8 else ""
    return addr[0] if addr else ""


def portal_ip(req):
    """Where to send a client: the access point's address for a client on the set-up network,
    else the address the client used (a LAN client cannot reach the AP's)."""
    try:
        import network
        ap = network.WLAN(network.AP_IF)
        if ap.active():
            ip = ap.ifconfig()[0]
            if peer_ip(req.client_addr).rsplit(".", 1)[0] == ip.rsplit(".", 1)[0]:  # the AP's /24
                return ip
    except Exception:
        pass
    return (req.headers.get("Host") or "192.168.4.1").split(":")[0]


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
        if req.method == "POST":
            origin = req.headers.get("Origin")
            if origin and origin != "null" and origin.split("://", 1)[-1] != host:
                return page("Refused", '<p class="err">A form from another site was refused.</p>', 403)

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
            from app import webforms
            return webforms.form_page(web)

        async def save(req):
            from app import setupsave
            return await setupsave.save(web, req)

        def result(req):
            from app import setupsave
            return setupsave.result(web)
        async def restore(req):  # a backup onto a new or reset device
            from app import backup
            return await backup.restore_page(web, req)
        web.on("/", index)
        web.on("/save", save, ("POST",))
        web.on("/result", result)
        web.on("/restore", restore, ("GET", "POST"))
    else:
        from app import statuspage
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


async def run(web, host, port, log):
    """Serve `web` until cancelled. MicroPython's accept loop dies for good when an allocation
    fails in it (out of memory at the wrong moment): the server is then started again. Raises
    OSError only when the first start fails (the port is taken): later ones are retried."""
    started = False
    while True:
        try:
            try:
                web.server = None
                await web.start_server(host=host, port=port)
                return  # shut down on purpose
            finally:  # a stopped server leaves MicroPython's listening socket open: free the port
                srv = getattr(web, "server", None)
                if srv is not None:
                    started = True
                    srv.close()
                    web.server = None
                gc.collect()
        except OSError as e:
            if not started:
                raise  # the port is taken, or no network: the caller decides
            why = e
        except Exception as e:  # MemoryError, mostly: log it if there is room to
            why = e
        try:
            log.warn("web server stopped (%s): restarting it" % type(why).__name__)
        except Exception:
            pass
        await asyncio.sleep_ms(500)
