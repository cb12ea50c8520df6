# What the LAN status page shows, as HTML pieces (app.web.statuspage serves them): the power-flow
# picture (inline SVG), the numbers, the 24 h chart (inline SVG from app.core.history) and
# /api/history. No external assets: it works on a phone on a network without the internet.
# Everything is a generator of small strings (app.web.portal sends ~1 KB at a time).
import time
from micropython import const
from app.core import clock
from app.core import localtime
from app.core.history import POINTS, SERIES
from app.web.html import esc

_COLORS = ("#d9534f", "#e8a200", "#2a7ae2", "#3c9d3c")  # grid, solar, consumption, battery
_NAMES = ("Grid", "Solar", "Home", "Battery")
_IDLE_W = const(20)   # below this a flow is drawn still
# chart geometry (SVG user units)
_CX0 = const(4)
_CW = const(592)
_CY0 = const(20)
_CH = const(170)


def kw(v):
    return "-" if v is None else "%.2f" % v


def kwh(v):
    return "-" if v is None else "%.2f kWh" % v


def human_uptime(s):
    if s < 120:
        return "%d s" % s
    if s < 7200:
        return "%d min" % (s // 60)
    if s < 172800:
        return "%d h %d min" % (s // 3600, s // 60 % 60)
    return "%d days %d h" % (s // 86400, s // 3600 % 24)


# --- the flow picture ---------------------------------------------------------------------------
# node: (x, y) and the path between it and the hub (160, 134), drawn from the node to the hub
_NODES = ((44, 134, "M70 134H160"), (160, 48, "M160 74V134"), (276, 134, "M160 134H250"),
          (160, 220, "M160 194V134"))
_WAYS = (("import", "export"), ("", ""), ("", ""), ("discharging", "charging"))


def _line(i, w, toward_hub):
    if w is None:
        return ""
    cls = "i"  # idle
    if w > _IDLE_W or w < -_IDLE_W:
        cls = "f" if (w > 0) == toward_hub else "r"
    return '<path class="fl %s" stroke="%s" d="%s"/>' % (cls, _COLORS[i], _NODES[i][2])


def _node(i, w, extra=""):
    x, y = _NODES[i][0], _NODES[i][1]
    ly = y + 42 if i != 1 else y - 34  # the name below the circle (solar: above)
    if w is None:
        return ('<g class="na"><circle cx="%d" cy="%d" r="26"/><text x="%d" y="%d">n/a</text>'
                '<text x="%d" y="%d" class="n">%s</text></g>' % (x, y, x, y + 4, x, ly, _NAMES[i]))
    way = ""
    if w > _IDLE_W:
        way = _WAYS[i][0]
    elif w < -_IDLE_W:
        way = _WAYS[i][1]
    return ('<circle cx="%d" cy="%d" r="26" stroke="%s"/><text x="%d" y="%d" class="v">%s</text>'
            '<text x="%d" y="%d" class="s">kW</text><text x="%d" y="%d" class="n">%s%s%s</text>'
            % (x, y, _COLORS[i], x, y + 2, kw(abs(w) / 1000), x, y + 15, x, ly, _NAMES[i],
               " " + way if way else "", extra))


def flow_svg(st):
    """Solar above, grid left, home right, battery below, each joined to the middle by a line
    whose dashes move the way the power flows; values without sign, the direction in words."""
    g = st.get
    grid, solar, load, batt = (g("net_import_kw"), g("production_kw"), g("consumption_kw"),
                               g("battery_discharge_kw"))
    w = [None if v is None else int(v * 1000) for v in (grid, solar, load, batt)]
    soc = g("battery_soc")
    yield '<svg class="flow" viewBox="0 0 320 270" role="img" aria-label="power flow">'
    yield _line(0, w[0], True)    # grid: import flows toward the home
    yield _line(1, w[1], True)    # solar: production flows in
    yield _line(2, w[2], False)   # home: consumption flows out of the hub to it
    if w[3] is not None:
        yield _line(3, w[3], True)  # battery: discharge flows in, charging out
    yield '<circle cx="160" cy="134" r="7" fill="#777" stroke="none"/>'
    for i in range(3):
        yield _node(i, w[i])
    if w[3] is not None:
        yield _node(3, w[3], ", %d %%" % round(soc * 100) if soc is not None else "")
    yield "</svg>"


# --- the page's live part -----------------------------------------------------------------------
def _rows(rows):
    for label, v in rows:
        yield "<tr><th>%s</th><td>%s</td></tr>" % (label, esc(v))


def live_parts(st):
    """The part of the page the script refreshes every few seconds (/?part=live)."""
    if st["meter_ok"]:
        yield '<p class="ok">Meter %s: reading %s s old</p>' % (esc(st["source"]), esc(st["reading_age_s"]))
    else:
        yield '<p class="err">Meter %s: %s</p>' % (esc(st["source"]), esc(st["meter_error"]))
    errs = st.get("warnings") or ()  # app.core.config: refused values (their defaults used), risky ones
    if errs:
        yield '<div class="warn"><b>Settings with errors or warnings (a refused value\'s default is used):</b><ul>'
        for e in errs:
            yield "<li>%s</li>" % esc(e)
        yield "</ul></div>"
    yield '<div class="cols"><div>'
    for part in flow_svg(st):
        yield part
    yield '</div><div><h2>Energy</h2><table>'
    for part in _rows((("Imported today", kwh(st["today_imported_kwh"])),
                       ("Exported today", kwh(st["today_exported_kwh"])),
                       ("Imported (lifetime)", kwh(st["imported_kwh"])),
                       ("Exported (lifetime)", kwh(st["exported_kwh"])))):
        yield part
    yield "</table><h2>Charge HQ</h2><table>"
    for part in _rows((("Check", st["validation"] or "-"),
                       ("Last push", "%s: %s" % (st["last_push"] or "never", st["last_push_result"] or "-")),
                       ("Next push in", "%d s" % st["next_push_s"]),
                       ("Pushes", "%d with data, %d error reports, %d failed" % (
                           st["pushes_ok"], st.get("pushes_error", 0), st["pushes_failed"])),
                       ("Endpoint", st.get("chargehq_gone") or "answering"))):  # app.outputs.retire
        yield part
    yield "</table></div></div><h2>Device</h2><table>"
    w = st.get("wifi")
    if w:
        wtxt = ("%s, %s, signal %s dBm" % (w["ssid"], w["ip"], w["rssi"]) if w["connected"]
                else "%s: not connected" % w["ssid"])
    else:
        wtxt = "-"
    fw = st.get("firmware") or {}  # app.system.ota_health.status(): running and previous version
    vtxt = "%s (previous: %s)%s" % (fw.get("version"), fw.get("previous") or "-",
                                    ", on trial" if fw.get("on_trial") else "")
    if fw.get("note"):
        vtxt += "; " + fw["note"]
    for part in _rows((("Version", vtxt), ("Wi-Fi", wtxt), ("Up for", human_uptime(st["uptime_s"])),
                       ("Free memory", "%d KB" % (st["free_heap"] // 1024)), ("Last reset", st["reset_cause"]),
                       ("Time", st["local_time"] if st["clock_synced"] else "not set (no time server yet)"))):
        yield part
    yield "</table>"


# --- the 24 h chart -----------------------------------------------------------------------------
def _nice(v):
    for step in (500, 1000, 2000, 2500, 5000, 10000, 20000, 25000, 50000, 100000):
        if v <= step * 4:
            return step
    return 250000


def chart_parts(hist, up_ms, now_s, synced):
    """The day's chart as inline SVG (/?part=chart): 5-minute averages, 24 h to the right edge."""
    now = hist.now_slot(up_ms)
    lo = hi = 0
    for k in range(POINTS):
        for i in range(4):
            v = hist.value(k, i, now)
            if v is not None:
                lo = v if v < lo else lo
                hi = v if v > hi else hi
    step = _nice(max(hi - lo, 1000))
    lo = -((-lo + step - 1) // step) * step
    hi = max(step, (hi + step - 1) // step * step)
    span = hi - lo

    def y(v):
        return _CY0 + (hi - v) * _CH // span

    yield '<svg class="chart" viewBox="0 0 600 216" role="img" aria-label="last 24 hours">'
    v = lo
    while v <= hi:  # horizontal grid, a label per line
        yield '<path class="g%s" d="M%d %dH%d"/><text class="ax" x="%d" y="%d">%s</text>' % (
            "0" if v == 0 else "", _CX0, y(v), _CX0 + _CW, _CX0 + 2, y(v) - 3, "%g kW" % (v / 1000))
        v += step
    # hour marks: local 0, 6, 12, 18 h when the clock is set, else hours ago
    for k in range(POINTS):
        x = _CX0 + k * _CW // (POINTS - 1)
        ago_s = (POINTS - 1 - k) * hist.step_ms // 1000
        if synced:
            t = now_s - ago_s
            lt = (t + localtime.offset(t)) % 86400
            if lt // 300 % 72 != 0:  # this 5-minute step holds a 6-hour mark
                continue
            label = "%02d:00" % (lt // 3600)
        else:
            if ago_s % 21600:
                continue
            label = "-%d h" % (ago_s // 3600) if ago_s else "now"
        yield '<path class="g" d="M%d %dV%d"/><text class="ax m" x="%d" y="%d">%s</text>' % (
            x, _CY0, _CY0 + _CH, x, _CY0 + _CH + 14, label)
    for i in range(4):
        yield '<path class="ln" stroke="%s" d="' % _COLORS[i]
        pen = "M"
        for k in range(POINTS):
            v = hist.value(k, i, now)
            if v is None:
                pen = "M"
                continue
            yield "%s%d %d" % (pen, _CX0 + k * _CW // (POINTS - 1), y(v))
            pen = "L"
        yield '"/>'
    yield "</svg><p class=\"legend\">"
    for i in range(4):
        yield '<span style="color:%s">&#9632;</span> %s ' % (_COLORS[i], ("Grid (+ import)", "Solar",
                                                                      "Consumption", "Battery (+ discharge)")[i])
    yield "&middot; 5-minute averages kept on the meter (a power cut starts a new chart)</p>"


def history_json(hist, up_ms, now_s, synced):
    """/api/history: {"step_s", "end": local time or null, "grid": [W or null x 288], ...}."""
    now = hist.now_slot(up_ms)
    yield '{"step_s": %d, "points": %d, "end": %s, "unit": "W"' % (
        hist.step_ms // 1000, POINTS, '"%s"' % clock.fmt_time(now_s) if synced else "null")
    for i in range(4):
        yield ', "%s": [' % SERIES[i]
        for k in range(POINTS):
            v = hist.value(k, i, now)
            yield ("null" if v is None else "%d" % v) + ("," if k < POINTS - 1 else "")
        yield "]"
    yield "}"


def now_args(app):
    return app.history, clock.uptime_ms(), time.time(), clock.is_synced()


# --- the log page --------------------------------------------------------------------------------
def log_parts(log):
    """The RAM log, newest first (secrets were already hidden when the lines were logged)."""
    yield '<p><a href="/">Back to status</a> &middot; newest first, the last %d events since the restart</p><table>' % (
        len(log.recent()))
    entries = log.recent()
    for i in range(len(entries) - 1, -1, -1):
        t, level, msg = entries[i]
        when = clock.fmt_time(t) if clock.is_synced() and t > 820454400 else "up " + clock.fmt_uptime(t * 1000)
        yield '<tr class="%s"><td>%s</td><td>%s</td><td>%s</td></tr>' % (
            "err" if level == "E" else "", esc(when), level, esc(msg))
    yield "</table>"
