"""Energy store under MicroPython, from outside: power cuts (SIGKILL) at random moments and
resets the firmware does itself, many times in a row, some with ticks wrapping at 2**30 during
the run. Totals never go backwards, are never counted twice, a soft or watchdog reset loses
nothing, a power cut loses at most what was counted in the last checkpoint interval (plus one
poll), and the reboots never let two pushes through less than 30 s apart.
Also the whole firmware in the simulator: a reset right after a push, and the next push waits."""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

from mp import MICROPYTHON, MP_TESTS, ROOT, STUBS, mp_env

DRIVER = MP_TESTS / "fx_persist_power.py"
EVERY_MS = 100          # checkpoint interval the driver uses (time compressed)
STEP = 1000003          # uWh per poll (the driver's STEP_UWH)
BUDGET_S = 12


def run_driver(state, cause, reset_after, kind, kill_after, ticks_start):
    extra = {"ESPSIM_TICKS_START": ticks_start} if ticks_start is not None else None
    proc = subprocess.Popen([MICROPYTHON, str(STUBS / "espsim_run.py"), str(DRIVER), str(EVERY_MS),
                             str(reset_after), kind], cwd=state, env=mp_env(state, cause, extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(kill_after, proc.kill)   # SIGKILL: the power goes
    timer.start()
    out, err = proc.communicate(timeout=60)
    timer.cancel()
    marker = state / ".reset_reason"
    ended = "power"
    if marker.exists():
        ended = marker.read_text().strip()
        marker.unlink()
    return out, err, ended


def parse(out):
    boot, polls, pushes = None, [], []
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "BOOT":
            boot = (f[1], int(f[2]), " ".join(f[3:]))
        elif f[0] == "P" and len(f) == 5:  # total, uptime before and after the poll, flash writes
            polls.append((int(f[1]), int(f[2]), int(f[3]), int(f[4])))
        elif f[0] == "PUSH" and len(f) == 2:
            pushes.append(int(f[1]))
    return boot, polls, pushes


def test_random_power_cuts_and_resets(tmp_path):
    rnd = random.Random(20261130)
    state = tmp_path
    cause = "power"
    # (device time ms, total uWh) since the last power-on, across resets. Times are uptime read
    # after each poll; the last poll's time is read before it; resets continue from the last poll's
    # "before": every approximation errs on the side that makes the loss check stricter.
    history = []
    offset = 0          # device running time before this run (resets do not stop the count)
    last_before = 0
    push_times = []     # device running time of every push (power-ons: the floor counts from boot)
    t_end = time.monotonic() + BUDGET_S
    runs = cuts = resets = wraps = 0
    worst_loss = 0
    total_pushes = 0
    prev_last = None    # last total the previous run printed
    while time.monotonic() < t_end or runs < 12:
        self_reset = rnd.random() < 0.35
        reset_after = rnd.randint(1, 40) if self_reset else -1
        kind = rnd.choice(("soft", "wdt"))
        kill_after = rnd.uniform(0.03, 0.5) if not self_reset else 10
        ticks = (2 ** 30 - rnd.randint(0, 300)) if runs % 3 == 1 else None
        wraps += ticks is not None
        out, err, ended = run_driver(state, cause, reset_after, kind, kill_after, ticks)
        boot, polls, pushes = parse(out)
        runs += 1
        if boot is None:  # killed before it printed anything: nothing to check but the next boot
            assert ended == "power", (out, err)
            cause = "power"
            cuts += 1
            continue
        got_cause, restored, source = boot
        assert got_cause == cause
        assert "Traceback" not in err, err
        # --- what the boot restored, against what the previous run had counted ---
        if prev_last is not None:
            assert restored <= prev_last + STEP, ("counted twice", restored, prev_last)
            if cause in ("soft", "wdt"):
                assert restored == prev_last, ("a reset lost energy", cause, restored, prev_last)
                assert source == "RTC memory", source
            else:
                # the store checked the interval at the last poll (after `last_before`) and had
                # written flash within EVERY_MS before that check: every poll that ended before
                # then is in flash
                floor = [t for g, t in history if g <= last_before - EVERY_MS]
                must = max(floor) if floor else history[0][1]
                assert restored >= must, ("power cut lost more than one checkpoint interval",
                                          restored, must, prev_last)
                worst_loss = max(worst_loss, prev_last - restored)
        if cause == "power":
            history = [(0, restored)]
            offset = last_before = 0
            if source != "None":  # it ran before; no clock survives a power cut: wait from boot
                assert all(up >= 30000 for up in pushes), ("push too soon after power-on", pushes)
            push_times = []
        for total, _before, after, _writes in polls:
            assert total >= history[-1][1], "totals went backwards within a run"
            history.append((offset + after, total))
        for up in pushes:
            push_times.append(offset + up)
            total_pushes += 1
        if polls:
            prev_last = polls[-1][0]
            last_before = offset + polls[-1][1]
            offset = last_before
        else:
            prev_last = restored
        if ended in ("soft", "wdt"):
            resets += 1
        else:
            cuts += 1
        cause = ended
    gaps = [b - a for a, b in zip(push_times, push_times[1:])]
    assert all(g >= 30000 for g in gaps), ("pushes closer than 30 s across reboots", gaps)
    assert cuts >= 10 and resets >= 5 and wraps >= 3, (runs, cuts, resets, wraps)
    assert total_pushes == 1, "a reboot loop of a few seconds' runs allows the first push only"
    print("power-cut test: %d runs, %d power cuts, %d resets, %d near the tick wrap, %d pushes, "
          "worst loss %d uWh (bound: %d ms of polls)" % (runs, cuts, resets, wraps,
                                                         total_pushes, worst_loss, EVERY_MS))


def test_ticks_wrap_during_a_run(tmp_path):
    """ticks_ms wraps at 2**30 200 ms into the run: uptime keeps going up, flash checkpoints keep
    their interval (never two within EVERY_MS of device time), and a soft reset after the wrap
    restores exactly what was counted."""
    out, err, ended = run_driver(tmp_path, "power", 150, "soft", 30, 2 ** 30 - 200)
    assert ended == "soft", (out, err)
    boot, polls, _ = parse(out)
    ups = [up for _, _, up, _ in polls]
    assert ups == sorted(ups) and ups[-1] > 200, "uptime across the wrap: %r" % ups[::10]
    writes = [(up, w) for _, up, _, w in polls]
    at = [up for (up, w), (_, w0) in zip(writes[1:], writes) if w > w0]
    assert len(at) >= 2, writes
    # (the printed uptime is read a moment after the store's own check: a few ms of jitter)
    assert all(b - a >= EVERY_MS - 10 for a, b in zip(at, at[1:])), at
    out2, err2, _ = run_driver(tmp_path, "soft", 1, "soft", 30, 2 ** 30 - 5)
    boot2, _, _ = parse(out2)
    assert boot2[1] == polls[-1][0] and boot2[2] == "RTC memory", (boot2, polls[-1])


SIM = [sys.executable, str(ROOT / "tools" / "sim.py")]


def _sim_until_push(args, limit_s=90):
    """Run the simulator until the device logs its first push, then stop it like Ctrl-C
    (the firmware checkpoints and stops). -> everything it printed."""
    proc = subprocess.Popen(SIM + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    guard = threading.Timer(limit_s, proc.kill)
    guard.start()
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "pushed (" in line or "push failed" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=30)
    guard.cancel()
    return "".join(lines) + rest


def _pushes(chq):
    return [json.loads(x) for x in (chq / "pushes.jsonl").read_text().splitlines()]


def test_sim_reset_right_after_a_push_waits_out_the_floor(tmp_path):
    """The whole firmware: push, reset at once (RTC memory kept), boot again: the energy comes back
    from RTC memory and the first push waits until 30 s after the one before the reset."""
    state = tmp_path / "dev"
    out1 = _sim_until_push(["--fresh", "--state-dir", str(state), "--chq-dir", str(tmp_path / "c1")])
    assert "pushed (HTTP 200)" in out1, out1
    assert "energy: saved (stop)" in out1, out1
    first = _pushes(tmp_path / "c1")
    out2 = _sim_until_push(["--boot", "soft", "--state-dir", str(state), "--chq-dir", str(tmp_path / "c2")])
    assert "boot: soft reset" in out2 and "energy: restored from RTC memory" in out2, out2
    assert "first push in" in out2, out2
    assert "pushed (HTTP 200)" in out2, out2
    second = _pushes(tmp_path / "c2")
    gap = second[0]["t"] - first[-1]["t"]
    assert gap >= 30, "the push after the reset came %.1f s after the one before it" % gap
    kwh1 = first[-1]["body"]["siteMeters"]["imported_kwh"] + first[-1]["body"]["siteMeters"]["exported_kwh"]
    kwh2 = second[0]["body"]["siteMeters"]["imported_kwh"] + second[0]["body"]["siteMeters"]["exported_kwh"]
    assert kwh2 >= kwh1, ("totals went back across the reset", kwh1, kwh2)


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open("/proc/%s/stat" % entry).read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                kids.append(int(entry))
    return kids


def _alive(pid):
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sim_power_cuts(tmp_path):
    """Killing the device's interpreter is a power cut: the simulator powers it on again, RTC memory
    lost, totals from flash, the first push held for 30 s. Killing the simulator kills the device."""
    proc = subprocess.Popen(SIM + ["--fresh", "--state-dir", str(tmp_path / "dev"), "--chq-dir",
                                   str(tmp_path / "chq"), "--source", "simulated"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    guard = threading.Timer(60, proc.kill)
    guard.start()
    lines = []
    device = None
    try:
        for line in proc.stdout:
            lines.append(line)
            if device is None and "pushed (" in line:
                device = _children(proc.pid)
                assert len(device) == 1, device
                os.kill(device[0], signal.SIGKILL)   # the power goes
            if device and "first push in" in line:
                break
        out = "".join(lines)
        after = out.split("[sim] power cut", 1)[1]
        assert "boot: power-on" in after and "energy: restored from flash slot" in after, out
        assert "first push in 30 s" in after, out
        device2 = _children(proc.pid)
        assert len(device2) == 1 and device2 != device, (device, device2)
    finally:
        proc.kill()            # SIGKILL the simulator itself
        proc.wait(10)
        guard.cancel()
    for _ in range(100):       # the device dies with it (a power cut, not an orphan)
        if not _alive(device2[0]):
            break
        time.sleep(0.1)
    assert not _alive(device2[0]), "the device outlived the simulator"
