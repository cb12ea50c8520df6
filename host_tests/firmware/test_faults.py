"""The short form of the fault-injection suite (`make faults` runs the full one): push-path,
meter and state faults, power cuts at random moments and at random points of over-the-air updates, junk DNS datagrams and malformed HTTP
requests, MQTT broker faults, all against the firmware under MicroPython. Any unhandled exception, a fault the
firmware does not recover from, totals that go back or a server that dies fails the test."""
import subprocess
import sys

import pytest

from mp import ROOT

PARTS = ["push", "ct", "modbus", "state", "boot", "powercuts", "ota", "dns", "http", "mqtt"]


@pytest.mark.parametrize("part", PARTS)
def test_fault_suite_short(part):
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "faults.py"), "--short", "--only", part],
                         capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "all parts passed" in out, out[-4000:]
