"""The heap figures of `make bench` taken on the ESP32's shape (tools/unix32.py): the 32-bit unix
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

This module holds what those three figures (firmware.py, push.py, portal.py) share: the
interpreters and their targets, the bisection of the smallest heap, the row they write, and
running the interpreters side by side.
"""
import threading

from bench_parts.common import KB

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


def row(what, label, target, heap, note):
    name = "Smallest `-X heapsize`, %s: %s" % (what, label)
    if heap is None:
        return (name, "-" if target is None else "<= %d KB" % target, "failed at 320 KB", False, note)
    return (name, "-" if target is None else "<= %d KB" % target, "%d KB" % (heap // KB),
            None if target is None else heap <= target * KB, note)


def parallel(one, extra=None, skip=()):
    threads = [threading.Thread(target=one, args=(label, spec)) for label, spec, _ in INTERPRETERS
               if spec not in skip]
    if extra:
        threads.append(threading.Thread(target=extra))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
