"""Bench figure `push`: the smallest heap in which the push loop (bench/mp_cycles.py: poll,
energy, validation, body, verified HTTPS push) runs its cycles, per interpreter (esp32_shape.py)."""
import json
import pathlib

import unix32
from bench_parts.common import KB, log, sources, with_source
from bench_parts.esp32_shape import INTERPRETERS, bisect, parallel, row


def measure(env, rows, quick):
    """Rows: the push loop (bench/mp_cycles.py) with verified TLS, per interpreter."""
    srcs = sources(env)
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
        with_source(label_src, src, board, extra, peer, lambda s, b, e: smallest(label, spec, e))

    def smallest(label, spec, extra):
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
    parallel(one)
    for label, spec, targets in INTERPRETERS:
        heap, b = results.get(label, (None, {}))
        note = ("%s pushes, all HTTP 200; in use after cycle 100: %d KB" % (
            b.get("pushes"), int(b["heap_after_100"]) // KB)) if b.get("heap_after_100") else ""
        rows.append(row("push loop %d cycles (%s; poll, energy, validation, body, verified HTTPS push)"
                        % (cycles, label_src), label, targets["push"], heap, note))
