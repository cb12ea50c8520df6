#!/usr/bin/env python3
"""`make bench`: measure the firmware's speed and memory on the MicroPython unix port and write
docs/benchmarks.md (a table: figure, target, measured, met or not).

Benchmarks measure; tests assert behaviour. Nothing here fails on a missed target: the table
says so. Heap figures come from the 32-bit build with the ESP32's heap shape (tools/bench_esp32.py).

    .venv/bin/python tools/bench.py [--quick] [--only NAME[,NAME]] [--out docs/benchmarks.md]
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
from mp import MICROPYTHON, MPY_CROSS, compile_stand_ins  # noqa: E402  (the test harness's)
import bench_esp32  # noqa: E402  (the heap figures on the ESP32's shape)
KB = 1024
SIM_ARGV = []  # --micropython: the interpreter of the simulated devices (boot, reboots, period)


def log(msg):
    print("[bench] " + msg, flush=True)


# --- compiled firmware (as deployed: .mpy) ------------------------------------------------------
def compile_tree(dest):
    """mpy-cross every module of firmware/ and lib/ into dest; -> {relative path: size}."""
    sizes = {}
    for base in ("firmware", "lib"):
        for src in sorted((ROOT / base).rglob("*.py")):
            rel = src.relative_to(ROOT / base)
            if rel.parts[0] in ("boot.py", "main.py", "manifest.py"):
                continue
            out = dest / rel.with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([MPY_CROSS, "-o", str(out), str(src)], check=True, cwd=ROOT)
            sizes[str(pathlib.Path(base) / rel.with_suffix(".mpy"))] = out.stat().st_size
    return sizes


def microdot_mpy(dest):
    """Compile the installed Microdot into dest/microdot; -> total size or None."""
    import importlib.util
    spec = importlib.util.find_spec("microdot")
    if spec is None or not spec.submodule_search_locations:
        return None
    src_dir = pathlib.Path(list(spec.submodule_search_locations)[0])
    total = 0
    for src in src_dir.glob("*.py"):
        out = dest / "microdot" / (src.stem + ".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([MPY_CROSS, "-o", str(out), str(src)], check=True)
        total += out.stat().st_size
    return total


class Env:
    """A compiled firmware tree, a device folder and a fake Charge HQ, shared by the figures."""

    def __init__(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
        self.mpy = self.tmp / "mpy"
        self.sizes = compile_tree(self.mpy)
        self.microdot = microdot_mpy(self.mpy)
        self.stubs = compile_stand_ins(self.tmp / "stubs")  # as .mpy, like the firmware
        import fake_chargehq
        self.srv, self.url, self.ca = fake_chargehq.serve(str(self.tmp / "chq"), 0, 0,
                                                          out=open(os.devnull, "w"))

    def device_dir(self, name):
        d = self.tmp / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        shutil.copy(self.ca, d / "ca.der")
        for sub in ("boards", "firmware/profiles"):
            if (ROOT / sub).exists():
                shutil.copytree(ROOT / sub, d / pathlib.Path(sub).name)
        return d

    def env(self, state, extra=None):
        env = dict(os.environ)
        # compiled modules first (as on the device), then the stand-ins
        env["MICROPYPATH"] = ":".join([".frozen", str(self.mpy), str(self.stubs)])
        env["ESPSIM_STATE"] = str(state)
        env["ESPSIM_RESET_CAUSE"] = "power"
        env.update(extra or {})
        return env

    def run(self, script, args, state, heap=None, extra_env=None, timeout=900, micropython=None):
        cmd = [micropython or MICROPYTHON]
        if heap:
            cmd += ["-X", "heapsize=%d" % heap]
        cmd += [str(self.stubs / "espsim_run.py"), str(ROOT / script)] + [str(a) for a in args]
        try:
            res = subprocess.run(cmd, cwd=state, env=self.env(state, extra_env), capture_output=True,
                                 text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:  # at a heap's edge the collector can thrash: a fail
            res = subprocess.CompletedProcess(cmd, None, (e.stdout or b"").decode("utf-8", "replace")
                                              if isinstance(e.stdout, bytes) else (e.stdout or ""),
                                              "timed out after %d s" % timeout)
        return res, dict(_bench_lines(res.stdout))

    def close(self):
        self.srv.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _bench_lines(out):
    for line in out.splitlines():
        if line.startswith("BENCH "):
            parts = line.split(None, 2)
            yield parts[1], parts[2] if len(parts) > 2 else ""


# --- the sources measured -----------------------------------------------------------------------
def sources(env):
    """-> [(label, source config, board dict or None, extra env, stop callable)]."""
    out = [("simulated", {"type": "simulated", "speed": 60}, None, {}, None)]
    board_file = ROOT / "boards" / "circuitsetup_split.json"
    if (ROOT / "firmware" / "app" / "sources" / "ct.py").exists() and board_file.exists():
        import sim_config
        src = sim_config.default_source("atm90e32", None)
        # (long or multi-line arguments crash the PyPI micropython launcher: boards go by name)
        out.append(("ATM90E32 (split-phase board, chip model)", src, "circuitsetup_split",
                    {"ESPSIM_ATM90E32": "day"}, None))
    if (ROOT / "firmware" / "app" / "sources" / "modbus.py").exists() \
            and (ROOT / "tools" / "modbus_peer.py").exists():
        import sim_config
        src = sim_config.default_source("modbus", None)
        out.append(("Modbus RTU (SDM630 on a pty, pymodbus peer)", src, None, None, "sdm630"))
    return out


def _sim_module():
    import sim
    return sim


def with_source(label, src, board, extra_env, peer_profile, fn):
    """Run fn(src, board, extra_env) with the source's hardware stand-in running."""
    stop = None
    extra = dict(extra_env or {})
    if extra.get("ESPSIM_ATM90E32") == "day":  # the chip in its own process, as on a board
        from atm90e32_peer import start_peer as start_chip
        chip_env, stop = start_chip(ROOT)
        extra.update(chip_env)
    elif peer_profile:
        from modbus_peer import start_peer
        dev = (src.get("devices") or [{}])[0]
        path, stop = start_peer(peer_profile, dev.get("slave", 1), src.get("baud", 9600))
        extra["ESPSIM_UART%d" % src.get("uart", 1)] = path
    try:
        return fn(src, board, extra)
    finally:
        if stop:
            stop()


