"""The MicroPython script suite again, with the ESP32's tick counter started just before it wraps.

time.ticks_ms() on the ESP32 wraps at 2**30 ms (12.4 days of uptime); code that subtracts ticks
instead of using ticks_diff(), or compares them with <, breaks only then. Every host_tests/mp/*/mp_*.py
script runs here with ESPSIM_TICKS_START near 2**30 and must still pass:

  round 1: 3 ms before the wrap: every script's work (even a 10 ms one) runs across it;
  round 2: scripts that run for a while start half their run time before it, so the wrap falls in
           the middle of their loops, with state from before the wrap in use after it.

Measures, per script: passed, and ticks at its first line / at its end (the wrap really happened
during the run). The scripts run six at a time: most of their time is waiting."""
import concurrent.futures
import re
import subprocess

from mp import MICROPYTHON, MP_TESTS, STUBS, assert_mp_passed, mp_env, suite_scripts

SCRIPTS = suite_scripts()

PERIOD = 1 << 30
WORKERS = 6  # the scripts mostly wait (timers, sleeps): little CPU each


def _run(script, start, tmp_path, tag):
    state = tmp_path / ("%s-%s" % (tag, script[:-3].replace("/", "-")))
    state.mkdir()
    cmd = [MICROPYTHON, "-X", "heapsize=%d" % (1024 * 1024), str(STUBS / "espsim_run.py"),
           str(MP_TESTS / "tickwrap.py"), str(MP_TESTS / script)]
    res = subprocess.run(cmd, cwd=state, env=mp_env(state, "power", {"ESPSIM_TICKS_START": start}),
                         capture_output=True, text=True, timeout=180)
    m = re.search(r"^ESPSIM-TICKS (\d+) (\d+)$", res.stdout, re.M)
    return res, (int(m.group(1)), int(m.group(2))) if m else None


def _round(scripts_starts, tmp_path, tag):
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        futs = {s: pool.submit(_run, s, start, tmp_path, tag) for s, start in scripts_starts}
        return {s: f.result() for s, f in futs.items()}


def test_suite_across_the_tick_wrap(tmp_path):
    assert SCRIPTS, "no MicroPython test scripts found"
    start1 = PERIOD - 3
    first = _round([(s, start1) for s in SCRIPTS], tmp_path, "r1")
    ran_ms = {}
    for s in SCRIPTS:
        res, ticks = first[s]
        assert_mp_passed(res, "%s with ticks starting at 2**30 - 3" % s)
        assert ticks, s
        t0, t_end = ticks
        assert t_end < start1, "%s: the tick counter did not wrap during the run (%s)" % (s, ticks)
        ran_ms[s] = (t_end - start1) % PERIOD
    long_ones = [s for s in SCRIPTS if ran_ms[s] >= 400]
    second = _round([(s, PERIOD - ran_ms[s] // 2) for s in long_ones], tmp_path, "r2")
    for s in long_ones:
        res, ticks = second[s]
        assert_mp_passed(res, "%s with the wrap %d ms into its run" % (s, ran_ms[s] // 2))
        t0, t_end = ticks
        assert t0 > PERIOD // 2 and t_end < PERIOD // 2, \
            "%s: the wrap did not fall inside the script's run (ticks %s)" % (s, ticks)
