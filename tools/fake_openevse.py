#!/usr/bin/env python3
"""A local fake OpenEVSE WiFi gateway: the one call a meter makes for solar divert, HTTP POST
/status with a JSON body {"grid_ie": W} (W, + import / - export; OpenEVSE's API documentation
and its divert code), recorded in <dir>/posts.jsonl with the time and whether it was valid.
Fault modes in <dir>/mode: "slow" (answers after 8 s), "500", or nothing.

    .venv/bin/python tools/fake_openevse.py --dir /tmp/oe --port 8090
"""
import argparse
import http.server
import json
import pathlib
import threading
import time


def check(body):
    """-> list of problems with a POST body (empty when valid)."""
    try:
        d = json.loads(body)
    except ValueError:
        return ["not JSON"]
    if not isinstance(d, dict) or "grid_ie" not in d:
        return ["no grid_ie"]
    if isinstance(d["grid_ie"], bool) or not isinstance(d["grid_ie"], (int, float)):
        return ["grid_ie is not a number"]
    return []


def serve(folder, port=0):
    """-> (server, url); a thread serves until server.shutdown()."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            t = time.time()  # arrival (a slow answer comes later)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            mode = (folder / "mode").read_text().strip() if (folder / "mode").exists() else ""
            if mode == "slow":
                time.sleep(8)
            problems = check(body) if self.path == "/status" else ["path %s" % self.path]
            status = 500 if mode == "500" else 400 if problems else 200
            rec = {"t": t, "slow": mode == "slow", "path": self.path, "status": status, "problems": problems,
                   "content_type": self.headers.get("Content-Type")}
            try:
                rec["body"] = json.loads(body)
            except ValueError:
                rec["raw"] = body.decode(errors="replace")
            with open(folder / "posts.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            out = b'{"msg":"done"}' if status == 200 else b'{"msg":"error"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:
                pass

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d" % srv.server_address[1]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=8090)
    a = ap.parse_args()
    srv, url = serve(a.dir, a.port)
    print("fake OpenEVSE at %s (records in %s/posts.jsonl)" % (url, a.dir), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.shutdown()