# --- figures ------------------------------------------------------------------------------------
def fig_size(env, rows):
    app_total = sum(env.sizes.values())
    rows.append(("Compiled firmware (.mpy of firmware/ and lib/, %d modules)" % len(env.sizes),
                 "<= 64 KB", "%.1f KB" % (app_total / KB), app_total <= 64 * KB,
                 "Microdot (portal/status page) adds %.1f KB" % (env.microdot / KB)
                 if env.microdot else "Microdot not installed"))
    biggest = sorted(env.sizes.items(), key=lambda kv: -kv[1])[:5]
    return {"largest": ", ".join("%s %.1f KB" % (k.split("/", 1)[1], v / KB) for k, v in biggest)}


def fig_alloc(env, rows):
    """Heap per poll on the 32-bit ESP32-shaped build (31-bit small ints: an int that is small on
    64-bit can be a heap object there)."""
    targets = {"simulated": None, "ATM90E32": 0, "Modbus": 256}
    mp32 = bench_esp32.unix32.interpreter("32")
    for label, src, board, extra, peer in sources(env):
        def measure(src, board, extra):
            state = env.device_dir("alloc")
            res, b = env.run("bench/mp_alloc.py", [json.dumps(src), board or "-",
                                                   300], state, extra_env=extra, micropython=mp32)
            return res, b
        res, b = with_source(label, src, board, extra, peer, measure)
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


