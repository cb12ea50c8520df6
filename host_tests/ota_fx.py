"""Helpers for the over-the-air update tests and the fault suite's ota part: a simulated meter
(tools/sim.py's Device, output captured) with its LAN web server on a free port and an admin
password, kept running across the resets the firmware performs, and builds to update it with."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import base64

from mp import ROOT, MPY_CROSS, free_port

sys.path.insert(0, str(ROOT / "tools"))
PASSWORD = "ota-admin-pw-1234"
KEY = "ota-key-0123456789-abcd"


def otaboot_const(name):
    """A constant of firmware/otaboot.py (the bounds the docs state)."""
    import re
    src = (ROOT / "firmware" / "otaboot.py").read_text()
    return int(re.search(r"^%s = const\((\d+)\)" % name, src, re.M).group(1))


def ota_const(name):
    """A constant of firmware/app/system/ota.py."""
    import re
    src = (ROOT / "firmware" / "app" / "system" / "ota.py").read_text()
    return int(re.search(r"^%s = const\((\d+)\)" % name, src, re.M).group(1))


def make_build(dest):
    """tools/build.py's output in dest (what make ota sends)."""
    subprocess.run([sys.executable, str(ROOT / "tools" / "build.py"), "--out", str(dest), "--quiet"],
                   check=True)
    return pathlib.Path(dest)


def broken_build(good, dest, code='raise RuntimeError("this version cannot start")\n'):
    """A copy of a build whose app/main fails at start (or does what `code` says)."""
    shutil.copytree(good, dest)
    src = pathlib.Path(dest) / "broken_main.py"
    src.write_text(code)
    subprocess.run([MPY_CROSS, "-march=xtensawin", "-o", str(pathlib.Path(dest) / "app" / "main.mpy"),
                    str(src)], check=True)
    src.unlink()
    return pathlib.Path(dest)


class Meter:
    """A running simulated meter: .dev (sim.Device), .port, .url(path), .get_json(path)."""

    def __init__(self, tmp, chq_url, ca_der, interval=30, extra_cfg=None, source="simulated", argv=()):
        import sim
        self.port = free_port()
        cfg = {"device": {"admin_password": PASSWORD, "report_s": 5}}
        for k, v in (extra_cfg or {}).items():
            cfg.setdefault(k, {}).update(v)
        self.dev = sim.new_device(pathlib.Path(tmp), chq_url, ca_der,
                                  ["--interval", str(interval), "--api-key", KEY, "--source", source,
                                   "--http-port", str(self.port), "--dns-port", str(free_port(2))]
                                  + list(argv), cfg)
        self.thread = None

    def start(self, cause="power"):
        self.thread = threading.Thread(target=self.dev.run, args=(cause,), daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.dev.stop(10)
        if self.thread:
            self.thread.join(20)

    def text(self):
        return "\n".join(l for _, l in self.dev.lines)

    def wait_for(self, what, timeout, since=0):
        end = time.time() + timeout
        while time.time() < end:
            for _, l in self.dev.lines[since:]:
                if what in l:
                    return l
            time.sleep(0.2)
        raise AssertionError("no %r within %d s; log tail:\n%s" % (what, timeout, "\n".join(
            l for _, l in self.dev.lines[-60:])))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get_json(self, path, password=PASSWORD):
        req = urllib.request.Request(self.url(path))
        if password:
            req.add_header("Authorization", "Basic " + base64.b64encode(
                ("admin:" + password).encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


def pushes(chq):
    p = pathlib.Path(chq) / "pushes.jsonl"
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []


def gaps_ok(chq):
    ps = pushes(chq)
    gaps = [b["t"] - a["t"] for a, b in zip(ps, ps[1:])]
    return all(g >= 29.9 for g in gaps) and all(p["status"] != 429 for p in ps), gaps
