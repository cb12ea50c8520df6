"""Issue 19: the device against an attacker on the LAN and hostile servers. The firmware's web
server runs under MicroPython (compiled as on the device) and is attacked over real sockets:
idle and slowloris connections held while a phone-like client loads pages, an endless header
line, malformed lengths, password guessing from another address, cross-origin reads. The CSRF
attack runs in a real Chromium (test_csrf_in_a_browser); the whole firmware with pushes going on
in the simulator (test_sim_slowloris_while_pushing, test_sim_hostile_server_echoes_the_key)."""
import http.client
import json
import socket
import threading
import time

import pytest

from portal_fx import FUNCTIONAL_HEAP, Device, compile_tree, wait_until
from test_portal import GOOD, _auth, _provisioned, from_addr, request


@pytest.fixture(scope="module")
def mpy_path(tmp_path_factory):
    return compile_tree(tmp_path_factory.mktemp("mpy"))


class Attacker:
    """Holds `idle` connections that send nothing and `slow` ones that send a header line one
    byte a second (slowloris); each one the server closes is opened again at once."""

    def __init__(self, port, idle=8, slow=8):
        self.port = port
        self.kinds = ["idle"] * idle + ["slow"] * slow
        self.stop = threading.Event()
        self.reopened = 0
        self.threads = [threading.Thread(target=self._hold, args=(k,), daemon=True) for k in self.kinds]

    def __enter__(self):
        for t in self.threads:
            t.start()
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(5)

    def _hold(self, kind):
        while not self.stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            try:
                if kind == "slow":
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                s.settimeout(1)
                while not self.stop.is_set():
                    if kind == "slow":
                        s.sendall(b"a")
                    try:
                        if s.recv(4096) == b"":
                            break  # closed by the server: open another
                    except socket.timeout:
                        pass
            except OSError:
                pass
            finally:
                s.close()
            self.reopened += 1


def phone_loads(dev, paths, rounds, timeout=5):
    """A phone loading pages one after another (one connection each, as Microdot closes it)."""
    ok, failed = 0, []
    for i in range(rounds):
        for path in paths:
            try:
                st, _, _ = request(dev, "GET", path, timeout=timeout)
                if st in (200, 302):
                    ok += 1
                else:
                    failed.append((path, st))
            except (OSError, http.client.HTTPException) as e:
                failed.append((path, type(e).__name__))
    return ok, failed


def lag(dev):
    st, _, body = request(dev, "GET", "/_test/lag")
    most, dropped = body.split()
    return int(most), int(dropped)


def test_slow_and_idle_connections_do_not_lock_out_a_phone(tmp_path, mpy_path):
    """Finding 4: eight idle or slowloris connections locked everyone out (1 of 20 page loads)."""
    dev = Device("setup", tmp_path, mpy_path, heap=FUNCTIONAL_HEAP, args=["lag"])
    try:
        lag(dev)
        with Attacker(dev.port, idle=8, slow=8) as att:
            time.sleep(2)  # all held
            ok, failed = phone_loads(dev, ("/", "/generate_204"), 10)
            reopened = att.reopened
        most, dropped = lag(dev)
        print("phone: %d of 20 page loads answered under 16 held attack connections; %d attack "
              "connections dropped to make room (reopened %d); longest event-loop stall %d ms"
              % (ok, dropped, reopened, most))
        assert ok == 20, failed
        assert dropped > 0  # the room came from the attackers' connections
        assert dev.proc.poll() is None
    finally:
        dev.kill()


def test_status_api_answers_during_slowloris(tmp_path, mpy_path):
    """Finding 4: /api/status answered 1 of 33 requests during a slowloris."""
    _provisioned(tmp_path)
    dev = Device("status", tmp_path, mpy_path, heap=FUNCTIONAL_HEAP, args=["lag"])
    try:
        with Attacker(dev.port, idle=4, slow=12):
            time.sleep(2)
            ok, failed = phone_loads(dev, ("/api/status", "/"), 17)
        print("status page and /api/status during a slowloris: %d of 34 answered" % ok)
        assert ok == 34, failed
    finally:
        dev.kill()