def fig_status(env, rows):
    """The status page on the ESP32 shape (tools/status_heap.py: 32-bit, 112 KB heap, .mpy): the
    24 h history ring and what one render of the live part and the day's chart holds at once."""
    import status_heap
    import unix32
    b = status_heap.measure(unix32.ensure("plain"))
    rows.append(("Status page: 24 h history ring + its module (ESP32 shape, .mpy)", "<= 8 KB",
                 "%.1f KB" % ((b["history_ring"] + b["history_module"]) / KB),
                 b["history_ring"] + b["history_module"] <= 8 * KB,
                 "ring %d B, module %d B (0 frozen in); kept for the meter's life" % (
                     b["history_ring"], b["history_module"])))
    worst = max(b["live_peak_live"], b["chart_peak_live"], b["history_json_peak_live"])
    rows.append(("Status page: heap a page render holds (ESP32 shape, .mpy)", "<= 16 KB",
                 "%.1f KB" % ((b["statusview_module"] + worst) / KB), b["statusview_module"] + worst <= 16 * KB,
                 "view module %d B while serving + most live %d B (live part %d, chart %d, /api/history "
                 "%d); garbage per render: live %d B, chart %d B, history %d B" % (
                     b["statusview_module"], worst, b["live_peak_live"], b["chart_peak_live"],
                     b["history_json_peak_live"], b["live_alloc"], b["chart_alloc"], b["history_json_alloc"])))


def _t(target):
    return "-" if target is None else "%d B" % target


def fig_growth(env, rows, quick):
    label, src, board, extra, peer = sources(env)[-1 if not quick else 0]
    cycles = 1000 if quick else 10000

    def measure(src, board, extra):
        state = env.device_dir("growth")
        return env.run("bench/mp_cycles.py", [env.url, "ca.der", cycles, 100, json.dumps(src),
                                              board or "-"],
                       state, heap=bench_esp32.unix32.ESP32_HEAP, extra_env=extra,
                       micropython=bench_esp32.unix32.interpreter("32-frozen"))
    res, b = with_source(label, src, board, extra, peer, measure)
    if res.returncode != 0 or "heap_end" not in b:
        rows.append(("Heap growth over %d cycles" % cycles, "0 B", "failed", False,
                     (res.stdout + res.stderr)[-300:]))
        return
    growth = int(b["heap_end"]) - int(b["heap_after_100"])
    rows.append(("Heap growth from cycle 100 to cycle %d (ESP32 shape, app frozen in, 112 KB; %s; a push every 100 cycles, "
                 "after gc.collect())" % (cycles, label), "0 B", "%+d B" % growth, growth <= 0,
                 "%s B in use after cycle 100" % b["heap_after_100"]))


# --- whole firmware in the simulator -------------------------------------------------------------
def sim_device(env, name, interval=60, key=None, source=None, heap=None):
    """The unchanged firmware (boot.py, main.py) under the stand-ins, as tools/sim.py runs it,
    output captured (sim.Device with capture=True), no reading lines in its log."""
    argv = ["--interval", str(interval), "--api-key", key or ("bench-" + name + "-key")] + SIM_ARGV
    argv += (["--source", source] if source else []) + (["--heap", str(heap)] if heap else [])
    return _sim_module().new_device(env.tmp / name, env.url, open(env.ca, "rb").read(), argv,
                                    {"device": {"report_s": 0}})


def _pushes(env):
    """Every push the fake Charge HQ recorded, oldest first."""
    path = env.tmp / "chq" / "pushes.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def fig_boot_to_push(env, rows, quick):
    times = []
    for i in range(2 if quick else 5):
        # (the fake server masks keys to their last 4 characters: each figure has its own range)
        d = sim_device(env, "boot%d" % i, interval=60, key="bench-boot-%d-key%04d" % (i, 9000 + i))
        before = len(_pushes(env))
        t0 = d.start("power")
        t_push = None
        while time.time() - t0 < 30:
            p = _pushes(env)[before:]
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


_PUSHED = re.compile(r"pushed \(HTTP 200\).*reading (\d+) ms old")


