"""Bench figure `growth`: heap growth of the push loop over many cycles (bench/mp_cycles.py) on
the ESP32 shape with the app frozen in."""
import json

import unix32
from bench_parts.common import sources, with_source


def measure(env, rows, quick):
    label, src, board, extra, peer = sources(env)[-1 if not quick else 0]
    cycles = 1000 if quick else 10000

    def on_source(src, board, extra):
        state = env.device_dir("growth")
        return env.run("bench/mp_cycles.py", [env.url, "ca.der", cycles, 100, json.dumps(src),
                                              board or "-"],
                       state, heap=unix32.ESP32_HEAP, extra_env=extra,
                       micropython=unix32.interpreter("32-frozen"))
    res, b = with_source(label, src, board, extra, peer, on_source)
    if res.returncode != 0 or "heap_end" not in b:
        rows.append(("Heap growth over %d cycles" % cycles, "0 B", "failed", False,
                     (res.stdout + res.stderr)[-300:]))
        return
    growth = int(b["heap_end"]) - int(b["heap_after_100"])
    rows.append(("Heap growth from cycle 100 to cycle %d (ESP32 shape, app frozen in, 112 KB; %s; a push every 100 cycles, "
                 "after gc.collect())" % (cycles, label), "0 B", "%+d B" % growth, growth <= 0,
                 "%s B in use after cycle 100" % b["heap_after_100"]))
