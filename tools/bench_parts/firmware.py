"""Bench figure `firmware`: the smallest heap in which the whole firmware runs in normal mode, as on
a board (boot, CT source, verified HTTPS pushes, status page and /api/status every 2 s, the
console's `status` typed), per interpreter (esp32_shape.py), and the lean configuration's."""
import time
import urllib.request

import unix32
from bench_parts.common import KB, log
from bench_parts.esp32_shape import ESP32_POOL, INTERPRETERS, bisect, parallel, row
from mp import free_port

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


def measure(env, rows, quick):
    """Rows: the whole firmware in normal mode, per interpreter (the frozen one alone)."""
    results = {}

    def one(label, spec):
        mp = unix32.interpreter(spec)
        # (a frozen build runs its own app: .frozen leads the path; the others run `make build`'s)
        results[label] = bisect(lambda h: firmware_runs(env, mp, h, name=spec)[0], lo=32 * KB,
                                log=log, what="firmware %s" % spec)

    def lean():  # the .mpy files with what can be left out left out: does it fit a plain ESP32?
        results["lean"] = bisect(lambda h: firmware_runs(env, unix32.interpreter("32"), h, name="lean",
                                                         lean=True)[0], lo=32 * KB, log=log, what="lean .mpy")
    # The budget row (the firmware image) is bisected alone, after the others: side by side on two
    # cores the boots' timing moved its edge (a push's TLS handshake overlapping more page
    # fetches) by up to 5 KB, a host's artefact no chip has. The others wait mostly: side by side.
    parallel(one, extra=lean, skip=("32-frozen",))
    for label, spec, _ in INTERPRETERS:
        if spec == "32-frozen":
            one(label, spec)
    for label, spec, targets in INTERPRETERS:
        rows.append(row("whole firmware in normal mode (CT board, verified HTTPS pushes, status page "
                        "and /api/status every 2 s, console `status`; two pushes)", label,
                        targets["firmware"], results.get(label), ""))
    rows.append(row("whole firmware, lean configuration (status page and console off; CT board, "
                    "verified HTTPS pushes; two pushes)", INTERPRETERS[1][0], ESP32_POOL,
                    results.get("lean"), "the most that can be left out of the .mpy deploy"))
