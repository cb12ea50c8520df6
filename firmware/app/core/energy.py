# Grid energy totals, in integers: whole Wh plus a remainder in uWh (no 32-bit float drift, and
# no heap bigints: a lifetime of 1 TWh still fits the ESP32's 31-bit small ints).
#
# Two ways in:
# - counted: add(d_import_uwh, d_export_uwh) each poll (CT clamps: the chip's energy counts)
# - hardware: meter(hw_import_wh, hw_export_wh) with the meter's own lifetime counters. The
#   device's total follows the meter; if the meter counter drops (meter reset or replaced) the
#   device keeps counting from where it was (an offset absorbs the drop), so it never goes back.
from micropython import const

_UWH_PER_WH = const(1000000)
IMPORT = const(0)
EXPORT = const(1)


class Energy:
    def __init__(self):
        self.wh = [0, 0]        # lifetime totals, Wh: [import, export]
        self.uwh = [0, 0]       # remainder below 1 Wh, uWh
        self.hw_last = [None, None]  # last meter counter seen, Wh
        self.hw_offset = [0, 0]      # device total = meter counter + offset
        self.day_start = [0, 0]      # lifetime total at the start of the day, Wh
        self.day = -1                # local day number (days since 2000) of day_start
        self.changed = False         # totals moved since the last checkpoint

    def add(self, d_import_uwh, d_export_uwh):
        if d_import_uwh > 0:
            self._add(IMPORT, d_import_uwh)
        if d_export_uwh > 0:
            self._add(EXPORT, d_export_uwh)

    def _add(self, i, uwh):
        r = self.uwh[i] + uwh
        if r >= _UWH_PER_WH:
            self.wh[i] += r // _UWH_PER_WH
            r %= _UWH_PER_WH
            self.changed = True
        self.uwh[i] = r

    def meter(self, hw_import_wh, hw_export_wh):
        """Follow the meter's lifetime counters; returns a note when a counter dropped."""
        note = None
        for i, v in ((IMPORT, hw_import_wh), (EXPORT, hw_export_wh)):
            if v is None:
                continue
            last = self.hw_last[i]
            if last is None:
                # first reading since this store began: the meter is the reference unless the
                # device already counted past it (meter swapped while we were off)
                if v + self.hw_offset[i] < self.wh[i]:
                    self.hw_offset[i] = self.wh[i] - v
            elif v < last:
                self.hw_offset[i] += last - v
                note = "meter %s counter went back from %d to %d Wh: kept counting from %d" % (
                    ("import", "export")[i], last, v, self.wh[i])
            self.hw_last[i] = v
            total = v + self.hw_offset[i]
            if total > self.wh[i]:
                self.wh[i] = total
                self.uwh[i] = 0
                self.changed = True
        return note

    def roll_day(self, day):
        """Start a new daily total when the local day (app.core.localtime.local_day) changes."""
        if day != self.day:
            self.day = day
            self.day_start[IMPORT] = self.wh[IMPORT]
            self.day_start[EXPORT] = self.wh[EXPORT]

    def today_wh(self, i):
        """Energy since local midnight; None until the clock has told the day."""
        if self.day < 0:
            return None
        return self.wh[i] - self.day_start[i]
