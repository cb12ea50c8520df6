# Local time (app.localtime) under MicroPython: POSIX TZ strings with DST rules, the offsets of
# Australian zones around their 2026 changes (NSW: DST ends Sun 5 April 3:00 AEDT, starts Sun
# 4 October 2:00 AEST, per the NSW Government's daylight saving page), and the daily totals
# rolling over at local midnight through app.persist across the April change.
import time
from app.core import clock
from app.core import config
from app.core import localtime
from app.core import persist
from app.core import tzrules
from app.core.energy import Energy
from app.outputs.pusher import Pusher
from app.core.persist import Store
from mptest import ListLog, check, eq, done

D = 86400
H = 3600


def utc(y, m, d, hh=0, mm=0):
    return localtime.days_from_civil(y, m, d) * D + hh * H + mm * 60


# the calendar arithmetic against the platform's own (gmtime counts from 2000 here, as on the chip)
for t in (0, 59 * D, 60 * D, 365 * D + 17, 9800 * D + 3600, 12000 * D):
    eq(localtime.civil_from_days(t // D), tuple(time.gmtime(t)[:3]), "civil_from_days %d" % t)
    y, m, d = time.gmtime(t)[:3]
    eq(localtime.days_from_civil(y, m, d), t // D, "days_from_civil %d-%d-%d" % (y, m, d))

SYD = "AEST-10AEDT,M10.1.0,M4.1.0/3"
z = tzrules.parse(SYD)
eq(z[:4], ("AEST", 36000, "AEDT", 39600), "Sydney parsed")
eq(tzrules.parse("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")[:4], ("+1030", 37800, "+11", 39600), "Lord Howe")
eq(tzrules.parse("ACST-9:30")[:4], ("ACST", 34200, None, 34200), "Darwin: no DST")
eq(tzrules.parse(""), None, "empty: UTC")
eq(tzrules.parse("UTC0"), None, "UTC0: UTC")
for bad in ("AEST", "AE-10", "AEST-10AEDT,M13.1.0,M4.1.0", "AEST-10AEDT,M10.1.0", "AEST-10x", "<+10-10"):
    check(localtime.check(bad) is not None, "refused: %r" % bad)
    eq(config.validate({"device": {"timezone": bad}}).get("device", "timezone"), "", "config falls back: " + bad)
check(any(e.startswith("device.timezone:") for e in config.validate({"device": {"timezone": "AE"}}).errors),
      "config names the key")
eq(config.validate({"device": {"timezone": SYD}}).get("device", "timezone"), SYD, "config keeps a good zone")

localtime.set_zone(SYD)
end = utc(2026, 4, 4, 16)    # 5 April 03:00 AEDT = 4 April 16:00 UTC
start = utc(2026, 10, 3, 16)  # 4 October 02:00 AEST = 3 October 16:00 UTC
eq(localtime.offset(end - 1), 39600, "AEDT just before the April change")
eq(localtime.offset(end), 36000, "AEST from the April change")
eq(localtime.offset(start - 1), 36000, "AEST just before the October change")
eq(localtime.offset(start), 39600, "AEDT from the October change")
eq(localtime.offset(utc(2026, 1, 1)), 39600, "January: summer time")
eq(localtime.offset(utc(2026, 7, 1)), 36000, "July: standard time")
eq(localtime.fmt(end - 1), "2026-04-05 02:59:59 AEDT", "local text before")
eq(localtime.fmt(end), "2026-04-05 02:00:00 AEST", "local text after (the hour repeats)")
eq(localtime.fmt(start), "2026-10-04 03:00:00 AEDT", "spring forward")
localtime.set_zone("ACST-9:30ACDT,M10.1.0,M4.1.0/3")
eq(localtime.offset(utc(2026, 4, 4, 16, 30) - 1), 37800, "Adelaide ACDT before")
eq(localtime.offset(utc(2026, 4, 4, 16, 30)), 34200, "Adelaide ACST after")
localtime.set_zone("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
eq(localtime.offset(utc(2026, 4, 4, 15)), 37800, "Lord Howe: half-hour DST ends 2:00 local")
eq(localtime.zone_name(utc(2026, 1, 1)), "+11", "Lord Howe summer name")
localtime.set_zone("NZST-12NZDT,M9.5.0,M4.1.0/3")
eq(localtime.offset(utc(2026, 9, 26, 14)), 46800, "NZ: last Sunday of September (27th) 2:00 NZST")
eq(localtime.offset(utc(2026, 9, 26, 14) - 1), 43200, "NZ: standard before")
localtime.set_zone("GMT0BST,M3.5.0/1,M10.5.0")  # northern hemisphere too
eq(localtime.offset(utc(2026, 3, 29, 1)), 3600, "UK: BST from the last Sunday of March 1:00 UTC")
eq(localtime.offset(utc(2026, 10, 25, 1)), 0, "UK: GMT from the last Sunday of October 1:00 UTC")
eq(localtime.offset(utc(2026, 10, 25, 1) - 1), 3600, "UK: BST before")

# --- daily totals across the April change in Sydney, through the energy store's poll hook ---
localtime.set_zone(SYD)
now = [0]
clock.uptime_ms = lambda: now[0]
clock.is_synced = lambda: True
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k"}, "source": {"type": "simulated"},
                       "device": {"timezone": SYD}})


class FakeTime:
    t = 0

    @staticmethod
    def time():
        return FakeTime.t


class FakeApp:
    def __init__(self):
        self.cfg = cfg
        self.log = ListLog()
        self.energy = Energy()
        self.pusher = Pusher(cfg, self.log)


persist.time = FakeTime
app = FakeApp()
st = Store(app.log)
app.store = st
st.restore(app)
# 1 Wh imported every 5 minutes from 3 April 12:00 local (AEDT) to 7 April 12:00 local (AEST)
t0 = utc(2026, 4, 3, 1)  # 12:00 AEDT
rolls = []
days_wh = []  # the finished day's import at each roll (the 5-minute step ending at 00:00 is its last)
t = t0
while t <= utc(2026, 4, 7, 2):
    FakeTime.t = t
    now[0] += 300000
    day_before = app.energy.day
    wh_before = app.energy.today_wh(0)
    app.energy.add(1000000, 0)
    st.on_poll(app)
    if app.energy.day != day_before and day_before >= 0:
        rolls.append(localtime.fmt(t, False))
        days_wh.append(wh_before + 1)
        eq(app.energy.today_wh(0), 0, "a new day starts at 0 Wh (%s)" % rolls[-1])
    t += 300
eq(rolls, ["2026-04-04 00:00 AEDT", "2026-04-05 00:00 AEDT", "2026-04-06 00:00 AEST",
           "2026-04-07 00:00 AEST"], "the day rolls at local midnight, before and after the change")
eq(days_wh[1:4], [288, 300, 288], "4 April 24 hours (288 five-minute steps), 5 April 25 (300), 6 April 24")
check(any("new day" in x for x in app.log.lines), "the roll is logged")
done()
