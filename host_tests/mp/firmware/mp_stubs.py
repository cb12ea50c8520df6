# The ESP32 stand-ins behave like an ESP32, not like the unix port.
import time
import machine
import network
import ntptime
from mptest import check, eq, raises, done

# 2000 epoch, int seconds, clock at 2000-01-01 until NTP sets it
t = time.time()
check(isinstance(t, int), "time() is int")
check(t < 3600, "unsynced clock starts at 2000-01-01")
eq(time.gmtime(0)[:3], (2000, 1, 1), "epoch is 2000")
eq(len(time.gmtime()), 8, "gmtime has 8 fields like the ESP32")
ntptime.settime()
check(time.time() > 26 * 365 * 86400, "NTP sets the clock")
eq(time.mktime(time.gmtime(123456789)), 123456789, "mktime inverts gmtime")

# ticks wrap at 2**30
a = time.ticks_ms()
check(0 <= a < (1 << 30), "ticks in 30 bits")
eq(time.ticks_add(0x3FFFFFFF, 1), 0, "ticks_add wraps")
eq(time.ticks_diff(5, 0x3FFFFFFB), 10, "ticks_diff across the wrap")
eq(time.ticks_diff(0x3FFFFFFB, 5), -10, "ticks_diff negative across the wrap")

# RTC memory: 2048 bytes at most
r = machine.RTC()
r.memory(b"x" * 2048)
eq(len(r.memory()), 2048, "2048 bytes fit")
raises(ValueError, r.memory, b"x" * 2049)
eq(machine.reset_cause(), machine.PWRON_RESET, "fresh start is a power-on")

# Wi-Fi station joins the loopback network
w = network.WLAN(network.STA_IF)
raises(OSError, w.connect, "HomeNet", "pw")
w.active(True)
w.connect("HomeNet", "pw")
check(w.isconnected(), "station connected")
eq(w.status(), network.STAT_GOT_IP, "status GOT_IP")
done()
