"""Bench figure `portal`: the smallest heap for a new board's whole set-up (tools/portal_heap.py),
per interpreter (esp32_shape.py)."""
import unix32
from bench_parts.common import log
from bench_parts.esp32_shape import INTERPRETERS, parallel, row


def measure(env, rows, quick):
    """Rows: a new board's whole set-up (tools/portal_heap.py), per interpreter."""
    import portal_heap
    image = portal_heap.Image(env.tmp / "portal")
    results = {}

    def one(label, spec):
        results[label] = portal_heap.smallest_heap(image, log=log, micropython=unix32.interpreter(spec))
    parallel(one)
    for label, spec, targets in INTERPRETERS:
        rows.append(row("set-up portal, a whole set-up (page, OS probes, two forms with mistakes, a "
                        "good form that joins, saves and restarts)", label, targets["portal"],
                        results.get(label), ""))
