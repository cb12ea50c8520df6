# The last 24 h of power flows for the status page's chart and /api/history: one point per
# 5 minutes (the average of every good reading in it) for grid, solar, consumption and battery.
# Fixed size and preallocated: 4 x 288 signed 16-bit values in 10 W steps (2304 bytes, up to
# +-327 kW), sums in small ints; add() allocates nothing (it runs after every poll).
# Points are placed by uptime, not by the wall clock, so an NTP step cannot tear the chart; the
# page turns them into local times when the clock is set. A clean restart (settings saved, reboot,
# update) writes the day to flash (app.historyfile, 2.3 KB, only then: no wear in normal running)
# and the next start puts it back, moved by the time the restart took (the RTC keeps the clock across a reset);
# a power cut or a crash loses it.
from array import array
from micropython import const
from app.core.validate import consumption_w

POINTS = const(288)        # 24 h
STEP_MS = const(300000)    # 5 min
UNIT_W = const(10)
NONE = const(-32768)       # no reading in that step
SERIES = ("grid", "solar", "load", "battery")
_N = const(4)
_MAX = const(32767)



class History:
    def __init__(self, points=POINTS, step_ms=STEP_MS):
        self.points = points
        self.step_ms = step_ms
        self.ring = array("h", bytes(2 * _N * points))  # [slot % points * 4 + series]
        for i in range(len(self.ring)):
            self.ring[i] = NONE
        self.sums = [0] * _N
        self.counts = [0] * _N
        self.slot = -1                                   # the step being summed (uptime // step + base)
        self.base = 0                                    # > 0 after a restore: room for the day before

    def add(self, site, up_ms):
        """Count a good reading taken at uptime `up_ms`."""
        slot = up_ms // self.step_ms + self.base
        if slot != self.slot:
            self._close(slot)
        self._sum(0, site.grid_w)
        self._sum(1, site.solar_w)
        self._sum(2, consumption_w(site))
        self._sum(3, site.battery_w)

    def _sum(self, i, w):
        if w is not None:
            self.sums[i] += w
            self.counts[i] += 1

    def _close(self, slot):
        # store the finished step, mark the steps without readings, start summing `slot`
        if self.slot >= 0:
            self._store(self.slot)
            gap = slot - self.slot - 1
            s = self.slot + 1
            if gap > self.points:
                s = slot - self.points
            while s < slot:
                base = (s % self.points) * _N
                for i in range(_N):
                    self.ring[base + i] = NONE
                s += 1
        self.slot = slot
        for i in range(_N):
            self.sums[i] = 0
            self.counts[i] = 0

    def _store(self, slot):
        base = (slot % self.points) * _N
        for i in range(_N):
            self.ring[base + i] = self._avg(i)

    def _avg(self, i):
        n = self.counts[i]
        if not n:
            return NONE
        v = self.sums[i] // n
        v = (v + (UNIT_W // 2)) // UNIT_W  # nearest 10 W
        return _MAX if v > _MAX else -_MAX if v < -_MAX else v

    def value(self, k, i, now_slot):
        """Point k (0 = 24 h ago, points-1 = now) of series i, in W, or None."""
        s = now_slot - (self.points - 1) + k
        if s > self.slot or s <= self.slot - self.points or s < 0:
            return None
        v = self._avg(i) if s == self.slot else self.ring[(s % self.points) * _N + i]
        return None if v == NONE else v * UNIT_W

    def now_slot(self, up_ms):
        return up_ms // self.step_ms + self.base
