"""Bench figure `reboots`: push spacing, push period and the reading's age at push time, with the
whole firmware rebooted (soft, watchdog, power-on) at random moments on several simulated devices."""
import random
import re
import statistics
import threading
import time

from bench_parts.common import log, pushes, sim_device


_PUSHED = re.compile(r"pushed \(HTTP 200\).*reading (\d+) ms old")


def measure(env, rows, quick):
    """Push period, spacing and data age with the firmware rebooted at random moments.

    Several simulated devices run at once (each with its own key; Charge HQ's 30 s rule is per
    key) so that 100 reboots fit in a few minutes of real time."""
    n_dev, per_dev = (4, 2) if quick else (20, 5)
    rng = random.Random(7)
    devices = [sim_device(env, "reboot%d" % i, interval=60, key="bench-reboot-%02d-k%04d" % (i, i))
               for i in range(n_dev)]
    reboots = [0] * n_dev
    causes = ("soft", "wdt", "power")
    plan = []  # per device: list of (uptime before the reboot, cause)
    for i in range(n_dev):
        plan.append([(rng.uniform(5, 130), causes[rng.randrange(3)]) for _ in range(per_dev)])
    boots = {}  # device -> [(start time, cause)]

    def run_device(i):
        d = devices[i]
        cause = "power"
        for up, next_cause in plan[i] + [(rng.uniform(61, 70), None)]:
            t0 = d.start(cause)
            boots.setdefault(i, []).append((t0, cause))
            time.sleep(up)
            if next_cause is None:
                d.kill()
                break
            # a power cut loses RTC memory; soft and watchdog resets keep it (as on the chip)
            d.kill(None if next_cause == "power" else next_cause)
            if next_cause != "power":
                (d.fs / ".reset_reason").unlink()
            reboots[i] += 1
            cause = next_cause

    t_start = time.time()
    threads = [threading.Thread(target=run_device, args=(i,)) for i in range(n_dev)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    by_key = {}
    for p in pushes(env):
        if p["t"] < t_start:
            continue  # another figure's devices
        k = p["body"].get("apiKey")
        if any(k == "****" + d.a.api_key[-4:] for d in devices):
            by_key.setdefault(k, []).append(p)
    gaps_all, periods, statuses, short = [], [], [], []
    for i, d in enumerate(devices):
        ps = by_key.get("****" + d.a.api_key[-4:], [])
        ts = [p["t"] for p in ps]
        statuses += [p["status"] for p in ps]
        gaps_all += [b - a for a, b in zip(ts, ts[1:])]
        for a, b in zip(ts, ts[1:]):
            if b - a < 29.9:  # which boot was it? (the start just before the second push)
                boot = max(((t, c) for t, c in boots.get(i, []) if t <= b), default=(0, "?"))
                short.append("%.1f s after a %s start" % (b - a, boot[1]))
                log("short gap on device %d: %.2f s; boot %s %.2f s before the push" % (
                    i, b - a, boot[1], b - boot[0]))
    # period: consecutive pushes within one boot (both inside the same boot's run)
    ages = []
    for i, d in enumerate(devices):
        ps = sorted(p["t"] for p in by_key.get("****" + d.a.api_key[-4:], []))
        starts = [t for t, _ in boots.get(i, [])] + [float("inf")]
        for a, b in zip(ps, ps[1:]):
            same = any(s <= a and b < e for s, e in zip(starts, starts[1:]))
            if same:
                periods.append(b - a)
        for _, line in d.lines:
            m = _PUSHED.search(line)
            if m:
                ages.append(int(m.group(1)) / 1000)
    total_reboots = sum(reboots)
    n_push = len(gaps_all) + len(by_key)
    min_gap = min(gaps_all) if gaps_all else None
    rows.append(("Push spacing over %d simulated reboots (soft, watchdog and power-on at random "
                 "moments, %d devices, %d pushes)" % (total_reboots, n_dev, n_push),
                 "never under 30 s", "min %.2f s" % min_gap if min_gap is not None else "no pushes",
                 min_gap is not None and min_gap >= 29.9,
                 "%d answered 429%s" % (statuses.count(429),
                                        "; short gaps: " + ", ".join(short[:5]) if short else "")))
    if periods:
        dev = max(abs(p - 60) for p in periods)
        rows.append(("Push period within a boot (%d periods)" % len(periods), "60 +- 0.5 s",
                     "%.2f .. %.2f s (mean %.3f)" % (min(periods), max(periods),
                                                     statistics.mean(periods)),
                     dev <= 0.5, ""))
    if ages:
        rows.append(("Age of the reading at push time (%d pushes)" % len(ages), "<= 1 s",
                     "max %.2f s, mean %.2f s" % (max(ages), statistics.mean(ages)),
                     max(ages) <= 1.0, "the sample period is 1 s"))
