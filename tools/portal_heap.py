"""The set-up portal's heap, measured on the firmware as deployed.

`make build`'s image (app, lib and Microdot as .mpy, web/, boards/, profiles/) boots unprovisioned
under the MicroPython unix port with the ESP32 stand-ins (also as .mpy), exactly as app.main runs
on a new board: set-up network, DNS catch-all, set-up console, the portal. A person's set-up is
then played against it over HTTP: the page, the OS connectivity probes, two forms with mistakes,
then a good form that joins the (simulated) home network; the device must save the settings, show
"Connected" and restart by itself. `smallest_heap()` bisects the smallest `-X heapsize` in which all
of that works (no 5xx, no crash); `breakdown()` says what the heap holds while the portal idles.

    python tools/portal_heap.py            # smallest heap, then the breakdown
    python tools/portal_heap.py 131072     # one run at that heap, with the device's output
"""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host_tests"))
sys.path.insert(0, str(ROOT / "tools"))
from mp import MICROPYTHON, compile_stand_ins, free_port  # noqa: E402  (the test harness's)
KB = 1024
# the stand-ins set-up mode loads (esp32 and ntptime it never does); they are C modules on a board
STAND_INS = ("machine", "network")

GOOD_FORM = {"ssid": "HomeNet", "password": "home-network-pw", "api_key": "bench-portal-key-7781",
             "push_interval_s": "60", "admin_password": "admin-pw-123", "source": "atm90e32",
             "board": "circuitsetup_split", "ct1": "grid", "ct2": "solar", "line_hz": "50"}
