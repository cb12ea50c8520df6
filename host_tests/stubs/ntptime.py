# ESP32-like `ntptime` for the unix port (host only): sets the simulated RTC from the host
# clock, as a successful SNTP exchange would. ESPSIM_NTP=0 makes it fail like a dead network.
import utime
import time as _clock
import _espsim

host = "pool.ntp.org"
timeout = 1


def time():
    if not _espsim.NTP_OK:
        raise OSError(110)  # ETIMEDOUT, what a lost UDP reply looks like
    return int(utime.time()) - _clock.EPOCH_OFFSET


def settime():
    _clock._set_wall(time())
