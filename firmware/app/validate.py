# The compact check run before every push. Charge HQ accepts inconsistent data (HTTP 2xx) and
# then shows "power values are inconsistent": the device must notice it first and say so.
#
# Checks (integers, W and Wh):
# - balance: consumption = production + net_import (+ battery_discharge) within
#   max(tolerance_w, tolerance_pct % of the largest flow); only when consumption is measured,
#   otherwise consumption is derived from the balance and holds by construction
# - ranges: every power within +-max_site_kw; production not below -1 kW (inverters draw a
#   little at night, more is a CT the wrong way round); battery_soc in 0..1
# - counters: lifetime import/export never lower than at the previous push
from micropython import const

_NIGHT_DRAW_W = const(1000)


class Result:
    def __init__(self):
        self.ok = True
        self.numeric = True  # False: a value is not a number: push an error, not the data
        self.problems = []

    def add(self, msg):
        self.ok = False
        self.problems.append(msg)

    def text(self):
        return "ok" if self.ok else "; ".join(self.problems)


def consumption_w(site):
    """Measured consumption, or production + net import (+ battery) when not measured."""
    if site.load_w is not None:
        return site.load_w
    if site.grid_w is None:
        return None
    return site.grid_w + (site.solar_w or 0) + (site.battery_w or 0)


def check(site, energy_wh, last_pushed_wh, tolerance_w=100, tolerance_pct=5, max_site_kw=100):
    """-> Result. energy_wh / last_pushed_wh: [import, export] totals (or None)."""
    r = Result()
    limit = max_site_kw * 1000
    flows = (("net_import", site.grid_w), ("production", site.solar_w),
             ("battery_discharge", site.battery_w), ("consumption", site.load_w))
    biggest = 0
    for name, v in flows:
        if v is None:
            continue
        if not isinstance(v, int):
            r.add("%s is not a number" % name)
            r.numeric = False
            continue
        if v > limit or v < -limit:
            r.add("%s %.1f kW out of range" % (name, v / 1000))
        biggest = max(biggest, abs(v))
    if site.solar_w is not None and isinstance(site.solar_w, int) and site.solar_w < -_NIGHT_DRAW_W:
        r.add("production %.1f kW is negative: solar CT reversed?" % (site.solar_w / 1000))
    if site.soc_pm is not None and not 0 <= site.soc_pm <= 1000:
        r.add("battery_soc %.3f outside 0..1" % (site.soc_pm / 1000))
    if site.load_w is not None and site.grid_w is not None and r.ok:
        rhs = site.grid_w + (site.solar_w or 0) + (site.battery_w or 0)
        tol = max(tolerance_w, biggest * tolerance_pct // 100)
        if abs(site.load_w - rhs) > tol:
            r.add("balance off by %.2f kW: consumption %.2f != production + import%s %.2f" % (
                (site.load_w - rhs) / 1000, site.load_w / 1000,
                " + battery" if site.battery_w is not None else "", rhs / 1000))
    if energy_wh and last_pushed_wh:
        for i, name in ((0, "imported_kwh"), (1, "exported_kwh")):
            if last_pushed_wh[i] is not None and energy_wh[i] < last_pushed_wh[i]:
                r.add("%s went backwards" % name)
    return r
