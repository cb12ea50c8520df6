# Local time from a POSIX TZ string (device.timezone, e.g. "AEST-10AEDT,M10.1.0,M4.1.0/3": read
# by app.core.tzrules into a zone tuple). The ESP32 port has no time zone support of its own (its
# localtime() is UTC), so this is ours.
#
# Times are seconds since 2000-01-01 UTC (the ESP32's time.time()). offset(t) keeps the answer
# until the next change of offset, so the per-poll call (local_day) allocates nothing.
from micropython import const

_DAY = const(86400)

_zone = None          # (std_name, std_off, dst_name, dst_off, start_rule, end_rule) or None (UTC)
_lo = 0               # offset() answers _off for _lo <= t < _hi without looking again
_hi = -1
_off = 0
_dst = False


def days_from_civil(y, m, d):
    """Days from 2000-01-01 to the date y-m-d (proleptic Gregorian)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 730425  # 730425: days from 0000-03-01 to 2000-01-01


def civil_from_days(z):
    """-> (year, month, day) of day z since 2000-01-01."""
    z += 730425
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def _leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _rules():
    from app.core.tzrules import parse, check
    return parse, check


def _drop_rules():
    # the parser is needed again only for a new zone
    from app.core.modules import forget
    forget("app.core.tzrules")


def check(tz):
    """-> None when `tz` is a usable POSIX TZ string, else the reason (for config checks)."""
    why = _rules()[1](tz)
    _drop_rules()
    return why


def set_zone(tz):
    """Use `tz` from now on (UTC when it is empty or invalid: config checks it first)."""
    global _zone, _hi
    parse = _rules()[0]
    try:
        _zone = parse(tz)
    except (ValueError, IndexError):
        _zone = None
    parse = None
    _drop_rules()
    _hi = -1  # look again at the next call


# --- transitions -------------------------------------------------------------------------------
def _rule_day(rule, y):
    """Day number (since 2000-01-01) on which `rule` falls in year y."""
    kind, a, w, d, _t = rule
    if kind == "M":
        first = days_from_civil(y, a, 1)
        wd = (first + 6) % 7  # 2000-01-01 was a Saturday (6); Sunday = 0
        day = (d - wd) % 7 + 7 * (w - 1)
        mlen = _MDAYS[a - 1] + (1 if a == 2 and _leap(y) else 0)
        while day >= mlen:  # week 5: the last such weekday of the month
            day -= 7
        return first + day
    jan1 = days_from_civil(y, 1, 1)
    if kind == "J":
        return jan1 + a - 1 + (1 if _leap(y) and a >= 60 else 0)
    return jan1 + a


def _transitions(z, y):
    """[(utc second, offset after, is dst)] of year y in zone z (with DST rules), in time order."""
    start = _rule_day(z[4], y) * _DAY + z[4][4] - z[1]  # DST starts at a standard-time moment
    end = _rule_day(z[5], y) * _DAY + z[5][4] - z[3]    # ... and ends at a DST moment
    out = [(start, z[3], True), (end, z[1], False)]
    if end < start:  # southern hemisphere: DST spans the new year
        out.reverse()
    return out


def offset(t):
    """Seconds to add to UTC second `t` for local time."""
    global _lo, _hi, _off, _dst
    if _lo <= t < _hi:
        return _off
    z = _zone
    if z is None or z[2] is None:
        _off = 0 if z is None else z[1]
        _dst = False
        _lo, _hi = t - _DAY, t + 30 * _DAY  # no rules: any window will do
        return _off
    y = civil_from_days(t // _DAY)[0]
    marks = _transitions(z, y - 1) + _transitions(z, y) + _transitions(z, y + 1)
    for i in range(1, len(marks)):
        if marks[i][0] > t:
            _lo, _off, _dst = marks[i - 1]
            _hi = marks[i][0]
            return _off
    _lo, _off, _dst = marks[-1]  # (not reached: year y+1 lies ahead of t)
    _hi = t + 1
    return _off


def local_day(t):
    """The local day number of UTC second `t` (days since 2000-01-01 local): it changes at
    local midnight. No allocation while the offset stays the same."""
    return (t + offset(t)) // _DAY


def zone_name(t):
    offset(t)
    z = _zone
    if z is None:
        return "UTC"
    return z[2] if _dst else z[0]


def fmt(t, seconds=True):
    """'2026-12-07 09:41:03 AEDT' for UTC second t."""
    lt = t + offset(t)
    y, m, d = civil_from_days(lt // _DAY)
    s = lt % _DAY
    hm = "%04d-%02d-%02d %02d:%02d" % (y, m, d, s // 3600, s // 60 % 60)
    if seconds:
        hm += ":%02d" % (s % 60)
    return hm + " " + zone_name(t)


def hhmm(t):
    """'09:41' local."""
    lt = (t + offset(t)) % _DAY
    return "%02d:%02d" % (lt // 3600, lt // 60 % 60)
