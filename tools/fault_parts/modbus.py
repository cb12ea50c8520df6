"""Fault part `modbus`: Modbus RTU faults from the pymodbus peer on a pty (bench/fault_modbus.py
switches them through a file): no reply, CRC, exceptions, garbage, short, wrong slave or function,
noise, a slow device."""
import shutil

from fault_parts.common import ROOT, Result, check_driver, run_mp


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


def run(tmp, n, seed):
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
    s = check_driver(r, res)
    if s:
        r.detail = "good readings again within %d polls of each fault clearing" % s["worst_polls"]
    return r