def test_endless_header_line_and_malformed_lengths(tmp_path, mpy_path):
    """Finding 4: an endless header line held the event loop for up to 1.9 s; a negative
    Content-Length was not answered at once. In a heap large enough to hold the line (4 MB
    here; Microdot reads a whole line before checking its length), main stalled the loop ~20 s."""
    dev = Device("setup", tmp_path, mpy_path, heap=4 * 1024 * 1024, args=["lag"])
    try:
        lag(dev)
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", dev.port), timeout=10)
            sent, reply = 0, b""
            try:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ")
                s.settimeout(0.01)
                while sent < 4 * 1024 * 1024:  # 4 MB of one header line, unless answered first
                    try:
                        s.sendall(b"a" * 16384)
                        sent += 16384
                    except socket.timeout:
                        pass
                    try:
                        reply += s.recv(4096)
                        if reply:
                            break
                    except socket.timeout:
                        pass
            except (ConnectionResetError, BrokenPipeError):
                pass
            finally:
                s.close()
            # answered (400) or reset while we were still sending: it stopped reading at its limit
            assert sent < 4 * 1024 * 1024, "the server read the whole 4 MB line"
            assert reply == b"" or reply.startswith(b"HTTP/1.0 400"), reply[:60]
        most, _ = lag(dev)
        print("endless header line x5: cut off after at most the 1 KB line limit; longest "
              "event-loop stall %d ms (main: ~20 s in this heap)" % most)
        # not a speed target: a bound 50x above what it takes now, 20x below the bug
        assert most < 1000, "the event loop was held %d ms by one request" % most

        def answer_open(data):
            """Send without ending our side: the answer must come while the socket is still open."""
            s = socket.create_connection(("127.0.0.1", dev.port), timeout=3)
            try:
                s.sendall(data)
                return s.recv(4096)
            except socket.timeout:
                return b"(no answer within 3 s)"
            finally:
                s.close()
        for length in (b"-1", b"-5", b"zz", b"1e3", b"", b"+5", b"5 5"):
            reply = answer_open(b"POST /save HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\nab")
            assert reply.startswith(b"HTTP/1.0 400"), (length, reply[:60])
        reply = answer_open(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 60 + b"\r\n")
        assert reply.startswith(b"HTTP/1.0 400"), reply[:60]  # too many header lines
        # a client that sends half a request and stops: closed after the request deadline
        s = socket.create_connection(("127.0.0.1", dev.port), timeout=20)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        assert s.recv(100) == b""
        held = time.monotonic() - t0
        s.close()
        print("half a request: closed after %.1f s" % held)
        assert request(dev, "GET", "/")[0] == 200
        # a client's junk is answered, not printed: no traceback per request on the console
        assert "Traceback" not in dev.output(), dev.output()[-2000:]
    finally:
        dev.kill()


