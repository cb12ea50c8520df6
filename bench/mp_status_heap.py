# Heap cost of the status page's parts under MicroPython (run by tools/status_heap.py): the 24 h
# history ring, the view module, and rendering the live part, the chart of a full day and
# /api/history. Prints one "STATUS-HEAP name=bytes ..." line.
import gc
import sys
from app.core.site import Site
from app.core import validate  # noqa: F401  (loaded on a running meter already)
gc.collect()
base = gc.mem_alloc()
from app.core.history import History, POINTS, STEP_MS  # noqa: E402
gc.collect()
mod_hist = gc.mem_alloc() - base
a0 = gc.mem_alloc()
h = History()
gc.collect()
ring = gc.mem_alloc() - a0
s = Site()
for k in range(POINTS + 3):  # a full day of 5-minute points
    s.grid_w, s.solar_w, s.battery_w = 1500 - k * 10, k * 20, -300 + k
    h.add(s, k * STEP_MS)
from app.web import portal
from app.core import clock
from app.core import localtime  # noqa: E402,F401  (loaded on a running meter already)
gc.collect()
a0 = gc.mem_alloc()
from app.web import statusview as v  # noqa: E402
gc.collect()
mod_view = gc.mem_alloc() - a0
st = {"meter_ok": True, "source": "atm90e32", "reading_age_s": 1, "meter_error": None, "config_errors": [],
      "net_import_kw": -1.234, "production_kw": 4.5, "consumption_kw": 2.1, "battery_discharge_kw": -1.166,
      "battery_soc": 0.61, "today_imported_kwh": 3.2, "today_exported_kwh": 11.0, "imported_kwh": 1234.5,
      "exported_kwh": 5678.9, "validation": "ok", "last_push": "2026-12-07 09:41:03 AEDT",
      "last_push_result": "HTTP 200", "next_push_s": 31, "pushes_ok": 100, "pushes_error": 0,
      "pushes_failed": 1, "wifi": {"ssid": "HomeNet", "ip": "192.168.1.9", "rssi": -61, "connected": True},
      "uptime_s": 90061, "free_heap": 60000, "reset_cause": "power-on", "clock_synced": True,
      "local_time": "2026-12-07 09:41:03 AEDT"}
now = (POINTS + 2) * STEP_MS


def render(gen):
    """-> (bytes of text, most live above the start) over one render (collected every 20 pieces,
    as the server's other work would)."""
    gc.collect()
    start = gc.mem_alloc()
    peak = n = i = 0
    for part in gen:
        n += len(part)
        a = gc.mem_alloc() - start
        if a > peak:
            peak = a
        i += 1
        if i % 20 == 0:
            gc.collect()
    return n, peak


def allocated(make):
    """Bytes allocated in all by one render (the garbage the collector has to take back)."""
    gc.collect()
    gc.disable()
    total = 0
    a0 = gc.mem_alloc()
    i = 0
    for part in make():
        i += 1
        if i % 50 == 0:
            total += gc.mem_alloc() - a0
            gc.collect()
            a0 = gc.mem_alloc()
    total += gc.mem_alloc() - a0
    gc.enable()
    return total


out = []
for name, make in (("live", lambda: v.live_parts(st)),
                   ("chart", lambda: v.chart_parts(h, now, 9800 * 86400, True)),
                   ("history_json", lambda: v.history_json(h, now, 9800 * 86400, True))):
    n, peak = render(make())
    out.append("%s_text=%d %s_alloc=%d %s_peak_live=%d" % (name, n, name, allocated(make), name, peak))
print("STATUS-HEAP platform=%s history_module=%d history_ring=%d statusview_module=%d %s" % (
    sys.platform, mod_hist, ring, mod_view, " ".join(out)))
