"""Bench figure `boot`: power-on to the first push received, the whole firmware in the simulator."""
import statistics
import time

from bench_parts.common import pushes, sim_device


def measure(env, rows, quick):
    times = []
    for i in range(2 if quick else 5):
        # (the fake server masks keys to their last 4 characters: each figure has its own range)
        d = sim_device(env, "boot%d" % i, interval=60, key="bench-boot-%d-key%04d" % (i, 9000 + i))
        before = len(pushes(env))
        t0 = d.start("power")
        t_push = None
        while time.time() - t0 < 30:
            p = pushes(env)[before:]
            if p:
                t_push = p[0]["t"]
                break
            time.sleep(0.02)
        d.kill()
        if t_push is None:
            rows.append(("Boot to first push", "2 s", "no push in 30 s", False,
                         "\n".join(l for _, l in d.lines[-5:])))
            return
        times.append(t_push - t0)
    rows.append(("Boot to first push (power-on, network up, fresh device; interpreter start to "
                 "the push received; median of %d)" % len(times), "2 s",
                 "%.2f s" % statistics.median(times), statistics.median(times) <= 2.0,
                 "min %.2f s, max %.2f s" % (min(times), max(times))))
