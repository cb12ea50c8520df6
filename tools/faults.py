#!/usr/bin/env python3
"""`make faults`: the fault-injection suite -> docs/reliability.md.

In one run, on the MicroPython unix port with the ESP32 stand-ins:
- push path: DNS, TCP and TLS failures, 4xx/5xx answers, dropped connections, slow servers;
- meters: SPI garbage, absent chip, chip resets, over-range current (ATM90E32 chip model);
  Modbus timeouts, CRC errors, exceptions, garbage, wrong slave (pymodbus peer on a pty);
- state: corrupt config files, corrupt RTC memory and flash records;
- boot: every state file the firmware reads at boot mutated (tools/faults_boot.py), the whole
  firmware must come up in running or set-up mode;
- the whole firmware: Wi-Fi drops, server errors, a 60 s stall, a failing meter, with the
  fake Charge HQ refusing (429) any two pushes less than 30 s apart;
- power cuts at random moments (SIGKILL of the simulated chip), totals checked after each;
- power cuts at random points of over-the-air updates (tools/faults_ota.py);
- random DNS datagrams at the captive portal's DNS, malformed HTTP requests at its web server;
- the MQTT broker: unreachable, silent, wrong credentials, closing the socket, malformed and
  oversize packets, no PINGRESP (a real mosquitto behind a switchable front).
Each part counts faults, unhandled exceptions and recoveries; the summary says pass or fail.

    .venv/bin/python tools/faults.py [--short] [--only NAME,...] [--out docs/reliability.md]

--short is the quick form that `make test` runs (host_tests/firmware/test_faults.py).
"""
import argparse
import datetime
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
MICROPYTHON = str(ROOT / ".venv" / "bin" / "micropython")  # --micropython replaces it
SIM_ARGV = []  # --micropython: passed on to every simulated device
STUBS = ROOT / "host_tests" / "stubs"

FULL = {"push": 400, "ct": 250, "modbus": 200, "state": 400, "boot": 280, "soak": 1, "powercuts": 200,
        "ota": 200, "dns": 100000, "http": 10000, "mqtt": 30}
SHORT = {"push": 25, "ct": 10, "modbus": 14, "state": 200, "boot": 24, "soak": 0, "powercuts": 12,
         "ota": 8, "dns": 3000, "http": 300, "mqtt": 4}
PARTS = tuple(FULL)


def log(msg):
    print("[faults] " + msg, flush=True)


class Result:
    def __init__(self, part, what):
        self.part = part
        self.what = what
        self.faults = 0
        self.unhandled = 0
        self.ok = True
        self.detail = ""
        self.problems = []

    def fail(self, why):
        self.ok = False
        self.problems.append(why)


def mp_env(state, cause="power", extra=None):
    """The test harness's environment (host_tests/mp.py), with Microdot compiled for
    MicroPython on the path (the status page imports it)."""
    import build_microdot
    import mp
    return mp.mp_env(state, cause, extra, extra_path=(str(build_microdot.ensure()),))


def run_mp(script, args, state, cause="power", extra=None, timeout=1800):
    cmd = [MICROPYTHON, str(STUBS / "espsim_run.py"), str(ROOT / script)] + [str(a) for a in args]
    return subprocess.run(cmd, cwd=state, env=mp_env(state, cause, extra), capture_output=True,
                          text=True, timeout=timeout)


def summary_line(out):
    """'FAULTS n=.. handled=.. unhandled=..' -> dict of ints (or strings)."""
    for line in out.splitlines()[::-1]:
        if line.startswith("FAULTS "):
            return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    return None


def _check_driver(r, res, need_recovered=True):
    s = summary_line(res.stdout)
    if res.returncode != 0 or s is None:
        r.fail("driver failed (exit %s): %s" % (res.returncode, (res.stdout + res.stderr)[-600:]))
        return None
    r.faults += s["n"]
    r.unhandled += s["unhandled"]
    if s["unhandled"]:
        r.fail("%d unhandled exceptions" % s["unhandled"])
    if need_recovered and s.get("recovered", s["n"]) != s["n"]:
        r.fail("recovered after %d of %d faults" % (s["recovered"], s["n"]))
    bad = [l for l in res.stdout.splitlines() if "UNHANDLED" in l or "NOT RECOVERED" in l]
    r.problems += bad[:5]
    return s


