"""Bench figure `alloc`: heap allocated per poll of each source (bench/mp_alloc.py), on the
32-bit ESP32-shaped build (tools/unix32.py)."""
import json

import unix32
from bench_parts.common import sources, with_source


def measure(env, rows, quick):
    """Heap per poll on the 32-bit ESP32-shaped build (31-bit small ints: an int that is small on
    64-bit can be a heap object there)."""
    targets = {"simulated": None, "ATM90E32": 0, "Modbus": 256}
    mp32 = unix32.interpreter("32")
    for label, src, board, extra, peer in sources(env):
        def on_source(src, board, extra):
            state = env.device_dir("alloc")
            res, b = env.run("bench/mp_alloc.py", [json.dumps(src), board or "-",
                                                   300], state, extra_env=extra, micropython=mp32)
            return res, b
        res, b = with_source(label, src, board, extra, peer, on_source)
        target = next((v for k, v in targets.items() if label.startswith(k)), None)
        if "alloc_per_poll" not in b:
            rows.append(("Heap allocated per poll (32-bit): %s" % label, _t(target), "failed", False,
                         (res.stdout + res.stderr)[-300:]))
            continue
        got = int(b["alloc_per_poll"])
        rows.append(("Heap allocated per poll (32-bit): %s" % label, _t(target), "%d B" % got,
                     None if target is None else got <= target,
                     "beyond the %s B of the poll coroutine itself (raw %s B)" % (
                         b["alloc_coroutine"], b["alloc_per_poll_raw"])))


def _t(target):
    return "-" if target is None else "%d B" % target
