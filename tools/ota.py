#!/usr/bin/env python3
"""Update a running meter over the LAN with `make build`'s output (make ota), or write a release
folder for the pull path (the console's `update URL`).

    tools/ota.py --host 192.168.1.50 [--password PW] [--build build] [--wait]
    tools/ota.py --release DIR [--build build]     # DIR/manifest.txt + the files, to serve over HTTPS

The manifest (docs/ota.md) lists every file of the build under app/, lib/, web/, ca/, profiles/,
boards/ with its size and SHA-256; boot.py, main.py and otaboot.mpy are never part of an update
(the rollback must not depend on the version it rolls back). The device answers which files it
wants (a device with the app frozen in takes only the data files), each is sent as its own
request, then the device checks everything again from its flash, switches and restarts.
--wait then follows /api/ota until the new version has confirmed itself (first reading taken,
first output delivered) or was rolled back. The password: --password, else $PASSWORD, else asked.
"""
import argparse
import base64
import getpass
import hashlib
import http.client
import json
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAGIC = "chargehq-meter-ota 1"
TOPS = ("app", "lib", "web", "ca", "profiles", "boards")
HEADER = "X-Meter-OTA"


class OtaFailed(Exception):
    pass


def version_string():
    src = (ROOT / "firmware" / "app" / "core" / "version.py").read_text()
    v = re.search(r'VERSION = "([^"]+)"', src).group(1)
    try:
        g = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        g = ""
    return (v + "+g" + g if g else v)[:40].replace(" ", "_")


def build_files(build):
    """-> [(device path, local Path)] of everything an update carries, from build/.files."""
    build = pathlib.Path(build)
    listing = build / ".files"
    if not listing.exists():
        raise OtaFailed("no build in %s: run `make build` first" % build)
    out = []
    for rel in sorted(listing.read_text().split()):
        if rel.split("/")[0] in TOPS and "/" in rel:
            out.append((rel, build / rel))
    return out


def manifest(files, version):
    lines = [MAGIC, "version " + version]
    for rel, p in files:
        data = p.read_bytes()
        lines.append("file %s %d %s" % (hashlib.sha256(data).hexdigest(), len(data), rel))
    return ("\n".join(lines) + "\n").encode()


def write_release(dest, files, version):
    dest = pathlib.Path(dest)
    for rel, p in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(p.read_bytes())
    (dest / "manifest.txt").write_bytes(manifest(files, version))
    return dest / "manifest.txt"


class Device:
    def __init__(self, host, password, timeout=30):
        self.host, _, port = host.partition(":")
        self.port = int(port or 80)
        self.auth = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
        self.timeout = timeout

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            hdr = {"Authorization": self.auth, HEADER: "1", "Content-Type": "application/octet-stream"}
            c.request(method, path, body=body, headers=hdr)
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {"error": raw[:200].decode("utf-8", "replace")}
        return r.status, data


def push(dev, files, version, log=print):
    """Send the update; -> the device's result text. Raises OtaFailed with the device's reason."""
    body = manifest(files, version)
    st, r = dev.call("POST", "/api/ota/begin", body)
    if st != 200:
        raise OtaFailed("refused (HTTP %d): %s" % (st, r.get("error")))
    want = r["want"]
    local = dict(files)
    log("device takes %d of %d files into slot %s%s" % (len(want), len(files), r.get("slot"),
                                                         " (app frozen in: data files only)" if r.get("frozen") else ""))
    sent = 0
    for i, rel in enumerate(want):
        data = local[rel].read_bytes()
        st, r = dev.call("PUT", "/api/ota/file?path=" + rel, data)
        if st != 200:
            raise OtaFailed("%s refused (HTTP %d): %s" % (rel, st, r.get("error")))
        sent += len(data)
    log("sent %d files, %d bytes" % (len(want), sent))
    st, r = dev.call("POST", "/api/ota/commit", b"")
    if st != 200:
        raise OtaFailed("commit refused (HTTP %d): %s" % (st, r.get("error")))
    return r["result"]


def wait(dev, version, timeout_s, log=print):
    """Follow /api/ota until `version` runs confirmed (-> True) or was rolled back (-> False)."""
    end = time.time() + timeout_s
    last = None
    while time.time() < end:
        time.sleep(2)
        try:
            st, r = dev.call("GET", "/api/ota")
        except OSError:
            continue  # restarting
        if st != 200:
            continue
        line = "running %s%s" % (r.get("version"), " (on trial)" if r.get("on_trial") else "")
        if line != last:
            log(line)
            last = line
        if r.get("version") == version and not r.get("on_trial"):
            return True
        if "rolled back from %s" % version in (r.get("note") or ""):
            log(r["note"])
            return False
    raise OtaFailed("no confirmation within %d s" % timeout_s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", help="the meter's address (IP[:port])")
    ap.add_argument("--password", help="the admin password (else $PASSWORD, else asked)")
    ap.add_argument("--build", default=str(ROOT / "build"), help="folder made by tools/build.py")
    ap.add_argument("--version", help="version name in the manifest (default: app VERSION + git)")
    ap.add_argument("--release", help="write a release folder for the pull path instead")
    ap.add_argument("--wait", action="store_true", help="follow the device until the new version confirms")
    ap.add_argument("--wait-s", type=int, default=900, help="how long --wait waits")
    a = ap.parse_args(argv)
    try:
        files = build_files(a.build)
        version = a.version or version_string()
        if a.release:
            print("release %s: %s" % (version, write_release(a.release, files, version)))
            return 0
        if not a.host:
            ap.error("--host (or --release) is needed")
        pw = a.password or os.environ.get("PASSWORD") or (getpass.getpass("admin password: ") if sys.stdin.isatty() else "")
        dev = Device(a.host, pw)
        print("update %s -> %s" % (version, a.host))
        print(push(dev, files, version))
        if a.wait:
            return 0 if wait(dev, version, a.wait_s) else 1
        return 0
    except (OtaFailed, OSError) as e:
        print("ota: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