# --- parts --------------------------------------------------------------------------------------
def part_push(tmp, n, seed):
    import fake_chargehq
    r = Result("push", "push path: DNS, TCP, TLS failures, 4xx/5xx, dropped and slow connections")
    chq = tmp / "push-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 0, out=open(os.devnull, "w"))
    dev = tmp / "push-dev"
    dev.mkdir()
    shutil.copy(ca, dev / "ca.der")
    shutil.copy(ROOT / "firmware" / "ca" / "roots.der", dev / "wrong.der")  # real roots: not this CA
    try:
        res = run_mp("bench/fault_push.py", [url, "ca.der", "wrong.der", chq / "mode", n, seed], dev)
    finally:
        srv.shutdown()
    s = _check_driver(r, res)
    if s:
        kinds = {}
        for line in res.stdout.splitlines():
            if line.startswith("FAULT "):
                kinds[line.split()[1]] = kinds.get(line.split()[1], 0) + 1
        r.detail = "each followed by a good push (%d of %d delivered); kinds: %s" % (
            s["recovered"], s["n"], ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
        if s["handled"] != s["n"]:
            r.fail("%d faults went unnoticed" % (s["n"] - s["handled"]))
    return r


def part_ct(tmp, n, seed):
    r = Result("ct", "ATM90E32: absent chip, MISO stuck low, SPI garbage, chip reset, over-range")
    dev = tmp / "ct-dev"
    dev.mkdir()
    shutil.copytree(ROOT / "boards", dev / "boards")
    res = run_mp("bench/fault_ct.py", [n, seed], dev)
    s = _check_driver(r, res)
    if s:
        r.detail = ("%d read as errors, %d read through (a reset re-initialises the chip; an "
                    "over-range is reported); good readings again within %d polls" % (
                        s["handled"] - s["read_through"], s["read_through"], s["worst_polls"]))
    return r


class _FileFaults:
    """The peer's fault table, read from a file the MicroPython harness writes."""

    def __init__(self, peer, path):
        self.peer = peer
        self.path = path
        self.last = None

    def get(self, key, default=None):
        try:
            kind = open(self.path).read().strip()
        except OSError:
            kind = "none"
        if kind != self.last:
            self.peer.fired.clear()
            self.last = kind
        return None if kind in ("", "none") else kind


def part_modbus(tmp, n, seed):
    from modbus_peer import start_peer
    r = Result("modbus", "Modbus RTU: no reply, CRC, exceptions 02/04/06, garbage, short, "
                         "wrong slave/function, noise, slow device")
    dev = tmp / "modbus-dev"
    dev.mkdir()
    shutil.copytree(ROOT / "firmware" / "profiles", dev / "profiles")
    path, stop = start_peer("sdm630", 1, 9600)
    fault_file = dev / "fault"
    fault_file.write_text("none")
    stop.peer.faults = _FileFaults(stop.peer, str(fault_file))
    try:
        res = run_mp("bench/fault_modbus.py", [fault_file, n, seed], dev, extra={"ESPSIM_UART1": path})
    finally:
        stop()
    s = _check_driver(r, res)
    if s:
        r.detail = "good readings again within %d polls of each fault clearing" % s["worst_polls"]
    return r


def part_state(tmp, n, seed):
    r = Result("state", "corrupt config.json; corrupt RTC memory and flash energy records")
    dev = tmp / "state-dev"
    dev.mkdir()
    res = run_mp("bench/fault_state.py", [n, seed], dev, cause="soft")
    s = _check_driver(r, res, need_recovered=False)
    if s:
        if s["records_garbage_trusted"]:
            r.fail("a corrupt record was trusted %d times" % s["records_garbage_trusted"])
        r.detail = ("config: %d accepted, %d refused with a reason; energy records: corrupt ones "
                    "ignored, last good totals restored every time" % (
                        s["config_accepted"], s["config_refused"]))
    return r


# --- the whole firmware -------------------------------------------------------------------------
def make_device(tmp, name, url, ca, key, interval=30, source=None, extra_cfg=None):
    """The unchanged firmware (boot.py, main.py) on a simulated chip, output captured: a
    sim.Device (capture=True) in tmp/name, its config as tools/sim.py writes it + extra_cfg."""
    import sim
    return sim.new_device(tmp / name, url, open(ca, "rb").read(),
                          ["--interval", str(interval), "--api-key", key,
                           "--source", source or "simulated"] + SIM_ARGV, extra_cfg)


def _pushes(chq):
    p = chq / "pushes.jsonl"
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []


def part_soak(tmp, n, seed):
    """The firmware through a schedule of faults; Charge HQ's 30 s rule enforced by the server."""
    import fake_chargehq
    r = Result("soak", "whole firmware: Wi-Fi drops, HTTP 500, dropped connections, a 60 s stall, "
                       "a failing meter")
    chq = tmp / "soak-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 29.9, out=open(os.devnull, "w"))
    fw = make_device(tmp, "soak-dev", url, ca, "soak-key-0123456789-abcd", interval=30,
                     extra_cfg={"device": {"report_s": 0}})
    fw.start("power")
    mode = chq / "mode"
    wifi = fw.fs / ".wifi"
    meter = fw.fs / "sim_fault"
    # (name, start, stop) actions; each fault lasts `dur` s, then `settle` s of good conditions
    schedule = [
        ("Wi-Fi drop", lambda: wifi.write_text("down"), lambda: wifi.write_text("ok"), 45),
        ("HTTP 500", lambda: mode.write_text("status 500"), lambda: mode.write_text("ok"), 45),
        ("dropped connections", lambda: mode.write_text("close"), lambda: mode.write_text("ok"), 45),
        ("60 s stall", lambda: mode.write_text("stall"), lambda: mode.write_text("ok"), 60),
        ("failing meter", lambda: meter.write_text("no reply from the meter"),
         lambda: meter.unlink(), 45),
        ("HTTP 503", lambda: mode.write_text("status 503"), lambda: mode.write_text("ok"), 40),
        ("Wi-Fi drop", lambda: wifi.write_text("down"), lambda: wifi.write_text("ok"), 70),
    ]
    period = fw.cfg["chargehq"]["push_interval_s"]
    recover = []
    try:
        time.sleep(35)  # two good pushes first
        for name, on, off, dur in schedule:
            on()
            t_on = time.time()
            time.sleep(dur)
            off()
            t_off = time.time()
            r.faults += 1
            # recovery: a good push (data, not error) within one push period of the fault clearing
            deadline = t_off + period + 5
            got = None
            while time.time() < deadline and got is None:
                for p in _pushes(chq):
                    if p["t"] > t_off and p["status"] == 200 and "siteMeters" in p["body"]:
                        got = p["t"] - t_off
                        break
                time.sleep(0.5)
            during = [p for p in _pushes(chq) if t_on < p["t"] <= t_off]
            recover.append((name, got, len(during)))
            if got is None:
                r.fail("no good push within %d s after '%s' cleared" % (period + 5, name))
            time.sleep(max(0, 32 - (time.time() - t_off)))
    finally:
        fw.stop(10)
        srv.shutdown()
    pushes = _pushes(chq)
    gaps = [b["t"] - a["t"] for a, b in zip(pushes, pushes[1:])]
    too_close = [g for g in gaps if g < 29.9]
    statuses = [p["status"] for p in pushes]
    tracebacks = [l for _, l in fw.lines if "Traceback" in l]
    r.unhandled = len(tracebacks)
    if too_close or 429 in statuses:
        r.fail("%d pushes under 30 s apart" % len(too_close))
    if tracebacks:
        r.fail("tracebacks in the output: %s" % tracebacks[:3])
    if len(fw.boots) != 1:
        r.fail("the firmware restarted")
    r.detail = ("%d pushes, smallest gap %.1f s, %d answered 429; recovery after each fault "
                "cleared: %s" % (len(pushes), min(gaps) if gaps else 0, statuses.count(429),
                                 "; ".join("%s %s" % (nm, "%.0f s" % g if g is not None else "NONE")
                                           for nm, g, _ in recover)))
    return r



# (mode of tools/bad_broker.BrokerFront, the words the device's log line must hold)
_BROKER_FAULTS = (("refused", "refused"), ("silent", "no answer"), ("refuse_auth", "bad user name"),
                  ("close", "closed"), ("oversize", "oversize"), ("malformed", "malformed"),
                  ("http", "not an MQTT broker"), ("junk_type", "unexpected packet"),
                  ("drop_later", "closed"), ("no_pingresp", "silent"))


def _open_files(dev):
    try:
        return len(os.listdir("/proc/%d/fd" % dev.proc.pid))
    except OSError:
        return -1


def part_mqtt(tmp, n, seed):
    """Broker faults against the whole firmware with MQTT and the Charge HQ push: each fault
    logged once with its reason, MQTT state flowing again after it clears, sampling and the
    pushes unaffected, no traceback, no restart."""
    import fake_chargehq
    import mosquitto_broker
    from bad_broker import BrokerFront
    from mqtt_fx import Watcher
    r = Result("mqtt", "MQTT broker: unreachable, silent, wrong credentials, closing, oversize, "
                       "malformed, not a broker, junk packets, no PINGRESP")
    rng = random.Random(seed)
    chq = tmp / "mqtt-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 29.9, out=open(os.devnull, "w"))
    broker = mosquitto_broker.Broker().start()
    front = BrokerFront(broker.port)
    w = Watcher(broker.port, "chargehq-meter/#")
    fw = make_device(tmp, "mqtt-dev", url, ca, "mqtt-key-0123456789-abcd", interval=30,
                     extra_cfg={"device": {"report_s": 2},
                                "mqtt": {"host": "127.0.0.1", "port": front.port, "interval_s": 2,
                                         "keepalive_s": 10}})
    kinds = list(_BROKER_FAULTS) * (n // len(_BROKER_FAULTS) + 1)
    rng.shuffle(kinds)
    kinds = kinds[:n]  # the short form: a few of them (another seed, others)

    recover = []
    fds = []
    fw.start("power")
    try:
        if not w.wait_for(lambda: any(t.endswith("/state") for t, _p, _r in w.msgs), 30):
            r.fail("no MQTT state before the faults")
        fds.append(_open_files(fw))
        for mode, words in kinds:
            front.switch(mode)
            t_on = time.time()
            # long enough for the device to meet it: a silent broker costs the 10 s connect
            # deadline after the first retry, a missing PINGRESP a whole keepalive
            time.sleep({"no_pingresp": 25, "silent": 16}.get(mode) or rng.uniform(6, 10))
            front.switch("ok")
            t_off = time.time()
            r.faults += 1
            got = None
            while time.time() < t_off + 45 and got is None:
                later = [t for t, (tp, _p, _r) in zip(w.times, w.msgs) if t > t_off and tp.endswith("/state")]
                if later:
                    got = later[0] - t_off
                time.sleep(0.2)
            lines = [l for t, l in fw.lines if t_on <= t <= time.time() and "mqtt:" in l and "retry" in l]
            said = [l for l in lines if words in l]
            recover.append((mode, got, len(lines)))
            if got is None:
                r.fail("no MQTT state within 45 s after '%s' cleared" % mode)
            time.sleep(11)  # the device counts a connection as good again after 10 s
            again = [l for t, l in fw.lines if t > t_off and "mqtt: connected again" in l]
            if not said:
                r.fail("'%s': no log line saying '%s' (got %s)" % (mode, words, lines[:3]))
            if not again:
                r.fail("'%s': no 'connected again' line after it cleared" % mode)
            if len(lines) > 3:
                r.fail("'%s': %d log lines for one fault: %s" % (mode, len(lines), lines))
        fds.append(_open_files(fw))
        if len(fds) == 2 and fds[-1] > fds[0] + 2:  # (a push or a page may hold one or two for a moment)
            r.fail("open files grew from %d to %d: sockets leak" % (fds[0], fds[-1]))
    finally:
        fw.stop(10)
        srv.shutdown()
        w.stop()
        front.stop()
        broker.stop()
    pushes = _pushes(chq)
    gaps = [b["t"] - a["t"] for a, b in zip(pushes, pushes[1:])]
    span = fw.lines[-1][0] - fw.lines[0][0] if fw.lines else 0
    readings = [t for t, l in fw.lines if "reading:" in l]
    worst = max((b - a for a, b in zip(readings, readings[1:])), default=0)
    tracebacks = [l for _, l in fw.lines if "Traceback" in l]
    r.unhandled = len(tracebacks)
    if tracebacks:
        r.fail("tracebacks in the output: %s" % tracebacks[:3])
    if len(fw.boots) != 1:
        r.fail("the firmware restarted")
    if len([p for p in pushes if p["status"] == 200]) < max(1, int(span // 30) - 1) or any(g < 29.9 for g in gaps):
        r.fail("Charge HQ pushes disturbed: %d in %.0f s, gaps %s" % (len(pushes), span, gaps))
    if worst > 6:
        r.fail("sampling stalled: %.1f s between reading lines (every 2 s)" % worst)
    r.detail = ("%d pushes (all >= 30 s apart), longest gap between readings %.1f s, open files %s; "
                "MQTT state again after: %s" % (len(pushes), worst, " -> ".join(map(str, fds)), "; ".join(
                    "%s %s" % (m, "%.1f s" % g if g is not None else "NONE") for m, g, _ in recover)))
    return r

_READING = re.compile(r"import ([\d.]+) export ([\d.]+) kWh")
_RESTORED = re.compile(r"energy: restored from ([^:]+): import (\d+) Wh, export (\d+) Wh")


def part_powercuts(tmp, n, seed):
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
    for p in _pushes(chq):
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


def part_dns(tmp, n, seed):
    r = Result("dns", "random and mutated datagrams at the captive portal's DNS catch-all")
    import dns.message
    import dns.query
    dev = tmp / "dns-dev"
    dev.mkdir()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([MICROPYTHON, str(STUBS / "espsim_run.py"),
                             str(ROOT / "host_tests" / "mp" / "fx_dns.py"), str(port), "192.168.4.1"],
                            cwd=dev, env=mp_env(dev),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "DNS-READY" not in line:
        proc.kill()
        r.fail("DNS server did not start: %s %s" % (line, proc.communicate()))
        return r
    rng = random.Random(seed)
    good = dns.message.make_query("example.com", "A").to_wire()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    answered_probe = 0
    for i in range(n):
        if i % 4 == 0:
            d = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 600)))
        else:
            b = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            d = bytes(b[:rng.randrange(len(b) + 1)]) if rng.random() < 0.3 else bytes(b)
        sock.sendto(d, ("127.0.0.1", port))
        if i % 200 == 199:  # drain replies; the server must still answer a good query
            sock.settimeout(0)
            try:
                while True:
                    sock.recv(4096)
            except (BlockingIOError, OSError):
                pass
            q = dns.message.make_query("probe%d.example" % i, "A")
            try:
                resp = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
                if resp.answer:
                    answered_probe += 1
            except Exception as e:
                r.fail("no answer to a good query after %d datagrams: %s" % (i + 1, e))
                break
            sock.settimeout(2)
    (dev / "stop").write_text("")
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    r.faults = n
    if proc.returncode != 0 or "MPTEST-DONE" not in out:
        r.unhandled = 1
        r.fail("DNS server died: exit %s %s" % (proc.returncode, (out + err)[-500:]))
    stats = re.search(r"DNS-STATS (.*)", out)
    r.detail = "%d good probes answered in between; server counters: %s" % (
        answered_probe, stats.group(1) if stats else "?")
    return r


def part_http(tmp, n, seed):
    r = Result("http", "malformed HTTP requests at the set-up portal (Microdot under MicroPython)")
    import portal_fx
    dev = tmp / "http-dev"
    dev.mkdir()
    path = portal_fx.compile_tree(tmp / "http-mpy")
    d = portal_fx.Device("setup", dev, path)
    rng = random.Random(seed)
    shapes = [
        lambda: b"GET / HTTP/1.1\r\n" + b"X: " + b"A" * rng.randrange(0, 9000) + b"\r\n\r\n",
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 2000))),
        lambda: b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\nssid=" % rng.choice((-1, 10 ** 12, 99999)),
        lambda: b"GET /" + b"%" * rng.randrange(1, 3000) + b" HTTP/1.1\r\n\r\n",
        lambda: b"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 40\r\n\r\nssid=%ZZ&password=%&api_key=\xff\xfe",
        lambda: b"\r\n" * rng.randrange(1, 200),
        lambda: b"GET / HTTP/1.1\r\n" + b"H: v\r\n" * rng.randrange(50, 400) + b"\r\n",
        lambda: b"GET /generate_204 HTTP/1.0\r\nHost: \x00\x01<script>\r\n\r\n",
        lambda: b"PUT /../../etc/passwd HTTP/1.1\r\n\r\n",
        lambda: b"GET / HTTP/1.1\r\nContent-Length: 5\r\n",  # then the client hangs up
    ]
    host, port = "127.0.0.1", d.port
    good = 0
    try:
        for i in range(n):
            data = shapes[i % len(shapes)]() if i >= len(shapes) else shapes[i]()
            try:
                with socket.create_connection((host, port), timeout=5) as s:
                    try:  # the server may answer (413, 400) and close before we finish
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)
                        s.settimeout(5)
                        s.recv(512)
                    except (socket.timeout, OSError):
                        pass
            except OSError as e:
                if d.proc.poll() is not None:
                    r.fail("web server died after %d requests: %s" % (i, e))
                    break
            if i % 100 == 99 or i == n - 1:
                import urllib.request
                try:
                    with urllib.request.urlopen(d.url + "/", timeout=10) as resp:
                        if resp.status == 200:
                            good += 1
                except Exception as e:
                    r.fail("no answer to a good request after %d malformed ones: %s" % (i + 1, e))
                    break
    finally:
        alive = d.proc.poll() is None
        out = d.output()
        d.kill()
    r.faults = n
    tracebacks = out.count("Traceback")
    r.unhandled = 0 if alive else 1
    if not alive:
        r.fail("the web server process died: %s" % out[-500:])
    r.detail = "%d good requests answered in between; %d tracebacks printed (logged, not fatal)" % (
        good, tracebacks)
    return r


def part_ota(tmp, n, seed):
    import faults_ota
    return faults_ota.part_ota(tmp, n, seed, Result, _pushes, SIM_ARGV)


def part_boot(tmp, n, seed):
    import fake_chargehq
    import faults_boot
    srv, url, ca = fake_chargehq.serve(str(tmp / "boot-chq"), 0, 0, out=open(os.devnull, "w"))
    try:
        return faults_boot.part_boot(tmp, n, seed, make_device, Result, ca, url)
    finally:
        srv.shutdown()


PART_FUNCS = {"ota": part_ota, "mqtt": part_mqtt, "push": part_push, "ct": part_ct, "modbus": part_modbus, "state": part_state,
              "boot": part_boot,
              "soak": part_soak, "powercuts": part_powercuts, "dns": part_dns, "http": part_http}


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
        global MICROPYTHON
        import unix32
        MICROPYTHON = unix32.interpreter(a.micropython)
        SIM_ARGV[:] = ["--micropython", MICROPYTHON]
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
                r = PART_FUNCS[name](tmp, counts[name] or 1, a.seed)
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
