"""Bench figure `cpython`: the resident memory the job adds, the firmware on the unix port against
a minimal CPython pusher (bench/cpython_pusher.py)."""
import subprocess
import sys
import time

from bench_parts.common import KB, MICROPYTHON, ROOT, sim_device


def measure(env, rows, quick):
    """Resident memory the job adds: the firmware on the unix port vs a minimal CPython pusher.

    The PyPI `micropython` command runs MicroPython inside a CPython process (an extension
    module), so each side is measured above its own bare interpreter doing nothing."""
    secs = 20 if quick else 40
    heap = 256 * KB
    d = sim_device(env, "rss", interval=30, key="bench-rss-key-8001", heap=heap)
    d.start("power")
    peak_mp = _watch_rss(d.proc.pid, secs)
    alive = d.proc.poll() is None
    d.kill()
    if not alive:
        rows.append(("Memory against a minimal CPython pusher", "1/10", "failed", False,
                     "the firmware stopped: " + " / ".join(l for _, l in d.lines[-3:])))
        return
    # base: a tiny heap, so the firmware's whole heap counts as its own
    base_mp = _bare_rss([MICROPYTHON, "-X", "heapsize=4096", "-c", "import time; time.sleep(8)"])
    script = ROOT / "bench" / "cpython_pusher.py"
    proc = subprocess.Popen([sys.executable, str(script), env.url, env.ca, "bench-rss-key-8002"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    peak_py = _watch_rss(proc.pid, secs)
    proc.kill()
    proc.wait()
    base_py = _bare_rss([sys.executable, "-c", "import time; time.sleep(8)"])
    mp, py = peak_mp - base_mp, peak_py - base_py
    ratio = mp / py if py > 0 else float("inf")
    rows.append(("Memory the job adds to its interpreter: firmware on the unix port (256 KB heap) "
                 "vs a minimal CPython pusher (bench/cpython_pusher.py: same simulated meter, "
                 "same verified HTTPS push)", "1/10",
                 "%d KB vs %d KB = 1/%.1f" % (mp // KB, py // KB, 1 / ratio if ratio else 0),
                 ratio <= 0.1,
                 "peak RSS over %d s minus the bare interpreter's: %.1f-%.1f MB vs %.1f-%.1f MB"
                 % (secs, peak_mp / 2**20, base_mp / 2**20, peak_py / 2**20, base_py / 2**20)))


def _bare_rss(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = _watch_rss(proc.pid, 4)
    proc.kill()
    proc.wait()
    return peak


def _watch_rss(pid, secs):
    peak = 0
    end = time.time() + secs
    while time.time() < end:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            break
        time.sleep(0.5)
    return peak
