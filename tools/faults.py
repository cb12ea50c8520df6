#!/usr/bin/env python3
"""`make faults`: the fault-injection suite -> docs/reliability.md.

In one run, on the MicroPython unix port with the ESP32 stand-ins:
- push path: DNS, TCP and TLS failures, 4xx/5xx answers, dropped connections, slow servers;
- meters: SPI garbage, absent chip, chip resets, over-range current (ATM90E32 chip model);
  Modbus timeouts, CRC errors, exceptions, garbage, wrong slave (pymodbus peer on a pty);
- state: corrupt config files, corrupt RTC memory and flash records;
- boot: every state file the firmware reads at boot mutated (fault_parts/boot.py), the whole
  firmware must come up in running or set-up mode;
- the whole firmware: Wi-Fi drops, server errors, a 60 s stall, a failing meter, with the
  fake Charge HQ refusing (429) any two pushes less than 30 s apart;
- power cuts at random moments (SIGKILL of the simulated chip), totals checked after each;
- power cuts at random points of over-the-air updates (fault_parts/ota.py);
- random DNS datagrams at the captive portal's DNS, malformed HTTP requests at its web server;
- the MQTT broker: unreachable, silent, wrong credentials, closing the socket, malformed and
  oversize packets, no PINGRESP (a real mosquitto behind a switchable front).
Each part counts faults, unhandled exceptions and recoveries; the summary says pass or fail.
Each part is a module of tools/fault_parts/ (run(tmp, n, seed) -> Result); this driver picks
them (--only), runs them and writes the report.

    .venv/bin/python tools/faults.py [--short] [--only NAME,...] [--out docs/reliability.md]

--short is the quick form that `make test` runs (host_tests/firmware/test_faults.py).
"""
import argparse
import datetime
import importlib
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
from fault_parts import common  # noqa: E402
from fault_parts.common import Result, log  # noqa: E402

FULL = {"push": 400, "ct": 250, "modbus": 200, "state": 400, "boot": 280, "soak": 1, "powercuts": 200,
        "ota": 200, "dns": 100000, "http": 10000, "mqtt": 30}
SHORT = {"push": 25, "ct": 10, "modbus": 14, "state": 200, "boot": 24, "soak": 0, "powercuts": 12,
         "ota": 8, "dns": 3000, "http": 300, "mqtt": 4}
PARTS = tuple(FULL)  # each is tools/fault_parts/NAME.py, imported when it runs


def write_report(results, out, short, elapsed):
    total = sum(r.faults for r in results if r.part not in ("dns", "http", "powercuts"))
    lines = ["# Reliability: the fault-injection suite", "",
             "Written by `make faults` (tools/faults.py); do not edit by hand. Everything runs on the "
             "MicroPython unix port with the ESP32 stand-ins; `make test` runs the short form "
             "(host_tests/firmware/test_faults.py).", "",
             "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "- run: %s, %.0f s" % ("short" if short else "full", elapsed),
             "- injected faults (push, meters, state, whole firmware): **%d**; unhandled exceptions: "
             "**%d**" % (total, sum(r.unhandled for r in results)),
             "", "| part | faults | unhandled | result | detail |", "|---|---|---|---|---|"]
    for r in results:
        lines.append("| %s | %d | %d | %s | %s%s |" % (
            r.what, r.faults, r.unhandled, "pass" if r.ok else "**FAIL**", r.detail,
            ("; problems: " + "; ".join(p.replace("|", "/") for p in r.problems[:4]))
            if r.problems else ""))
    notes = ROOT / "docs" / "reliability-notes.md"
    if notes.exists():
        lines += ["", notes.read_text()]
    pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(out).write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="the quick form (make test)")
    ap.add_argument("--only", help="comma-separated parts: " + ",".join(PARTS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="report file (default docs/reliability.md; none for --short)")
    ap.add_argument("--micropython", metavar="PATH",
                    help="the interpreter (a binary, or 64, 32, 32-frozen: see tools/sim.py)")
    a = ap.parse_args(argv)
    if a.micropython:
        import unix32
        common.use_interpreter(unix32.interpreter(a.micropython))
    counts = SHORT if a.short else FULL
    only = a.only.split(",") if a.only else [p for p in PARTS if counts[p]]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="faults-"))
    t0 = time.time()
    results = []
    try:
        for name in only:
            log("%s: %d ..." % (name, counts[name] or 1))
            t = time.time()
            try:
                part = importlib.import_module("fault_parts." + name)
                r = part.run(tmp, counts[name] or 1, a.seed)
            except Exception:  # a harness failure is a failed part, not a crash
                import traceback
                r = Result(name, name)
                r.fail("harness error: %s" % traceback.format_exc()[-800:])
            results.append(r)
            log("%s: %s in %.0f s: %d faults, %d unhandled. %s%s" % (
                name, "pass" if r.ok else "FAIL", time.time() - t, r.faults, r.unhandled, r.detail,
                ("\n    " + "\n    ".join(r.problems[:6])) if r.problems else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = a.out or (None if a.short else str(ROOT / "docs" / "reliability.md"))
    if out:
        write_report(results, out, a.short, time.time() - t0)
        log("wrote %s" % out)
    bad = [r.part for r in results if not r.ok]
    log("all parts passed" if not bad else "FAILED: %s" % ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
