#!/usr/bin/env python3
"""`make bench`: measure the firmware's speed and memory on the MicroPython unix port and write
docs/benchmarks.md (a table: figure, target, measured, met or not).

Benchmarks measure; tests assert behaviour. Nothing here fails on a missed target: the table
says so. Heap figures come from the 32-bit build with the ESP32's heap shape
(tools/bench_parts/esp32_shape.py). Each figure is a module of tools/bench_parts/; this driver
picks them (--only), runs them and writes the report.

    .venv/bin/python tools/bench.py [--quick] [--only NAME[,NAME]] [--out docs/benchmarks.md]
"""
import argparse
import datetime
import os
import pathlib
import platform
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
import unix32  # noqa: E402
from bench_parts import (alloc, boot, common, cpython, energy, firmware, growth, mqtt,  # noqa: E402
                         portal, push, reboots, size, status)
from bench_parts.common import Env, log  # noqa: E402

# (the order they run in)
FIGURES = ("size", "firmware", "push", "portal", "status", "alloc", "growth", "boot", "reboots", "energy",
           "cpython", "mqtt")
PARTS = {"size": size, "firmware": firmware, "push": push, "portal": portal, "status": status,
         "alloc": alloc, "growth": growth, "boot": boot, "reboots": reboots, "energy": energy,
         "cpython": cpython, "mqtt": mqtt}


def _row_line(row):
    name, target, got, met, note = row
    mark = "-" if met is None else ("yes" if met else "**no**")
    return "| %s%s | %s | %s | %s |" % (name, (" (%s)" % note) if note else "", target, got, mark)


def update_report(rows, out, figures, extra=None):
    """Replace the rows of the re-measured figures in an existing full report (a row is known by
    the start of its name) and say so under the run line; a figure the full run did not have yet
    is added at the end of the table. -> the names that matched more than one row (then nothing
    is written)."""
    lines = pathlib.Path(out).read_text().split("\n")
    missing = []
    for row in rows:
        key = "| " + row[0]
        at = [i for i, line in enumerate(lines) if line.startswith((key + " (", key + " |"))]
        if len(at) > 1:
            missing.append(row[0])
            continue
        if at:
            lines[at[0]] = _row_line(row)
        else:  # new since the full run: after the table's last row
            last = max(i for i, line in enumerate(lines) if line.startswith("| ") and not line.startswith("| figure"))
            lines.insert(last + 1, _row_line(row))
    if missing:
        return missing
    if extra and extra.get("largest"):
        lines = [("Largest compiled modules: %s." % extra["largest"]) if line.startswith("Largest compiled modules: ")
                 else line for line in lines]
    notes = ROOT / "docs" / "benchmarks-notes.md"
    first = notes.read_text().split("\n", 1)[0] if notes.exists() else None
    if first and first in lines:  # the notes as they are now (they explain the rows just written)
        lines = lines[:lines.index(first)] + notes.read_text().split("\n")
    run = next(i for i, line in enumerate(lines) if line.startswith("- run: "))
    lines.insert(run + 1, "- re-measured %s: %s (the other rows are from the run above)" % (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), ", ".join(figures)))
    pathlib.Path(out).write_text("\n".join(lines))
    return missing


def write_report(rows, extra, out, quick, elapsed):
    mp_ver = subprocess.run([unix32.interpreter("32"), "-c",
                             "import sys; print(sys.version, sys.implementation)"],
                            capture_output=True, text=True).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (tools/bench.py); do not edit by hand. Every figure comes from one "
        "run on the MicroPython unix port with the ESP32 stand-ins. Heap figures are taken on the "
        "ESP32's shape: a 32-bit build whose GC heap is two equal areas like ESP32_GENERIC's "
        "(111,936 B at `-X heapsize=114688`; tools/unix32.py), with the app frozen in (the "
        "firmware image) and as `.mpy` files; the 64-bit rows are a reference only (64-bit "
        "figures do not convert to the chip: measured, 32-bit needs 0.64-0.71x, not 0.5x).",
        "",
        "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "- machine: %s, %s, %d cores" % (platform.node() or "host", platform.machine(), os.cpu_count()),
        "- MicroPython (32-bit, ESP32 heap shape): %s" % mp_ver,
        "- run: %s, %.0f s" % ("quick (--quick: fewer cycles)" if quick else "full", elapsed),
        "",
        "| figure | target | measured | met |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(_row_line(row))
    if extra.get("largest"):
        lines += ["", "Largest compiled modules: %s." % extra["largest"]]
    lines += ["", "Misses are kept visible: a target that is not met says **no** above and is "
              "discussed in the notes below.", ""]
    notes = ROOT / "docs" / "benchmarks-notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(out).write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cycles and reboots (a smoke run)")
    ap.add_argument("--only", help="comma-separated figures: " + ",".join(FIGURES))
    ap.add_argument("--out", help="report file (default docs/benchmarks.md; with --only or "
                                  "--quick nothing is written unless --out is given)")
    ap.add_argument("--update", action="store_true",
                    help="with --only: replace those figures' rows in the report (--out or "
                         "docs/benchmarks.md) from a full run, keeping the rest")
    ap.add_argument("--micropython", metavar="PATH",
                    help="interpreter of the whole-firmware figures (boot, reboots, push period): a "
                         "binary, or 64 (default), 32, 32-frozen; the heap rows always run all three")
    a = ap.parse_args(argv)
    if a.micropython:
        common.SIM_ARGV[:] = ["--micropython", unix32.interpreter(a.micropython)]
    if a.update and (not a.only or a.quick):
        ap.error("--update needs --only and a full (not --quick) measurement")
    only = set(a.only.split(",")) if a.only else set(FIGURES)
    t0 = time.time()
    env = Env()
    rows, extra = [], {}
    try:
        for name in FIGURES:
            if name in only:
                log("%s ..." % name)
                t = time.time()
                extra.update(PARTS[name].measure(env, rows, a.quick) or {})
                log("%s done in %.0f s: %s" % (name, time.time() - t, rows[-1][2] if rows else ""))
    finally:
        env.close()
    if a.update:
        out = a.out or str(ROOT / "docs" / "benchmarks.md")
        missing = update_report(rows, out, sorted(only), extra)
        log("updated %s%s" % (out, "; not found there: %s" % missing if missing else ""))
        return 1 if missing else 0
    out = a.out or (None if (a.only or a.quick) else str(ROOT / "docs" / "benchmarks.md"))
    if out:  # a partial run must not replace the full table
        write_report(rows, extra, out, a.quick, time.time() - t0)
        log("wrote %s" % out)
    for r in rows:
        print("  %-70.70s %-16s %s" % (r[0], r[2], "" if r[3] is None else ("ok" if r[3] else "MISSED")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