def test_lockout_is_per_client_and_no_cors_on_device_state(tmp_path, mpy_path):
    """Finding 7: the brute-force lockout was global (anyone on the LAN could lock the owner
    out); finding 2: /api/status was readable from any web page (Access-Control-Allow-Origin: *)."""
    _provisioned(tmp_path)
    dev = Device("status", tmp_path, mpy_path, heap=FUNCTIONAL_HEAP)
    try:
        def settings_from(source, pw):
            c = http.client.HTTPConnection("127.0.0.1", dev.port, timeout=20, source_address=(source, 0))
            c.request("GET", "/settings", headers=dict(_auth(pw), Host="127.0.0.1:%d" % dev.port))
            r = c.getresponse()
            r.read()
            c.close()
            return r.status
        for _ in range(10):
            assert settings_from("127.1.0.9", "guess") == 401
        assert settings_from("127.1.0.9", "admin-pass-1") == 429  # the guesser is locked out
        assert settings_from("127.0.0.1", "admin-pass-1") == 200  # the owner is not
        assert settings_from("127.1.0.8", "admin-pass-1") == 200
        st, h, body = request(dev, "GET", "/api/status")
        assert st == 200 and "access-control-allow-origin" not in h
        st, h, body = request(dev, "GET", "/api/readings")
        assert st == 200 and h.get("access-control-allow-origin") == "*"
        d = json.loads(body)
        assert "production_kw" in d and "imported_kwh" in d
        assert not {"last_push_result", "wifi", "meter_error", "validation"} & set(d)
        # state-changing requests need the device's own page as their origin
        form = dict(GOOD, api_key="", password="", admin_password="")
        for hdrs in ({"Origin": "null"}, {"Origin": "http://evil.example"},
                     {"Origin": None, "Referer": "http://evil.example/x"},
                     {"Origin": None}, {"Origin": "https://127.0.0.1:%d" % dev.port}):
            h = dict(_auth("admin-pass-1"))
            h.update({k: v for k, v in hdrs.items() if v is not None})
            st, _, page = _post(dev, "/settings", form, h, drop_origin="Origin" in hdrs and hdrs["Origin"] is None)
            assert st == 403 and "another site" in page, hdrs
        st, _, page = _post(dev, "/settings", dict(form, push_interval_s="5"),
                            dict(_auth("admin-pass-1"), Referer=dev.url + "/settings"), drop_origin=True)
        assert st == 400, "the device's own page as Referer (no Origin) is accepted"
    finally:
        dev.kill()


def _post(dev, path, form, headers, drop_origin=False):
    import urllib.parse
    c = http.client.HTTPConnection("127.0.0.1", dev.port, timeout=20)
    h = {"Host": "127.0.0.1:%d" % dev.port, "Content-Type": "application/x-www-form-urlencoded"}
    if not drop_origin:
        h.setdefault("Origin", dev.url)
    h.update(headers)
    c.request("POST", path, body=urllib.parse.urlencode(form), headers=h)
    r = c.getresponse()
    out = r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read().decode("utf-8", "replace")
    c.close()
    return out


# --- finding 1: CSRF from another site's page in the owner's browser (real Chromium) ----------
from test_portal_browser import ARGS, chromium  # noqa: E402,F401  (the fixture: ensures chromium)

ATTACK = {"ssid": "EvilNet", "password": "evil-pass-123", "api_key": "attacker-KEY-0000", "push_interval_s": "999",
          "source": "simulated", "admin_password": "", "board": "", "line_hz": "", "profile": "",
          "slave": "", "baud": ""}


def _attack_form(action, auto=True):
    fields = "".join('<input type="hidden" name="%s" value="%s">' % kv for kv in ATTACK.items())
    return ('<form method="post" action="%s">%s<button id="go">win a prize</button></form>%s'
            % (action, fields, "<script>document.forms[0].submit()</script>" if auto else ""))


def _attacker_site(device_url):
    """Another origin (127.0.0.1, another port) serving the attack pages."""
    import html
    import http.server

    pages = {
        # a plain page with Referrer-Policy: no-referrer: Chromium posts with Origin: null
        "/no-referrer": ({"Referrer-Policy": "no-referrer"}, _attack_form(device_url + "/settings")),
        # a sandboxed frame (forms allowed, no scripts: the owner clicks its button): its origin
        # is opaque, Origin: null as well
        "/sandboxed": ({}, '<iframe sandbox="allow-forms" srcdoc="%s"></iframe>'
                       % html.escape(_attack_form(device_url + "/settings", auto=False))),
        # an ordinary page: Origin names the attacker's site
        "/plain": ({}, _attack_form(device_url + "/settings")),
    }

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            headers, body = pages.get(self.path, ({}, "nothing"))
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    from mp import free_port
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d" % srv.server_address[1]