def fig_reboots(env, rows, quick):
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
    for p in _pushes(env):
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


def fig_energy(env, rows, quick):
    """Energy counted over a simulated day against the source's own truth."""
    script = ROOT / "bench" / "mp_energy_day.py"
    if not script.exists():
        rows.append(("Energy error over a simulated 24 h", "0.01 %", "not measured", False,
                     "bench/mp_energy_day.py missing"))
        return
    state = env.device_dir("energy")
    res, b = env.run("bench/mp_energy_day.py", ["3600" if quick else "86400"], state)
    if res.returncode != 0 or "error_ppm" not in b:
        rows.append(("Energy error over a simulated 24 h", "0.01 %", "failed", False,
                     (res.stdout + res.stderr)[-300:]))
        return
    ppm = float(b["error_ppm"])
    rows.append(("Energy error over a simulated %s with 12 kW peaks (%s)" % (
        "24 h" if not quick else "1 h", b.get("what", "")), "0.01 %", "%.4f %%" % (ppm / 1e4),
        ppm <= 100, b.get("detail", "")))


def fig_vs_cpython(env, rows, quick):
    """Resident memory the job adds: the firmware on the unix port vs a minimal CPython pusher.

    The PyPI `micropython` command runs MicroPython inside a CPython process (an extension
    module), so each side is measured above its own bare interpreter doing nothing."""
    secs = 20 if quick else 40
    heap = 256 * KB
    d = sim_device(env, "rss", interval=30, key="bench-rss-key-8001", heap=heap)
    d.start("power")
    peak_mp = _watch_rss(d.proc.pid, secs)
    alive = d.proc.poll() is None
    d.kill()
    if not alive:
        rows.append(("Memory against a minimal CPython pusher", "1/10", "failed", False,
                     "the firmware stopped: " + " / ".join(l for _, l in d.lines[-3:])))
        return
    # base: a tiny heap, so the firmware's whole heap counts as its own
    base_mp = _bare_rss([MICROPYTHON, "-X", "heapsize=4096", "-c", "import time; time.sleep(8)"])
    script = ROOT / "bench" / "cpython_pusher.py"
    proc = subprocess.Popen([sys.executable, str(script), env.url, env.ca, "bench-rss-key-8002"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    peak_py = _watch_rss(proc.pid, secs)
    proc.kill()
    proc.wait()
    base_py = _bare_rss([sys.executable, "-c", "import time; time.sleep(8)"])
    mp, py = peak_mp - base_mp, peak_py - base_py
    ratio = mp / py if py > 0 else float("inf")
    rows.append(("Memory the job adds to its interpreter: firmware on the unix port (256 KB heap) "
                 "vs a minimal CPython pusher (bench/cpython_pusher.py: same simulated meter, "
                 "same verified HTTPS push)", "1/10",
                 "%d KB vs %d KB = 1/%.1f" % (mp // KB, py // KB, 1 / ratio if ratio else 0),
                 ratio <= 0.1,
                 "peak RSS over %d s minus the bare interpreter's: %.1f-%.1f MB vs %.1f-%.1f MB"
                 % (secs, peak_mp / 2**20, base_mp / 2**20, peak_py / 2**20, base_py / 2**20)))


def _bare_rss(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = _watch_rss(proc.pid, 4)
    proc.kill()
    proc.wait()
    return peak


def _watch_rss(pid, secs):
    peak = 0
    end = time.time() + secs
    while time.time() < end:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            break
        time.sleep(0.5)
    return peak


def fig_mqtt_heap(env, rows):
    """The MQTT output's heap: its modules, a connected client, one discovery and one state
    message (bench/mqtt_heap.py against a local mosquitto), on the 32-bit build (tools/unix32.py)."""
    import mosquitto_broker
    mp = bench_esp32.unix32.interpreter("32")
    broker = mosquitto_broker.Broker().start()
    state = env.device_dir("mqtt")
    try:
        res = subprocess.run([mp, "-X", "heapsize=114688", str(env.stubs / "espsim_run.py"),
                              str(ROOT / "bench" / "mqtt_heap.py"), str(broker.port)],
                             cwd=state, env=env.env(state), capture_output=True, text=True, timeout=120)
    finally:
        broker.stop()
    b = dict(_bench_lines(res.stdout))
    if "free_after" not in b:
        rows.append(("MQTT client heap (32-bit)", "-", "failed", False, (res.stdout + res.stderr)[-300:]))
        return
    kept = int(b["import_mqtt_client_and_https_post"]) + int(b["connected_client"])
    rows.append(("MQTT client heap, kept (32-bit, 112 KB heap)", "-", "%.1f KB" % (kept / KB), None,
                 "mqtt_client + https_post modules %s B, a connected client %s B; ha_discovery module %s B "
                 "while it announces" % (b["import_mqtt_client_and_https_post"], b["connected_client"],
                                         b["import_ha_discovery"])))
    rows.append(("MQTT publish, allocated (32-bit)", "-", "%.1f KB discovery, %.1f KB state" % (
        int(b["discovery_publish_alloc"]) / KB, int(b["state_publish_alloc"]) / KB), None,
        "discovery message %s B, built and sent once per connection" % b["discovery_message_bytes"]))


# --- report ------------------------------------------------------------------------------------
FIGURES = ("size", "firmware", "push", "portal", "status", "alloc", "growth", "boot", "reboots", "energy",
           "cpython", "mqtt")


def _row_line(row):
    name, target, got, met, note = row
    mark = "-" if met is None else ("yes" if met else "**no**")
    return "| %s%s | %s | %s | %s |" % (name, (" (%s)" % note) if note else "", target, got, mark)


def update_report(rows, out, figures):
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
    run = next(i for i, line in enumerate(lines) if line.startswith("- run: "))
    lines.insert(run + 1, "- re-measured %s: %s (the other rows are from the run above)" % (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), ", ".join(figures)))
    pathlib.Path(out).write_text("\n".join(lines))
    return missing


def write_report(rows, extra, out, quick, elapsed):
    mp_ver = subprocess.run([bench_esp32.unix32.interpreter("32"), "-c",
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
        SIM_ARGV[:] = ["--micropython", bench_esp32.unix32.interpreter(a.micropython)]
    if a.update and (not a.only or a.quick):
        ap.error("--update needs --only and a full (not --quick) measurement")
    only = set(a.only.split(",")) if a.only else set(FIGURES)
    t0 = time.time()
    env = Env()
    rows, extra = [], {}
    try:
        steps = [("size", lambda: extra.update(fig_size(env, rows))),
                 ("firmware", lambda: bench_esp32.fig_firmware(env, rows, log)),
                 ("push", lambda: bench_esp32.fig_push(env, rows, log, a.quick)),
                 ("portal", lambda: bench_esp32.fig_portal(env, rows, log)),
                 ("status", lambda: fig_status(env, rows)),
                 ("alloc", lambda: fig_alloc(env, rows)),
                 ("growth", lambda: fig_growth(env, rows, a.quick)),
                 ("boot", lambda: fig_boot_to_push(env, rows, a.quick)),
                 ("reboots", lambda: fig_reboots(env, rows, a.quick)),
                 ("energy", lambda: fig_energy(env, rows, a.quick)),
                 ("cpython", lambda: fig_vs_cpython(env, rows, a.quick)),
                 ("mqtt", lambda: fig_mqtt_heap(env, rows))]
        for name, fn in steps:
            if name in only:
                log("%s ..." % name)
                t = time.time()
                fn()
                log("%s done in %.0f s: %s" % (name, time.time() - t, rows[-1][2] if rows else ""))
    finally:
        env.close()
    if a.update:
        out = a.out or str(ROOT / "docs" / "benchmarks.md")
        missing = update_report(rows, out, sorted(only))
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
