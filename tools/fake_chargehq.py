#!/usr/bin/env python3
"""A local stand-in for Charge HQ's Push API, over HTTPS with a throw-away CA.

It checks each push the way the public doc describes (known fields only, numbers, `error`
without `siteMeters`, battery_soc in 0..1, the power balance), answers 429 to pushes from the
same key less than 30 s apart, records every push to <state>/pushes.jsonl (API key masked) and
prints one line per push.

    python tools/fake_chargehq.py --state /tmp/chq [--port 8443] [--min-gap 30]

Files in --state: ca.der / ca.pem (the CA the device must trust), server.pem, pushes.jsonl,
and `mode`, read at every request, to inject faults at run time:
    ok | status 500 | stall (accept, never answer) | close (drop the connection) | slow N (answer after N s)
    | echo-key (a hostile server: 401 "invalid apiKey <the key>", the key echoed in clear)
"""
import argparse
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time

PATH = "/api/public/push-solar-data"
TOP = {"apiKey", "tsms", "error", "siteMeters"}
METERS = {"production_kw", "net_import_kw", "consumption_kw", "imported_kwh", "exported_kwh",
          "battery_discharge_kw", "battery_soc", "battery_energy_kwh"}
BALANCE_TOL_KW = 0.15


def mask(key):
    return "****" + key[-4:] if isinstance(key, str) and len(key) > 4 else "****"


