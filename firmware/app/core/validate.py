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
#
# screen() runs first, on every reading as it is accepted (app.core.scheduler), before any output
# can see it: a value outside its range is dropped there (set to None, its bit in site.dropped,
# the reason in site.notes), so no output (Charge HQ, status page, API, MQTT) ever carries it
# and the rest of the reading still goes out.
from micropython import const

_NIGHT_DRAW_W = const(1000)
_MAX_BATTERY_WH = const(1000000)  # 1 MWh: beyond any home battery
# site.dropped bits
GRID = const(1)
SOLAR = const(2)
BATTERY = const(4)
LOAD = const(8)
SOC = const(16)
BATTERY_WH = const(32)
HW_IMPORT = const(64)
HW_EXPORT = const(128)
_FLOWS = const(15)


def _kw3(v):
    sign = "-" if v < 0 else ""
    v = -v if v < 0 else v
    return "%s%d.%03d" % (sign, v // 1000, v % 1000)


def screen(site, max_site_kw=100):
    """Drop every value outside its range from site (None); -> None, or the reasons as text
    (allocates only then). Non-numbers are left for check() (the push becomes an error)."""
    limit = max_site_kw * 1000
    why = None
    for bit, name in ((GRID, "net_import_kw"), (SOLAR, "production_kw"),
                      (BATTERY, "battery_discharge_kw"), (LOAD, "consumption_kw")):
        v = _get(site, bit)
        if not isinstance(v, int):
            continue
        if v > limit or v < -limit:
            why = _drop(site, bit, why, "%s %s outside +-%d kW" % (name, _kw3(v), max_site_kw))
        elif bit == SOLAR and v < -_NIGHT_DRAW_W:
            why = _drop(site, bit, why, "production_kw %s is negative: solar CT reversed?" % _kw3(v))
    v = site.soc_pm
    if isinstance(v, int) and not 0 <= v <= 1000:
        why = _drop(site, SOC, why, "battery_soc %s outside 0..1" % _kw3(v))
    v = site.battery_wh
    if isinstance(v, int) and not 0 <= v <= _MAX_BATTERY_WH:
        why = _drop(site, BATTERY_WH, why, "battery_energy_kwh %s outside 0..%d" % (
            _kw3(v), _MAX_BATTERY_WH // 1000))
    for bit, name in ((HW_IMPORT, "imported_kwh"), (HW_EXPORT, "exported_kwh")):
        v = _get(site, bit)
        if isinstance(v, int) and v < 0:
            why = _drop(site, bit, why, "%s %s is negative" % (name, _kw3(v)))
    return why


_ATTR = {GRID: "grid_w", SOLAR: "solar_w", BATTERY: "battery_w", LOAD: "load_w", SOC: "soc_pm",
         BATTERY_WH: "battery_wh", HW_IMPORT: "hw_import_wh", HW_EXPORT: "hw_export_wh"}


def _get(site, bit):
    return getattr(site, _ATTR[bit])


def _drop(site, bit, why, text):
    setattr(site, _ATTR[bit], None)
    site.dropped |= bit
    text = "dropped " + text
    site.notes = text if site.notes is None else site.notes + "; " + text
    return text if why is None else why + "; " + text


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
    """Measured consumption, or production + net import (+ battery) when not measured. None
    when it cannot be known: a grid meter alone (no production or battery measured: the site's
    own generation is unknown), or a flow dropped as out of range."""
    if site.load_w is not None:
        return site.load_w
    if site.grid_w is None or (site.solar_w is None and site.battery_w is None):
        return None
    if site.dropped & _FLOWS:
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
    if site.notes:
        r.add(site.notes)
    if energy_wh and last_pushed_wh:
        for i, name in ((0, "imported_kwh"), (1, "exported_kwh")):
            if last_pushed_wh[i] is not None and energy_wh[i] < last_pushed_wh[i]:
                r.add("%s went backwards" % name)
    return r
