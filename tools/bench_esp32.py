"""The heap figures of `make bench`, taken on the ESP32's shape (tools/unix32.py): the 32-bit unix
port whose GC heap is two equal areas like ESP32_GENERIC's after its growth (112 KB at
-X heapsize=114688), with the app frozen in (the firmware image) and as .mpy files (stock
MicroPython + `make deploy`); the 64-bit PyPI port only as a reference.

Each figure is the smallest `-X heapsize` (bisected, 1 KB) in which a job runs to its end:
  firmware  the whole firmware in normal mode, as on a board: boot, CT source (chip model),
            verified HTTPS pushes, the status page and /api/status fetched every 2 s, the serial
            console's `status` typed; two pushes, every page answered, no MemoryError
  push      the push loop's work cycle after cycle (bench/mp_cycles.py: poll, energy, validation,
            body, verified HTTPS push)
  portal    a new board's whole set-up (tools/portal_heap.py)

What the emulation does not model: the IDF heap beside the GC heap (Wi-Fi buffers, mbedTLS's
~40 KB of TLS buffers: on the unix port mbedTLS allocates from libc, as on the ESP32 from the IDF
heap, so neither is in these figures), flash-mapped constant data, and the IDF's own tasks.
"""
import json
import pathlib
import sys
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
import unix32  # noqa: E402
from mp import free_port  # noqa: E402

KB = 1024
ESP32_POOL = 112  # KB: what -X heapsize=114688 gives (111,936 B of GC pool)
# (label, interpreter spec, targets {figure: KB or None}): the ESP32-shaped rows first
INTERPRETERS = (
    ("ESP32 shape (32-bit, 2 x 56 KB areas), app frozen in (firmware image)", "32-frozen",
     {"firmware": 64, "push": 64, "portal": 44}),
    ("ESP32 shape (32-bit, 2 x 56 KB areas), app as .mpy files (stock MicroPython + make deploy)", "32",
     {"firmware": ESP32_POOL, "push": ESP32_POOL, "portal": ESP32_POOL}),
    ("64-bit unix port, .mpy (reference only: not an ESP32 figure)", "64",
     {"firmware": None, "push": None, "portal": None}),
)