BAD_FORMS = ({"ssid": "", "password": "x", "api_key": ""},
             {"ssid": "HomeNet", "password": "short", "api_key": "k" * 20, "push_interval_s": "10",
              "source": "modbus", "profile": "sdm630", "slave": "300"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class Image:
    """The built firmware and the compiled stand-ins, in a temp folder."""

    def __init__(self, tmp=None):
        import build
        self.tmp = pathlib.Path(tmp or tempfile.mkdtemp(prefix="portal-heap-"))
        self.fw = self.tmp / "image"
        build.build(self.fw, quiet=True)
        self.stubs = compile_stand_ins(self.tmp / "stubs")

    def env(self, state):
        env = dict(os.environ)
        env["MICROPYPATH"] = ":".join([".frozen", str(self.stubs), str(self.fw), str(self.fw / "lib")])
        env["ESPSIM_STATE"] = str(state)
        env["ESPSIM_RESET_CAUSE"] = "power"
        env["ESPSIM_WIFI"] = "ok"
        return env

    def device_dir(self):
        """A new board's filesystem: the image's data files and no config."""
        d = pathlib.Path(tempfile.mkdtemp(prefix="dev-", dir=str(self.tmp)))
        for sub in ("boards", "profiles", "ca", "web"):
            if (self.fw / sub).exists():
                shutil.copytree(self.fw / sub, d / sub)
        return d


def run_setup(image, heap, show=False, micropython=None):
    """One set-up at `heap` bytes under `micropython` (default: the 64-bit PyPI build; a frozen
    build's own app wins, .frozen leads the path). -> (worked, [what each step answered], output)."""
    state = image.device_dir()
    http_port, dns_port = free_port(), free_port(socket.SOCK_DGRAM)
    # the only setting a new board has here: where its web server and DNS listen (ports 80 and
    # 53 would need root on the host)
    (state / "config.json").write_text(json.dumps({"portal": {"http_port": http_port, "dns_port": dns_port}}))
    cmd = [micropython or MICROPYTHON, "-X", "heapsize=%d" % heap, str(ROOT / "tools" / "espsim_boot.py"),
           str(image.fw)]
    out = open(state / "out.txt", "w")
    # stdin: a serial line that stays open and nobody types on (as on a board)
    proc = subprocess.Popen(cmd, cwd=str(state), env=image.env(state), stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.PIPE)
    url = "http://127.0.0.1:%d" % http_port
    opener = urllib.request.build_opener(_NoRedirect)
    steps = []

    def fetch(path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            # a browser's form post names its page (the portal refuses posts from other sites)
            req = urllib.request.Request(url + path, data, {"Origin": url} if data is not None else {})
            with opener.open(req, timeout=10) as r:
                body = r.read().decode("utf-8", "replace")
                steps.append((path, r.status))
                return r.status, body
        except urllib.error.HTTPError as e:
            steps.append((path, e.code))
            return e.code, e.read().decode("utf-8", "replace")
        except Exception as e:  # refused, reset: the device is down
            steps.append((path, type(e).__name__))
            return None, ""

    worked = False
    try:
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", http_port), 0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        worked = _play(fetch, proc, state)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdin.close()
        out.close()
    text = (state / "out.txt").read_text(errors="replace")
    if show:
        print(text)
    shutil.rmtree(state, ignore_errors=True)
    return worked, steps, text


def _play(fetch, proc, state):
    for path in ("/", "/generate_204", "/hotspot-detect.html", "/connecttest.txt", "/"):
        st, _ = fetch(path)
        if st not in (200, 302):
            return False
    for form in BAD_FORMS:
        st, body = fetch("/save", form)
        if st != 400 or "Please fix" not in body:
            return False
    st, _ = fetch("/save", GOOD_FORM)
    if st != 303:
        return False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st, body = fetch("/result")
        if st == 200 and "Connected to" in body:
            break
        if st != 200 or "Could not join" in body:
            return False
        time.sleep(0.3)
    else:
        return False
    try:  # the device restarts itself to apply the settings (a chip reset: the marker file)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        return False
    saved = json.loads((state / "config.json").read_text())
    return ((state / ".reset_reason").exists() and saved["wifi"]["ssid"] == GOOD_FORM["ssid"]
            and saved["source"]["type"] == "atm90e32")


def smallest_heap(image, lo=16 * KB, hi=512 * KB, log=None, micropython=None):
    """-> the smallest heap (bytes, to 1 KB) in which the whole set-up works, or None."""
    if not run_setup(image, hi, micropython=micropython)[0]:
        return None
    while hi - lo > KB:
        mid = (lo + hi) // 2 // KB * KB
        ok = run_setup(image, mid, micropython=micropython)[0]
        if log:
            log("portal heap %d KB: %s" % (mid // KB, "works" if ok else "fails"))
        lo, hi = (lo, mid) if ok else (mid, hi)
    return hi


_PROBE = r"""
import gc, sys
gc.collect()
_base = gc.mem_alloc()
for _n in sys.argv[1].split(","):
    __import__(_n)
gc.collect()
print("STANDINS", gc.mem_alloc() - _base, _base)
"""


def breakdown(image, micropython=None):
    """-> {"stand_ins": bytes the stand-ins set-up mode loads take (`time` without the asyncio it
    imports, `machine`, `network`), "base": bytes in use before them (interpreter, asyncio, the
    launcher script)}."""
    state = image.device_dir()
    script = state / "probe.py"
    script.write_text(_PROBE)
    # time is already loaded by espsim_run.py (it must come first): measured from a bare start below
    mp = micropython or MICROPYTHON
    res = subprocess.run([mp, str(image.stubs / "espsim_run.py"), str(script), ",".join(STAND_INS)],
                         cwd=str(state), env=image.env(state), capture_output=True, text=True, timeout=60)
    parts = res.stdout.split()
    others, base = int(parts[1]), int(parts[2])

    def alloc_after(imports):
        code = "import gc\n%sgc.collect()\nprint(gc.mem_alloc())" % "".join("import %s\n" % m for m in imports)
        return int(subprocess.run([mp, "-c", code], env=image.env(state), capture_output=True,
                                  text=True, timeout=60).stdout)
    time_own = alloc_after(["time"]) - alloc_after(["asyncio"])  # the stand-in imports asyncio
    shutil.rmtree(state, ignore_errors=True)
    return {"stand_ins": others + time_own, "base": base - time_own}


def main(argv):
    image = Image()
    try:
        if argv:
            ok, steps, _ = run_setup(image, int(argv[0]), show=True)
            print("works" if ok else "FAILS", steps)
            return 0 if ok else 1
        best = smallest_heap(image, log=print)
        print("smallest heap for the whole set-up: %s" % ("%d KB" % (best // KB) if best else "none up to 512 KB"))
        b = breakdown(image)
        print("of which the ESP32 stand-ins (C modules on a board): %.1f KB" % (b["stand_ins"] / KB))
        return 0
    finally:
        shutil.rmtree(image.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
