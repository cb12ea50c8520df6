# The device's web server: Microdot with what a small chip on a LAN needs (a deadline per
# connection, a cap on connections, bounded request reading, a quiet console on junk, a restart
# after an allocation failure kills the accept loop), and the modules one request loaded dropped
# after it. Microdot is imported only in the web package, and only in portal/status mode. It is
# deployed compiled (.mpy, tools/build_microdot.py): compiling it from source does not fit a 64 KB
# heap. The routes: app.web.portal.
import asyncio
import errno
import gc
import sys
import time
from micropython import const
from microdot import Microdot, Request
from app.core.modules import forget

MAX_BODY = const(4096)       # a set-up form is < 1 KB: anything above gets 413
_CONN_TIMEOUT_S = const(15)  # a client that sends nothing must not hold a socket forever
_REQUEST_MS = const(8000)    # the whole request (line, headers, body) must arrive within this
_STALE_MS = const(5000)      # at the cap with nobody still sending: one answered this long is dropped
_MAX_CONNS = const(4)        # phones open many connections at once; lwIP has few sockets
_MAX_LINES = const(40)       # request line + header lines
_READ = const(512)           # bytes read at a time while the request comes in
# loaded for one request, dropped after it (see Web.forget)
_FORGET = ("app.web.webforms", "app.web.setupsave", "app.web.setupsources", "app.web.formdata", "app.sources",
           "app.core.boards", "app.system.wifi", "app.web.backup", "app.core.backup", "app.web.statusview",
           "app.core.tzrules")

Request.max_content_length = MAX_BODY
Request.max_body_length = MAX_BODY
Request.max_readline = 1024


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
        # what the page handlers (app.web.webforms, app.web.setupsave, app.web.statuspage) work with
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
        self.keep = [n for n in sys.modules if n.startswith(_FORGET)]  # (of those forget() may drop)

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
            try:
                self.forget()  # another request may still use them: it keeps its own references
            except MemoryError:  # never out of this task with it: the next request tries again
                pass
            gc.collect()

    async def dispatch_request(self, req):
        if req is not None and isinstance(req.sock[0], _Conn):
            c = req.sock[0]
            c.receiving = False  # the request is in: being answered now
            c.buf = c.buf[c.pos:]  # what was read is parsed: its RAM back before the answer
            c.pos = 0
            gc.collect()  # the reading's small pieces gone before the handler loads its modules
        if req and req.path.startswith("/api/ota/"):  # update files: streamed to flash by app.system.ota
            from app.system.ota import MAX_FILE
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
        while True:  # no copy of sys.modules (~70 names: a 512-byte block) to walk it
            for name in sys.modules:
                if name not in self.keep and name.startswith(_FORGET):
                    break
            else:
                return
            forget(name)


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
