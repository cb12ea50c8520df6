"""Fault part `http`: malformed HTTP requests at the set-up portal's web server (Microdot under
MicroPython, host_tests/portal_fx.py); good requests must still be answered in between."""
import random
import socket

from fault_parts.common import Result


def run(tmp, n, seed):
    r = Result("http", "malformed HTTP requests at the set-up portal (Microdot under MicroPython)")
    import portal_fx
    dev = tmp / "http-dev"
    dev.mkdir()
    path = portal_fx.compile_tree(tmp / "http-mpy")
    d = portal_fx.Device("setup", dev, path)
    rng = random.Random(seed)
    shapes = [
        lambda: b"GET / HTTP/1.1\r\n" + b"X: " + b"A" * rng.randrange(0, 9000) + b"\r\n\r\n",
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 2000))),
        lambda: b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\nssid=" % rng.choice((-1, 10 ** 12, 99999)),
        lambda: b"GET /" + b"%" * rng.randrange(1, 3000) + b" HTTP/1.1\r\n\r\n",
        lambda: b"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 40\r\n\r\nssid=%ZZ&password=%&api_key=\xff\xfe",
        lambda: b"\r\n" * rng.randrange(1, 200),
        lambda: b"GET / HTTP/1.1\r\n" + b"H: v\r\n" * rng.randrange(50, 400) + b"\r\n",
        lambda: b"GET /generate_204 HTTP/1.0\r\nHost: \x00\x01<script>\r\n\r\n",
        lambda: b"PUT /../../etc/passwd HTTP/1.1\r\n\r\n",
        lambda: b"GET / HTTP/1.1\r\nContent-Length: 5\r\n",  # then the client hangs up
    ]
    host, port = "127.0.0.1", d.port
    good = 0
    try:
        for i in range(n):
            data = shapes[i % len(shapes)]() if i >= len(shapes) else shapes[i]()
            try:
                with socket.create_connection((host, port), timeout=5) as s:
                    try:  # the server may answer (413, 400) and close before we finish
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)
                        s.settimeout(5)
                        s.recv(512)
                    except (socket.timeout, OSError):
                        pass
            except OSError as e:
                if d.proc.poll() is not None:
                    r.fail("web server died after %d requests: %s" % (i, e))
                    break
            if i % 100 == 99 or i == n - 1:
                import urllib.request
                try:
                    with urllib.request.urlopen(d.url + "/", timeout=10) as resp:
                        if resp.status == 200:
                            good += 1
                except Exception as e:
                    r.fail("no answer to a good request after %d malformed ones: %s" % (i + 1, e))
                    break
    finally:
        alive = d.proc.poll() is None
        out = d.output()
        d.kill()
    r.faults = n
    tracebacks = out.count("Traceback")
    r.unhandled = 0 if alive else 1
    if not alive:
        r.fail("the web server process died: %s" % out[-500:])
    r.detail = "%d good requests answered in between; %d tracebacks printed (logged, not fatal)" % (
        good, tracebacks)
    return r