def test_csrf_in_a_browser(tmp_path, mpy_path, chromium):
    """The owner is logged in to /settings (the browser holds the admin password); pages on
    another site post the settings form at the device: with Origin: null (no-referrer, a
    sandboxed frame) and with their own origin. Nothing may change; the device's own form still
    saves."""
    from playwright.sync_api import sync_playwright
    _provisioned(tmp_path)
    before = (tmp_path / "config.json").read_text()
    dev = Device("status", tmp_path, mpy_path, heap=FUNCTIONAL_HEAP)
    srv, evil = _attacker_site(dev.url)
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True, args=ARGS,
                http_credentials={"username": "admin", "password": "admin-pass-1"})
            try:
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                # each POST the browser sends: (its Origin header, the device's status, or the
                # browser's reason for not showing the answer: a framed page gets
                # ERR_BLOCKED_BY_RESPONSE from the device's X-Frame-Options: DENY)
                posts = {}
                ctx.on("request", lambda r: posts.__setitem__(r, [r.headers.get("origin"), None])
                       if r.method == "POST" else None)
                ctx.on("response", lambda r: posts[r.request].__setitem__(1, r.status)
                       if r.request in posts else None)
                ctx.on("requestfailed", lambda r: posts[r].__setitem__(1, r.failure)
                       if r in posts else None)
                page.goto(dev.url + "/settings")  # logged in: the browser now sends the password
                assert page.title() == "Settings"
                for path in ("/no-referrer", "/sandboxed", "/plain"):
                    n = len(posts)
                    page.goto(evil + path)
                    if path == "/sandboxed":  # the owner clicks the frame's button (no script in it)
                        page.frame_locator("iframe").locator("#go").click()
                    for _ in range(100):  # Playwright delivers its events while it is called
                        if len(posts) > n and all(v[1] is not None for v in posts.values()):
                            break
                        page.wait_for_timeout(200)
                    assert len(posts) > n, "the attack page did not post (%s)" % path
                    page.wait_for_timeout(300)
                    assert (tmp_path / "config.json").read_text() == before, "changed by %s" % path
                seen = list(posts.values())
                assert [o for o, _ in seen] == ["null", "null", evil], seen  # the browser's own headers
                assert seen[0][1] == 403 and seen[2][1] == 403, seen
                assert seen[1][1] in (403, "net::ERR_BLOCKED_BY_RESPONSE"), seen
                assert (tmp_path / "config.json").read_text() == before, "the settings were changed"
                # the device's own form, in the same browser, still saves
                page.goto(dev.url + "/settings")
                page.fill("input[name=push_interval_s]", "120")
                page.click("button[type=submit]")
                page.wait_for_selector("text=Settings saved")
            finally:
                ctx.close()
        saved = json.loads((tmp_path / "config.json").read_text())
        assert saved["chargehq"]["push_interval_s"] == 120
        assert saved["wifi"]["ssid"] == "HomeNet" and saved["chargehq"]["api_key"] != ATTACK["api_key"]
    finally:
        srv.shutdown()
        dev.kill()