def bisect(works, lo=16 * KB, hi=320 * KB, log=None, what=""):
    """-> smallest heap in bytes (1 KB steps) for which works(heap) holds, or None."""
    if not works(hi):
        return None
    while hi - lo > KB:
        mid = (lo + hi) // 2 // KB * KB
        ok = works(mid)
        if log:
            log("%s %d KB: %s" % (what, mid // KB, "works" if ok else "fails"))
        lo, hi = (lo, mid) if ok else (mid, hi)
    return hi


# --- the whole firmware, normal mode ----------------------------------------------------------
LEAN = {"portal": {"status_page": False}, "console": {"enabled": False}}


def firmware_runs(env, micropython, heap, compiled=True, seconds=34, name="fw", lean=False):
    """The unchanged firmware (sim.Device) at `heap` for `seconds`: True when it pushed twice
    (HTTP 200), answered every page fetched after the first, printed the console's status, and
    never raised MemoryError. lean: status page and console off (no pages, no typing).
    -> (ok, why)"""
    import sim
    port = free_port()
    cfg = {"device": {"report_s": 0}}
    cfg.update(LEAN if lean else {})
    dev = sim.new_device(env.tmp / ("%s-%d" % (name, heap)), env.url, open(env.ca, "rb").read(),
                         ["--interval", "30", "--api-key", "bench-esp32-%s-%d-key" % (name, heap),
                          "--source", "atm90e32", "--micropython", micropython, "--heap", str(heap),
                          "--http-port", str(port)] + (["--mpy"] if compiled else []),
                         cfg, serial=True)
    pages = []
    ran = None
    try:
        dev.start("power")
        if lean:  # two pushes (the second 30 s after the first, however long the boot took)
            t_end = time.time() + seconds + 30
            while time.time() < t_end and dev.alive() and _count(dev, "pushed (HTTP 200)") < 2 \
                    and not _count(dev, "MemoryError"):
                time.sleep(0.5)
            alive = dev.alive()
            return _judge(dev, alive, pages, lean)
        up = False
        for _ in range(100):
            if _get(port, "/api/status") == 200:
                up = True
                break
            if not dev.alive():
                break
            time.sleep(0.2)
        if not up:
            return False, "status page never answered"
        t_end = time.time() + seconds
        typed = False
        while time.time() < t_end and dev.alive():
            pages += [_get(port, "/"), _get(port, "/api/status")]
            if not typed:
                dev.type("\rstatus\r")
                typed = True
            time.sleep(2)
        alive = dev.alive()
        ran = len(dev.lines)
    finally:
        # (judged on what it printed while running: the unix port raises Ctrl-C's KeyboardInterrupt
        # from the signal handler, and one landing inside a collection leaves the heap locked,
        # a 'MemoryError: heap is locked' at the stop that no ESP32 has)
        dev.stop()
    return _judge(dev, alive, pages, lean, ran)


def _count(dev, text):
    return sum(1 for _, line in dev.lines if text in line)


def _judge(dev, alive, pages, lean, ran=None):
    out = "\n".join(line for _, line in dev.lines[:ran])
    if not alive:
        return False, "device stopped"
    if "MemoryError" in out:
        return False, "MemoryError"
    if any(p != 200 for p in pages):
        return False, "a page failed: %s" % [p for p in pages if p != 200][:3]
    if not lean and "free heap" not in out:
        return False, "no console status"
    ok_pushes = out.count("pushed (HTTP 200)")
    if ok_pushes < 2:
        return False, "%d pushes" % ok_pushes
    return True, "%d pushes, %d pages" % (ok_pushes, len(pages))


def _get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            r.read()
            return r.status
    except Exception as e:
        return type(e).__name__


# --- figures ----------------------------------------------------------------------------------
def _row(what, label, target, heap, note):
    name = "Smallest `-X heapsize`, %s: %s" % (what, label)
    if heap is None:
        return (name, "-" if target is None else "<= %d KB" % target, "failed at 320 KB", False, note)
    return (name, "-" if target is None else "<= %d KB" % target, "%d KB" % (heap // KB),
            None if target is None else heap <= target * KB, note)


def fig_firmware(env, rows, log):
    """Rows: the whole firmware in normal mode, per interpreter (run side by side: they wait)."""
    results = {}

    def one(label, spec):
        mp = unix32.interpreter(spec)
        # (a frozen build runs its own app: .frozen leads the path; the others run `make build`'s)
        results[label] = bisect(lambda h: firmware_runs(env, mp, h, name=spec)[0], lo=32 * KB,
                                log=log, what="firmware %s" % spec)

    def lean():  # the .mpy files with what can be left out left out: does it fit a plain ESP32?
        results["lean"] = bisect(lambda h: firmware_runs(env, unix32.interpreter("32"), h, name="lean",
                                                         lean=True)[0], lo=32 * KB, log=log, what="lean .mpy")
    _parallel(one, extra=lean)
    for label, spec, targets in INTERPRETERS:
        rows.append(_row("whole firmware in normal mode (CT board, verified HTTPS pushes, status page "
                         "and /api/status every 2 s, console `status`; two pushes)", label,
                         targets["firmware"], results.get(label), ""))
    rows.append(_row("whole firmware, lean configuration (status page and console off; CT board, "
                     "verified HTTPS pushes; two pushes)", INTERPRETERS[1][0], ESP32_POOL,
                     results.get("lean"), "the most that can be left out of the .mpy deploy"))


def fig_push(env, rows, log, quick):
    """Rows: the push loop (bench/mp_cycles.py) with verified TLS, per interpreter."""
    import bench
    srcs = bench.sources(env)
    label_src, src, board, extra, peer = srcs[1 if len(srcs) > 1 else 0]
    cycles = 100 if quick else 1000

    def ok(mp, heap, n, extra):
        state = env.device_dir("cycles-%s-%d" % (pathlib.Path(mp).name, heap))
        # (a run near the heap's edge can crawl with the collector thrashing: cut it off)
        res, b = env.run("bench/mp_cycles.py", [env.url, "ca.der", n, 1, json.dumps(src), board or "-"],
                         state, heap=heap, extra_env=extra, micropython=mp, timeout=60 + n // 2)
        return res.returncode == 0 and b.get("push_failures") == "0", b
    results = {}

    def one(label, spec):  # (each interpreter with its own chip or peer: they run side by side)
        bench.with_source(label_src, src, board, extra, peer, lambda s, b, e: measure(label, spec, e))

    def measure(label, spec, extra):
        mp = unix32.interpreter(spec)
        heap = bisect(lambda h: ok(mp, h, 30, extra)[0], log=log, what="push %s" % spec)
        for _ in range(16):  # confirm the long run; grow in 1 KB steps when it needs more
            if heap is None:
                break
            good, b = ok(mp, heap, cycles, extra)
            if good:
                results[label] = (heap, b)
                return
            heap += KB
        results[label] = (None, {})
    _parallel(one)
    for label, spec, targets in INTERPRETERS:
        heap, b = results.get(label, (None, {}))
        note = ("%s pushes, all HTTP 200; in use after cycle 100: %d KB" % (
            b.get("pushes"), int(b["heap_after_100"]) // KB)) if b.get("heap_after_100") else ""
        rows.append(_row("push loop %d cycles (%s; poll, energy, validation, body, verified HTTPS push)"
                         % (cycles, label_src), label, targets["push"], heap, note))


def fig_portal(env, rows, log):
    """Rows: a new board's whole set-up (tools/portal_heap.py), per interpreter."""
    import portal_heap
    image = portal_heap.Image(env.tmp / "portal")
    results = {}

    def one(label, spec):
        results[label] = portal_heap.smallest_heap(image, log=log, micropython=unix32.interpreter(spec))
    _parallel(one)
    for label, spec, targets in INTERPRETERS:
        rows.append(_row("set-up portal, a whole set-up (page, OS probes, two forms with mistakes, a "
                         "good form that joins, saves and restarts)", label, targets["portal"],
                         results.get(label), ""))


def _parallel(one, extra=None):
    threads = [threading.Thread(target=one, args=(label, spec)) for label, spec, _ in INTERPRETERS]
    if extra:
        threads.append(threading.Thread(target=extra))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
