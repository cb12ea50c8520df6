"""Start the firmware's web server (host_tests/mp/fx_portal.py) under MicroPython for the portal
tests: compiled as on the device (app, lib, Microdot as .mpy), in a capped heap."""
import os
import pathlib
import subprocess
import sys
import time

from mp import MICROPYTHON, MP_TESTS, MPY_CROSS, ROOT, assert_mp_passed, compile_stand_ins, free_port, mp_env

sys.path.insert(0, str(ROOT / "tools"))
import build_microdot  # noqa: E402

# A heap in which the portal (64-bit, .mpy, with this harness) starts but a whole set-up runs
# short: every request must then fail cleanly and the portal stay up (test_portal_heap). It was
# 96 KB, the first portal issue's 64-bit target; the app as packages (issue 20) loads ~2 KB more
# of module objects at the portal's start on this port, and 96 KB no longer holds the start.
PORTAL_HEAP = int(os.environ.get("PORTAL_HEAP", 104 * 1024))
# The functional tests run on the 64-bit port with the app as .mpy in its heap: more than twice
# the ESP32's pool leaves room for the 64-bit objects and the code (2 x 112 KB was the edge once
# the app became packages: a 1.3 KB block not found with 35 KB free). What fits an ESP32 is
# judged on the 32-bit ESP32-shaped build instead (test_esp32_shape.py, make bench), not here.
FUNCTIONAL_HEAP = 2 * 128 * 1024


def compile_tree(dest):
    """Firmware, lib, stand-ins and the test script as .mpy under dest (what a board imports);
    -> the MICROPYPATH entries to put first."""
    dest = pathlib.Path(dest)
    jobs = []
    fw = ROOT / "firmware"
    for p in fw.rglob("*.py"):
        rel = p.relative_to(fw)
        if rel.parts[0] == "app" or rel.name == "otaboot.py":  # (boot.py, main.py: run as source)
            jobs.append((p, dest / rel.with_suffix(".mpy")))
    for p in (ROOT / "lib").glob("*.py"):
        jobs.append((p, dest / (p.stem + ".mpy")))
    for name in ("mptest.py", "fx_portal.py", "fx_portal_checks.py", "fx_day.py"):
        jobs.append((MP_TESTS / name, dest / name.replace(".py", ".mpy")))
    for src, out in jobs:
        out.parent.mkdir(parents=True, exist_ok=True)
        res = subprocess.run([MPY_CROSS, "-o", str(out), str(src)], capture_output=True, text=True)
        assert res.returncode == 0, "mpy-cross %s: %s" % (src, res.stderr)
    import shutil
    shutil.copytree(str(fw / "web"), str(dest / "web"), dirs_exist_ok=True)  # page templates
    (dest / "fx_portal_run.py").write_text("import fx_portal  # the compiled script\n")
    compile_stand_ins(dest)  # with the launcher beside them (Device starts it from there)
    return [str(dest), str(build_microdot.ensure())]


class Device:
    """fx_portal.py running in its own MicroPython process; .url is its base URL."""

    def __init__(self, mode, state_dir, path, heap=FUNCTIONAL_HEAP, args=(), env=None):
        self.port = free_port()
        self.state_dir = pathlib.Path(state_dir)
        self.url = "http://127.0.0.1:%d" % self.port
        script = pathlib.Path(path[0]) / "fx_portal_run.py"
        cmd = [MICROPYTHON, "-X", "heapsize=%d" % heap, str(pathlib.Path(path[0]) / "espsim_run.py"), str(script),
               str(self.port), mode] + list(args) + (["debug"] if os.environ.get("PORTAL_DEBUG") else [])
        self.out_path = self.state_dir / "fx_portal.out"
        self.err_path = self.state_dir / "fx_portal.err"
        self.proc = subprocess.Popen(cmd, cwd=str(self.state_dir), env=mp_env(self.state_dir, "power", env, path),
                                     stdout=open(self.out_path, "w"), stderr=open(self.err_path, "w"))
        deadline = time.monotonic() + 30
        while "PORTAL-READY" not in self.out_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("portal did not start:\n%s\n%s" % (self.out_path.read_text(),
                                                                       self.err_path.read_text()))
            time.sleep(0.05)

    def output(self):
        return self.out_path.read_text() + self.err_path.read_text()

    def finish(self):
        """Ask the script to run its MicroPython-side checks and stop; -> its stdout (passed)."""
        import urllib.request
        for _ in range(20):  # short of memory, the portal may drop a request: ask again
            try:
                urllib.request.urlopen(self.url + "/_test/finish", timeout=20).read()
                break
            except Exception as e:  # the result below says what happened
                print("finish request: %s" % e)
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        res = subprocess.CompletedProcess(self.proc.args, self.proc.returncode,
                                          self.out_path.read_text(), self.err_path.read_text())
        out = assert_mp_passed(res, "fx_portal.py")
        for line in out.splitlines():
            if line.startswith("PORTAL-HEAP"):
                print(line)  # shown with pytest -s; the benchmark reads the same line
        return out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def heap_line(out):
    for line in out.splitlines():
        if line.startswith("PORTAL-HEAP"):
            return dict(kv.split("=") for kv in line.split()[1:])
    raise AssertionError("no PORTAL-HEAP line in:\n" + out)


def wait_until(fn, what, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


if __name__ == "__main__":  # manual runs: python host_tests/portal_fx.py setup|status STATE_DIR
    import tempfile
    d = Device(sys.argv[1], sys.argv[2], compile_tree(tempfile.mkdtemp()))
    print(d.url)
    os.system("sleep 1000000")
