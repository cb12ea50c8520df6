# The 24 h history (app.history) under MicroPython: 5-minute averages, gaps, wrap-around after a
# day, clamping, the RAM it takes and no allocation per reading.
import gc
from app.core.history import History, POINTS, STEP_MS, NONE
from app.core.site import Site
from mptest import check, eq, done

gc.collect()
free0 = gc.mem_free()
h = History()
gc.collect()
used = free0 - gc.mem_free()
check(used < 2304 + 512, "one history takes %d bytes (4 x 288 x 2 B of data)" % used)
print("history bytes:", used)

s = Site()
s.grid_w, s.solar_w, s.battery_w = 1000, 3000, -500
eq(h.value(POINTS - 1, 0, 0), None, "nothing yet")
h.add(s, 0)
s.grid_w = 1020
h.add(s, 1000)
eq(h.value(POINTS - 1, 0, 0), 1010, "the open step is the average so far")
eq(h.value(POINTS - 1, 2, 0), 1010 + 3000 - 500, "consumption from the balance")
eq(h.value(POINTS - 1, 3, 0), -500, "battery charging is negative")
eq(h.value(POINTS - 2, 0, 0), None, "before the first reading: no data")
# next step: the first is stored; then a 3-step gap without readings
s.grid_w = -2000
h.add(s, STEP_MS + 5)
h.add(s, 5 * STEP_MS)
now = 5
eq(h.value(POINTS - 1 - 5, 0, now), 1010, "step 0 stored")
eq(h.value(POINTS - 1 - 4, 0, now), -2000, "step 1: export")
for k in (POINTS - 1 - 3, POINTS - 1 - 2, POINTS - 1 - 1):
    eq(h.value(k, 0, now), None, "gap step %d has no data" % k)
eq(h.value(POINTS - 1, 1, now), 3000, "step 5 open")
eq(h.value(POINTS - 1, 0, 7), None, "looked at later without readings: the newest steps are empty")
eq(h.value(POINTS - 3, 0, 7), -2000, "... and the data has moved left")
# clamping at +-327 kW
s.grid_w = 500000
h.add(s, 6 * STEP_MS)
h.add(s, 7 * STEP_MS)
eq(h.value(POINTS - 2, 0, 7), 327670, "clamped to the 16-bit range")
# a day later: the old points are gone, the ring wraps
s.grid_w = 46  # stored in 10 W steps: 50
for k in range(POINTS + 10):
    h.add(s, (8 + k) * STEP_MS)
now = 8 + POINTS + 9
eq(h.value(0, 0, now), 50, "oldest after the wrap (46 W to the nearest 10 W)")
eq(h.value(POINTS - 1, 0, now), 50, "newest after the wrap")
# a gap longer than a day clears all
h.add(s, (now + POINTS + 50) * STEP_MS)
now += POINTS + 50
eq(sum(1 for k in range(POINTS) if h.value(k, 0, now) is not None), 1, "a gap over a day leaves only now")

# no allocation per reading (after the first add of a step has run once)
h2 = History()
h2.add(s, 0)
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
for i in range(1, 2000):
    h2.add(s, i * 1000)  # 2000 s: 6 step changes with stores
a1 = gc.mem_alloc()
gc.enable()
eq(a1 - a0, 0, "bytes allocated by 2000 readings")

# --- across a clean restart: saved with the wall clock, put back moved by the restart's time ---
import os
from app.core import historyfile
h3 = History()
for k in range(100):
    s.grid_w = k * 100
    h3.add(s, k * STEP_MS)
s.grid_w = 7770
h3.add(s, 100 * STEP_MS + 5000)  # the step in progress
now3 = h3.now_slot(100 * STEP_MS + 6000)
before = [h3.value(k, 0, now3) for k in range(POINTS)]
T = 9800 * 86400
historyfile.save(h3, 100 * STEP_MS + 6000, T)
check("history.bin" in os.listdir(), "written to flash")
h4 = History()
eq(historyfile.load(h4, T + 600), 101, "101 points back after a 10-minute restart")
check("history.bin" not in os.listdir(), "used once")
after = [h4.value(k, 0, h4.now_slot(0)) for k in range(POINTS)]
eq(after[:-2], before[2:], "the same day, two steps further left")
eq(after[-2:], [None, None], "the restart's own steps are empty")
s.grid_w = 100
h4.add(s, 1000)
eq(h4.value(POINTS - 1, 0, h4.now_slot(1000)), 100, "new readings go on at the right")
eq(h4.value(POINTS - 3, 0, h4.now_slot(1000)), 7770, "next to the saved day's last step")
historyfile.save(h3, 100 * STEP_MS, T)
eq(historyfile.load(History(), T + 2 * 86400), 0, "two days later: nothing to put back")
historyfile.save(h3, 100 * STEP_MS, T)
eq(historyfile.load(History(), T - 3600), 0, "a clock that went back: nothing")
with open("history.bin", "wb") as f:
    f.write(b"junk")
eq(historyfile.load(History(), T), 0, "a damaged file: nothing, no exception")
eq(historyfile.load(History(points=10), T), 0, "no file: nothing")
done()
