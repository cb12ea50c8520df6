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
import errno
import gc
import sys
import time
from micropython import const
from microdot import Microdot, Request, Response
from app import config

MAX_BODY = const(4096)       # a set-up form is < 1 KB: anything above gets 413
_CONN_TIMEOUT_S = const(15)  # a client that sends nothing must not hold a socket forever
_REQUEST_MS = const(8000)    # the whole request (line, headers, body) must arrive within this
_STALE_MS = const(5000)      # at the cap with nobody still sending: one answered this long is dropped
_MAX_CONNS = const(4)        # phones open many connections at once; lwIP has few sockets
_MAX_LINES = const(40)       # request line + header lines
_READ = const(512)           # bytes read at a time while the request comes in
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


class _Conn:
    """One client connection, and its stream as Microdot reads the request from it. Microdot's
    own readline (MicroPython's StreamReader) grows a line without limit, copying it on every
    read, and waits for it without a deadline: a slow or endless header line held a socket and
    stalled the event loop. Here a line is cut at Request.max_readline (Microdot answers 400),
    at most _MAX_LINES lines are read, a Content-Length that is not a plain number is refused at
    once (400), and everything up to the end of the body must arrive within _REQUEST_MS (else the
    connection is closed)."""

    def __init__(self, stream):
        self.s = stream
        self.buf = b""
        self.pos = 0  # what is read from buf so far (lines are cut out, the rest is not copied)
        self.lines = 0
        self.start = time.ticks_ms()
        self.receiving = True  # still sending its request: the first to go when all are taken
        self.task = asyncio.current_task()

    async def _more(self):
        """Read more into buf (what is left of it kept); -> False at the end of the stream."""
        if self.receiving:
            left = _REQUEST_MS - time.ticks_diff(time.ticks_ms(), self.start)
            if left <= 0:
                raise OSError(errno.ETIMEDOUT)  # Microdot passes it on: we close the socket
            try:
                data = await asyncio.wait_for_ms(self.s.read(_READ), left)
            except asyncio.TimeoutError:
                raise OSError(errno.ETIMEDOUT)
        else:
            data = await self.s.read(_READ)
        if not data:
            return False
        self.buf = self.buf[self.pos:] + data if self.pos < len(self.buf) else data
        self.pos = 0
        return True

    async def readline(self):
        self.lines += 1
        if self.lines > _MAX_LINES:
            raise ValueError("too many header lines")
        limit = Request.max_readline
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i + 1]
                self.pos = i + 1
                break
            if len(self.buf) - self.pos > limit or not await self._more():
                # too long (Microdot refuses it), or the end: what there is
                line = self.buf[self.pos:]
                self.buf = b""
                self.pos = 0
                return line
        if line[:15].lower() == b"content-length:" and not line[15:].strip().isdigit():
            raise ValueError("bad Content-Length")
        return line

    async def read(self, n=-1):
        if self.pos >= len(self.buf) and not await self._more():
            return b""
        end = len(self.buf) if n < 0 else min(len(self.buf), self.pos + n)
        data = self.buf[self.pos:end]
        self.pos = end
        return data

    async def readexactly(self, n):
        out = b""
        while len(out) < n:
            data = await self.read(n - len(out))
            if not data:
                raise EOFError()
            out += data
        return out


class Web(Microdot):
    """Microdot with a deadline per connection, a cap on connections held at once (the oldest
    one still sending its request dropped first), bounded request reading (see _Conn), and the
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
        self.conns = []  # _Conn, oldest first
        self.dropped = 0  # connections closed to make room (a slow or idle client)
        self.paths = {}
        self.keep = set(sys.modules)

    def _admit(self, conn):
        """Room for a new connection: at the cap, the oldest one still sending its request goes
        (an idle or slowloris socket), else the oldest answered for over _STALE_MS (a client
        that does not read). -> False when all are busy and fresh: the new one is refused."""
        if len(self.conns) >= _MAX_CONNS:
            victim = None
            for c in self.conns:
                if c.receiving:
                    victim = c
                    break
            if victim is None:
                c = self.conns[0]
                if time.ticks_diff(time.ticks_ms(), c.start) > _STALE_MS:
                    victim = c
            if victim is None:
                return False
            self.conns.remove(victim)
            self.dropped += 1
            if victim.task is not None:
                victim.task.cancel()
        self.conns.append(conn)
        return True

    async def handle_request(self, reader, writer):
        conn = _Conn(reader)
        if not self._admit(conn):
            _close(writer)
            return
        try:
            await asyncio.wait_for(super().handle_request(conn, writer), _CONN_TIMEOUT_S)
        except Exception:  # timeout, reset by the peer, out of memory for this request
            pass
        finally:  # also when dropped for a newer one (cancelled)
            _close(writer)
            if conn in self.conns:
                self.conns.remove(conn)
            self.forget()  # another request may still use them: it keeps its own references
            gc.collect()

    async def dispatch_request(self, req):
        if req is not None and isinstance(req.sock[0], _Conn):
            c = req.sock[0]
            c.receiving = False  # the request is in: being answered now
            c.buf = c.buf[c.pos:]  # what was read is parsed: its RAM back before the answer
            c.pos = 0
            gc.collect()  # the reading's small pieces gone before the handler loads its modules
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


def _close(writer):
    try:  # at once: MicroPython's aclose() only closes the socket too, but must be awaited
        s = getattr(writer, "s", None)
        s.close() if s is not None else writer.close()
    except Exception:
        pass


def _quiet(exc):
    # Microdot prints a traceback for every request it cannot parse: a hostile client could
    # flood the serial console with them. One line, only for what is not a client's junk.
    if not isinstance(exc, (ValueError, UnicodeError, EOFError, IndexError)):
        print("web:", repr(exc))


_md = sys.modules.get("microdot.microdot")
if _md is not None:
    setattr(_md, "print_exception", _quiet)  # the module's own name for it, looked up per call


def peer_ip(addr):
    # ("192.168.4.2", 51234) on the ESP32; a raw sockaddr_in (bytes) on the unix port
    if isinstance(addr, (bytes, bytearray)):
        return "%d.%d.%d.%d" % tuple(addr[4:8]) if len(addr) >= 8 else ""
    return addr[0] if addr else ""


def same_site(req):
    """True when a state-changing request comes from this device's own page: its Origin (or, when
    a browser sends none, its Referer) names the address the request was sent to. Anything else
    is refused, `Origin: null` (a page served with Referrer-Policy: no-referrer, a sandboxed
    frame, a file) and a request with neither header included: another site's page in the
    owner's browser could otherwise post the settings form with the browser's saved admin
    password. Scripts send `Origin: http://<device>` themselves."""
    host = req.headers.get("Host")
    src = req.headers.get("Origin")
    if src is None:
        src = req.headers.get("Referer")
    if not host or not src or not src.startswith("http://"):
        return False
    rest = src[7:]
    i = rest.find("/")
    return (rest if i < 0 else rest[:i]) == host


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
