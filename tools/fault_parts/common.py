"""What every part of `make faults` (tools/faults.py) shares: the interpreter, the result of a
part (Result), running a MicroPython fault driver (bench/fault_*.py) and reading its summary,
the whole firmware on a simulated chip (make_device), the fake Charge HQ's record, and the log."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
MICROPYTHON = str(ROOT / ".venv" / "bin" / "micropython")  # --micropython replaces it
SIM_ARGV = []  # --micropython: passed on to every simulated device
STUBS = ROOT / "host_tests" / "stubs"


def use_interpreter(path):
    """--micropython: the drivers and every simulated device run on this interpreter."""
    global MICROPYTHON
    MICROPYTHON = path
    SIM_ARGV[:] = ["--micropython", path]


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


def check_driver(r, res, need_recovered=True):
    """Judge a fault driver's run into r (its FAULTS summary line) -> the summary, or None."""
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


def make_device(tmp, name, url, ca, key, interval=30, source=None, extra_cfg=None):
    """The unchanged firmware (boot.py, main.py) on a simulated chip, output captured: a
    sim.Device (capture=True) in tmp/name, its config as tools/sim.py writes it + extra_cfg."""
    import sim
    return sim.new_device(tmp / name, url, open(ca, "rb").read(),
                          ["--interval", str(interval), "--api-key", key,
                           "--source", source or "simulated"] + SIM_ARGV, extra_cfg)


def recorded_pushes(chq):
    """Every push the fake Charge HQ in chq recorded, oldest first."""
    p = chq / "pushes.jsonl"
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []
