"""Fault part `state`: corrupt config.json, corrupt RTC memory and flash energy records
(bench/fault_state.py)."""
from fault_parts.common import Result, check_driver, run_mp


def run(tmp, n, seed):
    r = Result("state", "corrupt config.json; corrupt RTC memory and flash energy records")
    dev = tmp / "state-dev"
    dev.mkdir()
    res = run_mp("bench/fault_state.py", [n, seed], dev, cause="soft")
    s = check_driver(r, res, need_recovered=False)
    if s:
        if s["records_garbage_trusted"]:
            r.fail("a corrupt record was trusted %d times" % s["records_garbage_trusted"])
        r.detail = ("config: %d accepted, %d refused with a reason; energy records: corrupt ones "
                    "ignored, last good totals restored every time" % (
                        s["config_accepted"], s["config_refused"]))
    return r
