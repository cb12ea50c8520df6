# Time keeping: uptime that survives the 2**30 ms tick wrap, wall clock in Unix ms, NTP state.
import time
from micropython import const
from ticks import ticks_ms, ticks_diff  # (lib/ticks.py: CPython too, same 2**30 wrap)

EPOCH_OFFSET_S = const(946684800)  # 1970 -> 2000 (the ESP32's time.time() counts from 2000)
_VALID_AFTER_S = const(820454400)  # 2026-01-01 in the 2000 epoch: an earlier clock was never set

_last = ticks_ms()
_up_ms = 0
ntp_synced = False  # set by sync() this boot


def uptime_ms():
    """Milliseconds since boot; call at least every few days (every poll does)."""
    global _last, _up_ms
    now = ticks_ms()
    _up_ms += ticks_diff(now, _last)
    _last = now
    return _up_ms


def uptime_s():
    return uptime_ms() // 1000


def fmt_uptime(ms=None):
    s = (uptime_ms() if ms is None else ms) // 1000
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def is_synced():
    """The wall clock can be trusted: NTP set it this boot, or the RTC kept it across a reset."""
    return ntp_synced or time.time() > _VALID_AFTER_S


def unix_ms(t_s):
    """Seconds since 2000 (the ESP32's time.time()) -> milliseconds since 1970."""
    return (t_s + EPOCH_OFFSET_S) * 1000


def sync():
    """Set the RTC from NTP; False (no exception) when the network gives no answer."""
    global ntp_synced
    try:
        import ntptime
        ntptime.settime()
    except Exception:
        return False
    ntp_synced = True
    return True


def fmt_time(t_s):
    """Local date and time (device.timezone) of a 2000-epoch second, for the console and pages."""
    if not is_synced():
        return "(clock not set)"
    from app.core import localtime
    return localtime.fmt(t_s)
