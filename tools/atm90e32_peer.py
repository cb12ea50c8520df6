"""The simulator's ATM90E32 chip in a process of its own (host only).

`start_peer(device_folder)` makes two FIFOs, starts the chip model (host_tests/stubs/
atm90e32_model.py, split-phase board with a day profile) under MicroPython serving them, and
returns (env, stop): env for the device (ESPSIM_ATM90E32=day, ESPSIM_ATM90E32_PEER=folder), stop()
ends the chip. The device's SPI stand-in then forwards every frame to it, so the chip's registers
and code take none of the device's heap, as on a board (host_tests/stubs/_espsim_chip.py).
"""
import atexit
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host_tests"))
from mp import MICROPYTHON, STUBS  # noqa: E402


def start_peer(device_folder, extra_env=None):
    d = pathlib.Path(tempfile.mkdtemp(prefix="atm90e32-"))
    os.mkfifo(d / "req")
    os.mkfifo(d / "resp")
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (extra_env or {}).items()})
    env["MICROPYPATH"] = ":".join([".frozen", str(STUBS)])
    env["ESPSIM_STATE"] = str(d)  # the chip's process has its own (it keeps no device state)
    env["ESPSIM_RESET_CAUSE"] = "power"
    proc = subprocess.Popen([MICROPYTHON, "-X", "heapsize=4194304", str(STUBS / "espsim_run.py"),
                             str(ROOT / "tools" / "atm90e32_peer_mp.py"), str(d)],
                            cwd=str(device_folder), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    if "ATM90E32-PEER ready" not in line:
        proc.kill()
        raise RuntimeError("the ATM90E32 peer did not start: %s%s" % (line, proc.stdout.read()[-800:]))

    def stop():
        if proc.poll() is not None:
            return
        proc.kill()
        proc.wait()
        for f in ("req", "resp"):
            try:
                os.unlink(d / f)
            except OSError:
                pass
        try:
            d.rmdir()
        except OSError:
            pass
    atexit.register(stop)  # never left behind, waiting on its FIFOs
    return {"ESPSIM_ATM90E32": "day", "ESPSIM_ATM90E32_PEER": str(d)}, stop
