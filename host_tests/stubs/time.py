# ESP32-like `time` for the unix port: seconds from 2000-01-01 as int, a clock that starts
# at 2000 after power-on until NTP sets it, ticks that wrap at 2**30 ms.
# On the chip `time` is C in flash; this stand-in takes heap the firmware is measured against,
# so it keeps few names.
import sys
import utime as _t
from micropython import const
import _espsim

# asyncio must keep the port's own ticks: its C task queue stamps tasks with them, so mixing
# in this module's 2**30 ticks would put every task to sleep for ages. (On the ESP32 both are
# the same 2**30 ticks.) Import it now, with the built-in module standing in for this one.
# Run scripts through espsim_run.py (or import time before asyncio) for this to hold.
if "asyncio" in sys.modules:
    sys.stderr.write("espsim: asyncio was imported before the time stand-in: "
                     "run the script through host_tests/stubs/espsim_run.py\n")
_me = sys.modules.get("time")
sys.modules["time"] = _t
try:
    import asyncio  # noqa: F401
finally:
    if _me is not None:
        sys.modules["time"] = _me
del _me

_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)
EPOCH_OFFSET = const(946684800)  # seconds from 1970 to 2000

_t0_ms = _t.ticks_ms()
_t0_us = _t.ticks_us()
_boot_host = _t.time()
# Offset of ESP32 time from host time, kept across soft resets like the RTC clock; None: never
# set since power-on (the clock then counts from 2000-01-01 00:00:00 at power-on)
_offset = _espsim.read_file(".rtc_clock")
try:
    _offset = float(_offset.decode()) if _offset else None
except ValueError:
    _offset = None


def _set_wall(seconds_2000):
    # called by ntptime / machine.RTC().datetime()
    global _offset
    _offset = seconds_2000 - (_t.time() - EPOCH_OFFSET)
    _espsim.write_file(".rtc_clock", ("%.3f" % _offset).encode())


def _wall_float():
    if _offset is None:
        return _t.time() - _boot_host  # counts from 2000-01-01 00:00:00 after power-on
    return _t.time() - EPOCH_OFFSET + _offset


def time():
    return int(_wall_float())


def time_ns():
    return int(_wall_float() * 1000000) * 1000


def gmtime(secs=None):
    if secs is None:
        secs = time()
    return _t.gmtime(secs + EPOCH_OFFSET)[:8]  # the ESP32 gives 8 fields


localtime = gmtime  # the ESP32 has no time zone


def mktime(tup):
    return int(_t.mktime(tup)) - EPOCH_OFFSET


def ticks_ms():
    return (_espsim.TICKS_START + _t.ticks_diff(_t.ticks_ms(), _t0_ms)) & _MASK


def ticks_us():
    return (_espsim.TICKS_START * 1000 + _t.ticks_diff(_t.ticks_us(), _t0_us)) & _MASK


ticks_cpu = ticks_us


def ticks_add(t, delta):
    return (t + delta) & _MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF


sleep = _t.sleep
sleep_ms = _t.sleep_ms
sleep_us = _t.sleep_us