# --- the whole firmware in the simulator ------------------------------------------------------
class Sim:
    """tools/sim.py in the background, its output in a file."""

    def __init__(self, tmp_path, args, fresh=True):
        import subprocess
        import sys
        from mp import ROOT, free_port
        self.http = free_port()
        self.state, self.chq = tmp_path / "dev", tmp_path / "chq"
        self.chq.mkdir(exist_ok=True)
        self.out_path = tmp_path / "sim.out"
        cmd = [sys.executable, str(ROOT / "tools" / "sim.py")] + (["--fresh"] if fresh else []) + [
               "--source", "simulated",
               "--state-dir", str(self.state), "--chq-dir", str(self.chq), "--http-port", str(self.http),
               "--dns-port", str(free_port(socket.SOCK_DGRAM))] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=open(self.out_path, "w"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.port = self.http
        self.url = "http://127.0.0.1:%d" % self.http

    def output(self):
        return self.out_path.read_text()

    def wait_for(self, text, timeout=60):
        return wait_until(lambda: text in self.output(), repr(text), timeout)

    def pushes(self):
        p = self.chq / "pushes.jsonl"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except Exception:
                self.proc.kill()
                self.proc.wait()


KEY = "hostile-test-KEY-9f8e7d6c5b4a"


def test_sim_hostile_server_echoes_the_key(tmp_path):
    """Finding 2: the endpoint answers "invalid apiKey <key>"; the key must not reach the status
    page, /api/status or the log."""
    (tmp_path / "chq").mkdir()
    (tmp_path / "chq" / "mode").write_text("echo-key")
    sim = Sim(tmp_path, ["--api-key", KEY, "--interval", "30", "--duration", "40"])
    try:
        sim.wait_for("push failed")
        sim.wait_for("status page on")
        st, h, status = request(sim, "GET", "/api/status")
        assert st == 200 and "HTTP 401" in json.loads(status)["last_push_result"], status
        st, _, page = request(sim, "GET", "/")
        assert st == 200 and "HTTP 401" in page
        sim.proc.wait(60)
        out = sim.output()
        assert "push failed: HTTP 401" in out
        for text in (status, page, out):
            assert KEY not in text and KEY[:8] not in text, text[-2000:]
        assert "(" in json.loads(status)["last_push_result"]  # the server's words are still shown
        print("push result shown: %s" % json.loads(status)["last_push_result"])
    finally:
        sim.stop()


def test_sim_slowloris_while_pushing(tmp_path):
    """Finding 4 with the whole firmware: 16 held attack connections (idle and slowloris) for a
    minute while a phone-like client loads the status page and /api/status every second; the
    pushes go on every 30 s and sampling goes on."""
    sim = Sim(tmp_path, ["--interval", "30", "--duration", "75", "--quiet-server"])
    try:
        sim.wait_for("status page on")
        t0 = time.monotonic()
        with Attacker(sim.http, idle=8, slow=8):
            time.sleep(1)
            ok, failed = 0, []
            while time.monotonic() - t0 < 65:
                o, f = phone_loads(sim, ("/", "/api/status"), 1)
                ok, failed = ok + o, failed + f
                time.sleep(1)
        sim.proc.wait(60)
        out = sim.output()
        pushes = sim.pushes()
        readings = out.count("] reading: ")
        print("phone: %d of %d loads answered; %d pushes (all HTTP 200: %s), %d reading lines, "
              "during 16 held attack connections" % (ok, ok + len(failed), len(pushes),
                                                      all(p["status"] == 200 for p in pushes), readings))
        assert failed == [], failed
        assert len(pushes) >= 3 and all(p["status"] == 200 for p in pushes), pushes
        assert all(p["gap"] >= 29.9 for p in pushes[1:]) and max(p["gap"] for p in pushes[1:]) < 35, \
            [p["gap"] for p in pushes]
        assert readings >= 6, out[-3000:]  # one every 10 s (report_s in the simulator)
    finally:
        sim.stop()


def test_sim_status_page_kept_when_setup_network_opens_during_first_join(tmp_path):
    """Finding 6: when the set-up network opened during the first Wi-Fi attempt, its own portal
    took the web port and the LAN status page was lost until a restart."""
    state = tmp_path / "dev"
    state.mkdir()
    (state / "config.json").write_text(json.dumps({"portal": {"ap_after_new_s": 0}}))
    (state / ".wifi").write_text("no_ap")  # the home network is not there at boot
    sim = Sim(tmp_path, ["--interval", "30", "--duration", "90", "--quiet-server"], fresh=False)
    try:
        sim.wait_for("opening the set-up network")
        sim.wait_for("status page on")
        st, _, body = request(sim, "GET", "/api/status")
        assert st == 200 and "uptime_s" in json.loads(body), (st, body)
        # a phone on the set-up network (127.0.0.2: the access point's /24) gets the set-up form
        st, _, page = from_addr(sim, "127.0.0.2", "/")
        assert st == 200 and 'name="ssid"' in page
        (state / ".wifi").write_text("ok")  # the router is back
        sim.wait_for("Wi-Fi connected to", timeout=90)
        sim.wait_for("closed", timeout=90)  # the set-up network, once unused
        st, _, body = request(sim, "GET", "/api/status")
        assert st == 200 and json.loads(body)["wifi"]["connected"], body
        assert "cannot listen" not in sim.output()
    finally:
        sim.stop()
