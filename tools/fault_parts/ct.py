"""Fault part `ct`: the ATM90E32 on its register-level chip model (bench/fault_ct.py): absent
chip, MISO stuck low, SPI garbage, chip reset, over-range current."""
import shutil

from fault_parts.common import ROOT, Result, check_driver, run_mp


def run(tmp, n, seed):
    r = Result("ct", "ATM90E32: absent chip, MISO stuck low, SPI garbage, chip reset, over-range")
    dev = tmp / "ct-dev"
    dev.mkdir()
    shutil.copytree(ROOT / "boards", dev / "boards")
    res = run_mp("bench/fault_ct.py", [n, seed], dev)
    s = check_driver(r, res)
    if s:
        r.detail = ("%d read as errors, %d read through (a reset re-initialises the chip; an "
                    "over-range is reported); good readings again within %d polls" % (
                        s["handled"] - s["read_through"], s["read_through"], s["worst_polls"]))
    return r
