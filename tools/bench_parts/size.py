"""Bench figure `size`: the compiled firmware (.mpy of firmware/ and lib/, as deployed) against its
64 KB budget, with Microdot beside it and the five largest modules (a line under the table)."""
from bench_parts.common import KB


def measure(env, rows, quick):
    app_total = sum(env.sizes.values())
    rows.append(("Compiled firmware (.mpy of firmware/ and lib/, %d modules)" % len(env.sizes),
                 "<= 64 KB", "%.1f KB" % (app_total / KB), app_total <= 64 * KB,
                 "Microdot (portal/status page) adds %.1f KB" % (env.microdot / KB)
                 if env.microdot else "Microdot not installed"))
    biggest = sorted(env.sizes.items(), key=lambda kv: -kv[1])[:5]
    return {"largest": ", ".join("%s %.1f KB" % (k.split("/", 1)[1], v / KB) for k, v in biggest)}
