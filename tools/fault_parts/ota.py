"""Fault part `ota` (tools/faults.py): power cuts at random points of over-the-air
updates. Four simulated meters (the unchanged firmware) each take update after update through the
LAN endpoint, as `make ota` sends them (tools/ota.py), and are killed (SIGKILL: a power cut, RTC
memory lost) at a random moment: while the manifest or a file streams in, at the commit, during
the restart, during the first boots on trial, around the confirmation. About one update in six
is a version that cannot start. After every cut the meter powers on again and must come up on a
whole version (the old one or the new one, never a broken one confirmed), take readings, and
later updates must work again. Over the whole run: restored totals never go back and lose at
most the checkpoint bound, pushed kWh never go back, no two pushes under 30 s apart (the fake
Charge HQ answers 429), config.json untouched, no traceback but the broken versions' own."""
import os
import random
import re
import threading
import time

import ota as ota_tool
import ota_fx
from fault_parts import common
from fault_parts.common import Result, recorded_pushes

_RESTORED = re.compile(r"energy: restored from ([^:]+): import (\d+) Wh, export (\d+) Wh")
_READING = re.compile(r"import ([\d.]+) export ([\d.]+) kWh")
_BROKEN_TEXT = "this version cannot start"


def run(tmp, n, seed):
    import fake_chargehq
    r = Result("ota", "power cuts at random points of over-the-air updates (upload, commit, restart, "
                      "trial, confirmation), 1 in 6 a version that cannot start")
    chq = tmp / "ota-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 29.9, out=open(os.devnull, "w"))
    good = ota_fx.make_build(tmp / "ota-build")
    bad = ota_fx.broken_build(good, tmp / "ota-bad")
    files = {"good": ota_tool.build_files(good), "bad": ota_tool.build_files(bad)}
    n_dev = 4
    speed = 60
    per_dev = [n // n_dev + (1 if i < n % n_dev else 0) for i in range(n_dev)]
    meters = []
    for i in range(n_dev):
        m = ota_fx.Meter(tmp / ("ota%d" % i), url, open(ca, "rb").read(), interval=30,
                         extra_cfg={"device": {"report_s": 1, "watchdog_s": 0},
                                    "energy": {"checkpoint_s": 60},
                                    "source": {"type": "simulated", "speed": speed, "peak_solar_w": 12000}},
                         argv=common.SIM_ARGV)
        m.dev.cfg["chargehq"]["api_key"] = "ota-key-0123456789-%04d" % i
        (m.dev.fs / "config.json").write_text(__import__("json").dumps(m.dev.cfg, indent=1))
        meters.append(m)
    stats = {"cuts": 0, "at": {}, "new": 0, "old": 0, "rolled_back": 0, "upload_s": []}
    problems = []
    lock = threading.Lock()

    def fail(why):
        with lock:
            problems.append(why)

    def phase(p):
        with lock:
            stats["at"][p] = stats["at"].get(p, 0) + 1

    def one_meter(i):
        m = meters[i]
        rng = random.Random(seed * 1000 + i)  # one per meter: a run repeats with the same seed
        cfg0 = (m.dev.fs / "config.json").read_text()
        m.start()
        confirmed = "1.0.0"  # the version known to work
        for k in range(per_dev[i]):
            if not _settled(m, 150):
                fail("meter %d run %d: not up and confirmed within 150 s (%s)" % (i, k, _last_state(m)))
                return
            st = m.get_json("/api/ota")
            confirmed = st["version"]
            kind = "bad" if rng.random() < 1 / 6 else "good"
            version = "%s-%d-%d" % (kind, i, k)
            ph = rng.choice(PHASES)
            when = _update_and_cut(m, files[kind], version, ph, rng, stats, lock)
            phase(ph)
            with lock:
                stats["cuts"] += 1
            if not _settled(m, 200):
                fail("meter %d run %d (%s cut %s): no working version after the cut (%s)" % (
                    i, k, version, when, _last_state(m)))
                return
            st = m.get_json("/api/ota")
            if st["version"] == version and kind == "bad":
                fail("meter %d: the broken version %s was confirmed" % (i, version))
            elif st["version"] == version:
                with lock:
                    stats["new"] += 1
            elif st["version"] == confirmed:
                with lock:
                    stats["old"] += 1
                    stats["rolled_back"] += "rolled back from %s" % version in (st.get("note") or "")
            else:
                fail("meter %d run %d: runs %s, neither the old %s nor the new %s" % (
                    i, k, st["version"], confirmed, version))
        if (m.dev.fs / "config.json").read_text() != cfg0:
            fail("meter %d: config.json changed" % i)

    threads = [threading.Thread(target=one_meter, args=(i,)) for i in range(n_dev)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for m in meters:
        m.stop()
    srv.shutdown()
    for p in problems:
        r.fail(p)
    # totals: per meter, restored totals never go back; loss within the checkpoint bound
    bound_wh = (60 + 1) * speed * 20000 // 3600
    max_loss = 0
    for i, m in enumerate(meters):
        best, prev = (0, 0), (0, 0)
        for _, line in m.dev.lines:
            mm = _RESTORED.search(line)
            if mm:
                got = (int(mm.group(2)), int(mm.group(3)))
                if got[0] < prev[0] or got[1] < prev[1]:
                    r.fail("meter %d: totals went back from %s to %s" % (i, prev, got))
                loss = max(best[0] - got[0], best[1] - got[1], 0)
                max_loss = max(max_loss, loss)
                if loss > bound_wh:
                    r.fail("meter %d: lost %d Wh (bound %d)" % (i, loss, bound_wh))
                prev = got
            elif "reading:" in line:
                mm = _READING.search(line)
                if mm:
                    seen = (round(float(mm.group(1)) * 1000), round(float(mm.group(2)) * 1000))
                    best = (max(best[0], seen[0]), max(best[1], seen[1]))
    ps = recorded_pushes(chq)
    by_key = {}
    for p in ps:
        sm = p["body"].get("siteMeters")
        if sm and "imported_kwh" in sm:
            by_key.setdefault(p["body"].get("apiKey"), []).append((p["t"], sm["imported_kwh"], sm["exported_kwh"]))
    too_close = 0
    for seq in by_key.values():
        for a, b in zip(seq, seq[1:]):
            if b[1] < a[1] or b[2] < a[2]:
                r.fail("pushed kWh went back from %s to %s" % (a[1:], b[1:]))
            if b[0] - a[0] < 29.9:
                too_close += 1
    n429 = sum(1 for p in ps if p["status"] == 429)
    if too_close or n429:
        r.fail("%d pushes under 30 s apart, %d answered 429" % (too_close, n429))
    lines = [l for m in meters for _, l in m.dev.lines]
    tb = [j for j, l in enumerate(lines) if "Traceback" in l]
    foreign = [lines[j] for j in tb if not any(_BROKEN_TEXT in x for x in lines[j:j + 12])]
    r.unhandled = len(foreign)
    if foreign:
        r.fail("tracebacks: %s" % foreign[:3])
    r.faults = stats["cuts"]
    up = stats["upload_s"]
    r.detail = ("%d cuts on %d meters (%s); after the cut: new version %d, old version %d (%d of them "
                "rolled back by themselves); %d pushes, none under 30 s; largest energy loss %d Wh "
                "(bound %d Wh); an uncut update took %.1f-%.1f s to send and commit" % (
                    stats["cuts"], n_dev, ", ".join("%s %d" % kv for kv in sorted(stats["at"].items())),
                    stats["new"], stats["old"], stats["rolled_back"], len(ps), max_loss, bound_wh,
                    min(up) if up else 0, max(up) if up else 0))
    return r


PHASES = ("manifest", "file", "commit", "restart", "trial", "confirmation")


def _update_and_cut(m, files, version, ph, rng, stats, lock):
    """Send an update as tools/ota.py does and cut the power in phase `ph`: while the manifest
    streams in, while a random file does, during the commit, during the restart after it, on a
    trial boot, or right at the confirmation. -> where exactly (text)."""
    dev = ota_tool.Device("127.0.0.1:%d" % m.port, ota_fx.PASSWORD, timeout=20)

    def in_flight(method, path, body, delay):
        th = threading.Thread(target=_quiet, args=(dev, method, path, body), daemon=True)
        th.start()
        time.sleep(delay)
        m.dev.kill()  # the power cut; the Meter's supervisor powers it on again (RTC memory lost)
        th.join(30)
    body = ota_tool.manifest(files, version)
    if ph == "manifest":
        d = rng.uniform(0, 0.2)
        in_flight("POST", "/api/ota/begin", body, d)
        return "%.3f s into the manifest" % d
    t0 = time.time()
    st, r = dev.call("POST", "/api/ota/begin", body)
    if st != 200:
        m.dev.kill()
        return "after a refused begin (%s)" % r.get("error")
    local = dict(files)
    want = r["want"]
    j = rng.randrange(len(want)) if ph == "file" else len(want)
    for idx, rel in enumerate(want):
        data = local[rel].read_bytes()
        if idx == j:
            d = rng.uniform(0, 0.03)
            in_flight("PUT", "/api/ota/file?path=" + rel, data, d)
            return "%.3f s into file %d of %d (%s)" % (d, j + 1, len(want), rel)
        dev.call("PUT", "/api/ota/file?path=" + rel, data)
    if ph == "commit":
        d = rng.uniform(0, 0.3)
        in_flight("POST", "/api/ota/commit", b"", d)
        return "%.3f s into the commit" % d
    st, r = dev.call("POST", "/api/ota/commit", b"")
    with lock:
        stats["upload_s"].append(time.time() - t0)
    n0 = len(m.dev.lines)
    if ph == "restart":
        d = rng.uniform(0, 3)
    elif ph == "trial":
        d = rng.uniform(3, 25)
    else:  # the moment the new version confirms itself (or is rolled back)
        end = time.time() + 90
        while time.time() < end and not any(
                "confirmed" in l or "rolled back" in l for _, l in m.dev.lines[n0:]):
            time.sleep(0.02)
        d = rng.uniform(0, 0.1)
        time.sleep(d)
        m.dev.kill()
        return "%.2f s after the confirmation" % d
    time.sleep(d)
    m.dev.kill()
    return "%.2f s after the commit" % d


def _quiet(dev, method, path, body):
    try:
        dev.call(method, path, body)
    except Exception:  # the cut: connection reset, timed out
        pass


def _settled(m, timeout):
    """The meter answers, runs a version not on trial, and has taken a reading since it started."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            st = m.get_json("/api/ota")
            if not st["on_trial"] and st["update"] is None and m.dev.alive():
                starts = [j for j, (_, l) in enumerate(m.dev.lines) if "boot: " in l]
                if starts and any("reading:" in l for _, l in m.dev.lines[starts[-1]:]):
                    return True
        except Exception:
            pass
        time.sleep(0.5)
    return False


def _last_state(m):
    return " | ".join(l for _, l in m.dev.lines[-8:])
