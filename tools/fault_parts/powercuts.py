"""Fault part `powercuts`: power cuts (SIGKILL, RTC memory lost) at random moments of four
simulated devices; restored totals never go back, the loss stays within the checkpoint bound,
pushed kWh never go back."""
import os
import random
import re
import signal
import threading
import time

from fault_parts.common import Result, make_device, recorded_pushes


_READING = re.compile(r"import ([\d.]+) export ([\d.]+) kWh")
_RESTORED = re.compile(r"energy: restored from ([^:]+): import (\d+) Wh, export (\d+) Wh")


def run(tmp, n, seed):
    """Power cuts at random moments: totals never go backwards, loss within the stated bound."""
    import fake_chargehq
    r = Result("powercuts", "power cuts (SIGKILL) at random moments, RTC memory lost each time")
    chq = tmp / "cuts-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 0, out=open(os.devnull, "w"))
    rng = random.Random(seed)
    n_dev = 4
    speed = 60  # the simulated site runs a minute per second: energy moves fast enough to see
    devs = []
    for i in range(n_dev):
        # the fake server records keys masked to their last 4 characters: make those differ
        devs.append(make_device(tmp, "cuts%d" % i, url, ca, "cuts-key-0123456789-%04d" % i,
                                interval=30,
                                extra_cfg={"device": {"report_s": 1, "watchdog_s": 0},
                                           "energy": {"checkpoint_s": 60},
                                           "source": {"type": "simulated", "speed": speed,
                                                      "peak_solar_w": 12000}}))
    per_dev = [n // n_dev + (1 if i < n % n_dev else 0) for i in range(n_dev)]
    results = [[] for _ in range(n_dev)]  # per boot: (restored wh pair, last seen wh pair)

    def one_device(i):
        fw = devs[i]
        for k in range(per_dev[i] + 1):
            start = len(fw.lines)
            fw.start("power")
            # a cut at any moment: during start-up, a poll, a push or a checkpoint; sometimes
            # right after a clean stop began (Ctrl-C: the checkpoint write is cut)
            life = rng.choice((rng.uniform(0.05, 1.5), rng.uniform(0.5, 6), rng.uniform(3, 12)))
            if n >= 100 and rng.random() < 0.12:
                life = rng.uniform(31, 40)  # long enough to push (30 s floor after a power-on)
            time.sleep(life)
            if k < per_dev[i] and rng.random() < 0.25:
                os.killpg(fw.proc.pid, signal.SIGINT)
                time.sleep(rng.uniform(0, 0.05))
            if k == per_dev[i]:
                fw.stop(10)
            else:
                fw.kill()  # a power cut
            time.sleep(0.05)
            lines = [l for _, l in fw.lines[start:]]
            restored = None
            for l in lines:
                m = _RESTORED.search(l)
                if m:
                    restored = (int(m.group(2)), int(m.group(3)))
                elif "no saved totals" in l:
                    restored = (0, 0)
            seen = None
            for l in lines:
                m = _READING.search(l)
                if m and "reading:" in l:
                    seen = (round(float(m.group(1)) * 1000), round(float(m.group(2)) * 1000))
            results[i].append((restored, seen, life))

    threads = [threading.Thread(target=one_device, args=(i,)) for i in range(n_dev)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    srv.shutdown()
    # bound (docs/energy-store.md): the grid energy of checkpoint_s seconds of running plus one
    # poll; the simulated site's grid power stays under 20 kW, at `speed` x real time
    bound_wh = (60 + 1) * speed * 20000 // 3600
    max_loss = 0
    backwards = 0
    cuts = 0
    for i in range(n_dev):
        best = (0, 0)  # the highest totals known to have been counted so far
        prev_restored = (0, 0)
        for k, (restored, seen, life) in enumerate(results[i]):
            if restored is None:
                continue  # cut before the store said anything: nothing to compare
            if k:
                cuts += 1
            if restored[0] < prev_restored[0] or restored[1] < prev_restored[1]:
                backwards += 1
                r.fail("device %d boot %d: totals went back from %s to %s" % (
                    i, k, prev_restored, restored))
            loss = max(best[0] - restored[0], best[1] - restored[1], 0)
            max_loss = max(max_loss, loss)
            if loss > bound_wh:
                r.fail("device %d boot %d: lost %d Wh (bound %d Wh)" % (i, k, loss, bound_wh))
            prev_restored = restored
            if seen:
                best = (max(best[0], seen[0]), max(best[1], seen[1]))
    # what Charge HQ saw: per device, the pushed kWh never went back across the cuts
    pushed_back = 0
    n_pushes = 0
    by_key = {}
    for p in recorded_pushes(chq):
        m = p["body"].get("siteMeters")
        if m and "imported_kwh" in m:
            by_key.setdefault(p["body"].get("apiKey"), []).append((m["imported_kwh"], m["exported_kwh"]))
    for seq in by_key.values():
        n_pushes += len(seq)
        for a, b in zip(seq, seq[1:]):
            if b[0] < a[0] or b[1] < a[1]:
                pushed_back += 1
                r.fail("pushed kWh went back from %s to %s" % (a, b))
    r.faults = sum(per_dev)
    # Ctrl-C (the clean stops above) that lands while the interpreter is still importing prints
    # a KeyboardInterrupt traceback: that is the REPL's doing, not a fault of the firmware
    all_lines = [l for fw in devs for _, l in fw.lines]
    tracebacks = [l for l in all_lines if "Traceback" in l]
    tracebacks = tracebacks[sum(1 for l in all_lines if l.startswith("KeyboardInterrupt")):]
    r.unhandled = len(tracebacks)
    if tracebacks:
        r.fail("tracebacks: %s" % tracebacks[:3])
    r.detail = ("%d pushes, pushed kWh went back %d times; " % (n_pushes, pushed_back)) + (
        "%d cuts on %d devices; totals never went back (%d times they did); largest loss "
                "%d Wh against a bound of %d Wh (%d s of checkpoint interval + a poll at <= 20 kW, "
                "site at %dx speed)" % (cuts, n_dev, backwards, max_loss, bound_wh, 60, speed))
    return r
