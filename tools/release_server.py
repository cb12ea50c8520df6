#!/usr/bin/env python3
"""A local HTTPS server for release folders (tools/ota.py --release DIR), with its own throw-away
CA: the pull path's test peer, and a way to try `update URL` in the simulator.

    .venv/bin/python tools/release_server.py --root DIR [--port 8444] [--state STATE]
    -> serves https://localhost:PORT/<path under DIR>; STATE/ca.der is the CA for the device's
       CA bundle (tools/make_ca_bundle.py --add, or append it to ca/roots.der of the simulator)

Faults for tests (serve(..., faults=dict)): {path: "short"} declares the full Content-Length and
closes the connection halfway through the body.
"""
import argparse
import http.server
import os
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def make_handler(root, faults, hits):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            path = self.path.split("?", 1)[0].lstrip("/")
            hits.append(path)
            full = os.path.realpath(os.path.join(root, path))
            if not full.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(full):
                self.send_error(404)
                return
            data = open(full, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if faults.get(path) == "short":
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    return Handler


def serve(root, state, port=0, faults=None):
    """Start in a thread -> (server, base URL, CA DER path, hits list)."""
    import fake_chargehq  # its CA maker: a CA and a localhost certificate, once per state folder
    os.makedirs(state, exist_ok=True)
    ca_der = fake_chargehq.make_ca(state)
    hits = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), make_handler(root, faults or {}, hits))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(state, "server.pem"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "https://localhost:%d/" % srv.server_address[1], ca_der, hits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=8444)
    ap.add_argument("--state", default="/tmp/release-server")
    a = ap.parse_args()
    srv, url, ca, _ = serve(a.root, a.state, a.port)
    print("releases at %s (CA for the device: %s)" % (url, ca), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.shutdown()


if __name__ == "__main__":
    main()