def make_ca(state):
    """Create (once) a CA and a server certificate for localhost / 127.0.0.1 / ::1."""
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    der = os.path.join(state, "ca.der")
    if os.path.exists(der) and os.path.exists(os.path.join(state, "server.pem")):
        return der
    ca = trustme.CA(key_type=trustme.KeyType.RSA, organization_name="fake Charge HQ test CA")
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    ca.cert_pem.write_to_path(os.path.join(state, "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(os.path.join(state, "server.pem"))
    with open(der, "wb") as f:
        f.write(x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(Encoding.DER))
    return der


def _count_decimals(text):
    return len(text.split(".", 1)[1]) if "." in text else 0


def check_push(raw):
    """-> (parsed body or None, list of problems). Problems make a 400 only for bad JSON/shape."""
    problems = []
    too_precise = []

    def parse_float(text):
        if _count_decimals(text.lower().split("e")[0]) > 3:
            too_precise.append(text)
        return float(text)

    try:
        body = json.loads(raw, parse_float=parse_float)
    except ValueError as e:
        return None, ["body is not JSON: %s" % e]
    if not isinstance(body, dict):
        return None, ["body is not a JSON object"]
    if not isinstance(body.get("apiKey"), str) or not body["apiKey"]:
        problems.append("apiKey missing")
    for k in body:
        if k not in TOP:
            problems.append("unknown field %s%s" % (k, " (deprecated)" if k == "siteId" else ""))
    if "tsms" in body:
        t = body["tsms"]
        if not isinstance(t, int) or isinstance(t, bool) or not 1.5e12 < t < 4e12:
            problems.append("tsms is not plausible ms since 1970: %r" % (t,))
    if "error" in body:
        if not isinstance(body["error"], str):
            problems.append("error is not a string")
        if "siteMeters" in body:
            problems.append("error together with siteMeters")
        return body, problems
    sm = body.get("siteMeters")
    if not isinstance(sm, dict):
        problems.append("siteMeters missing")
        return body, problems
    for k, v in sm.items():
        if k not in METERS:
            problems.append("unknown siteMeters field %s" % k)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            problems.append("%s is not a number" % k)
    if too_precise:
        problems.append("numbers with more than 3 decimals: %s" % ", ".join(too_precise[:3]))
    soc = sm.get("battery_soc")
    if isinstance(soc, (int, float)) and not 0 <= soc <= 1:
        problems.append("battery_soc %s outside 0..1" % soc)
    if all(isinstance(sm.get(k), (int, float)) for k in ("consumption_kw", "net_import_kw")):
        rhs = sm["net_import_kw"] + sm.get("production_kw", 0) + sm.get("battery_discharge_kw", 0)
        if abs(sm["consumption_kw"] - rhs) > BALANCE_TOL_KW:
            problems.append("power values are inconsistent (consumption %.3f != %.3f)"
                            % (sm["consumption_kw"], rhs))
    return body, problems


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a device that gave up (its timeout) or dropped the TLS session: not worth a traceback
        print("[chargehq] connection from %s:%d ended early: %s" % (
            client_address[0], client_address[1], sys.exc_info()[1]), file=sys.stderr, flush=True)


def make_handler(state, min_gap, out):
    last_by_key = {}
    lock = threading.Lock()
    log_path = os.path.join(state, "pushes.jsonl")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _mode(self):
            try:
                with open(os.path.join(state, "mode")) as f:
                    return f.read().strip() or "ok"
            except OSError:
                return "ok"

        def _answer(self, status, text):
            data = json.dumps({"message": text}).encode() if status != 200 else b'{"ok":true}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._answer(404, "not found")

        def do_POST(self):
            now = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(length, 65536)).decode("utf-8", "replace")
            mode = self._mode()
            if mode == "stall":
                time.sleep(3600)
                return
            if mode == "close":
                self.close_connection = True
                self.connection.close()
                return
            if mode.startswith("slow"):
                time.sleep(float(mode.split()[1]))
            if self.path != PATH:
                return self._answer(404, "unknown path")
            body, problems = check_push(raw)
            key = body.get("apiKey") if isinstance(body, dict) else None
            with lock:
                prev = last_by_key.get(key)
                gap = None if prev is None else now - prev
                last_by_key[key] = now
            if body is None:
                status = 400
            elif gap is not None and gap < min_gap:
                status = 429
                problems.append("pushed %.2f s after the previous one (< %g s)" % (gap, min_gap))
            elif mode.startswith("status"):
                status = int(mode.split()[1])
            elif mode == "echo-key":
                status = 401
            else:
                status = 200
            shown = dict(body) if isinstance(body, dict) else {"raw": raw[:200]}
            if "apiKey" in shown:
                shown["apiKey"] = mask(shown["apiKey"])
            rec = {"t": now, "gap": gap, "status": status, "body": shown, "problems": problems,
                   "raw_has_key": bool(key) and key in raw}
            with lock, open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            meters = shown.get("siteMeters") or {}
            what = shown.get("error") and "error: %s" % shown["error"] or " ".join(
                "%s=%s" % (k, v) for k, v in meters.items())
            print("[chargehq] %d %s%s%s" % (status, what, " tsms" if "tsms" in shown else "",
                                             (" !! " + "; ".join(problems)) if problems else ""),
                  file=out, flush=True)
            if mode == "echo-key":
                return self._answer(401, "invalid apiKey %s" % key)
            self._answer(status, "; ".join(problems) or "ok")

    return Handler


def serve(state, port=0, min_gap=29.9, host="127.0.0.1", out=sys.stdout, tls=True):
    """Start in a thread; -> (server, url, ca_der_path). tls=False: plain HTTP (benchmarks
    use it to tell the app's own memory from mbedTLS's)."""
    os.makedirs(state, exist_ok=True)
    ca_der = make_ca(state)
    srv = Server((host, port), make_handler(state, min_gap, out))
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(state, "server.pem"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "%s://localhost:%d%s" % ("https" if tls else "http", srv.server_address[1], PATH)
    return srv, url, ca_der


def main():
    ap = argparse.ArgumentParser(description="local fake of the Charge HQ Push API (HTTPS)")
    ap.add_argument("--state", default="/tmp/fake-chargehq")
    ap.add_argument("--port", type=int, default=8443)
    # 0.1 s below 30: the device times its floor from the start of a request, this server from
    # the end of its body, and TLS handshakes vary by a few ms
    ap.add_argument("--min-gap", type=float, default=29.9, help="429 below this many seconds")
    args = ap.parse_args()
    srv, url, ca = serve(args.state, args.port, args.min_gap)
    print("fake Charge HQ at %s\nCA for the device: %s" % (url, ca), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.shutdown()


if __name__ == "__main__":
    main()
