# Payload, validation and the integer energy store, under MicroPython.
import json
import gc
from app.outputs import payload
from app.core import validate
from app.core.energy import Energy
from app.core.site import Site
from mptest import check, eq, done

# kilo(): exact 3 decimals from integers, signs right
eq(payload.kilo(415), "0.415", "W -> kW")
eq(payload.kilo(-227), "-0.227", "negative")
eq(payload.kilo(0), "0.000", "zero")
eq(payload.kilo(17511878), "17511.878", "big kWh stays exact (a float32 would not)")
eq(payload.kilo(-1000), "-1.000", "negative whole")

s = Site()
s.grid_w = 415
s.solar_w = 0
s.d_import_uwh = 1
b = payload.body("KEY", s, validate.consumption_w(s), [17511878, 16389472])
d = json.loads(b)
eq(set(d), {"apiKey", "siteMeters"}, "top fields")
eq(set(d["siteMeters"]), {"production_kw", "net_import_kw", "consumption_kw", "imported_kwh",
                          "exported_kwh"}, "only measured fields")
check('"imported_kwh":17511.878' in b, b)
check("tsms" not in b and "error" not in b, "no tsms, no error")
eq(d["siteMeters"]["consumption_kw"], 0.415, "consumption derived")

# battery fields only with a battery; never made-up zeros
s.battery_w = -1500
s.soc_pm = 537
s.battery_wh = 7250
d = json.loads(payload.body("KEY", s, validate.consumption_w(s), None))
eq(d["siteMeters"]["battery_discharge_kw"], -1.5, "battery")
eq(d["siteMeters"]["battery_soc"], 0.537, "soc fraction")
eq(d["siteMeters"]["battery_energy_kwh"], 7.25, "battery energy")
check("imported_kwh" not in d["siteMeters"], "no energy fields when unknown")
eq(d["siteMeters"]["consumption_kw"], -1.085, "consumption with battery (may be negative)")

# solar-only site: no grid meter -> no net import, no consumption
s2 = Site()
s2.solar_w = 3210
d = json.loads(payload.body("KEY", s2, validate.consumption_w(s2), None))
eq(d["siteMeters"], {"production_kw": 3.21}, "solar only")

# error payload: error and no siteMeters; key JSON-escaped
d = json.loads(payload.body('K"\\ey', error="meter: no reply from slave 1"))
eq(d, {"apiKey": 'K"\\ey', "error": "meter: no reply from slave 1"}, "error body")
# tsms in ms since 1970 from the ESP32's 2000-epoch seconds
d = json.loads(payload.body("K", s2, None, None, tsms_s=848847552))
eq(d["tsms"], (848847552 + 946684800) * 1000, "tsms epoch")

# validation: balance within tolerance, out-of-balance named, soc and ranges, counters
v = Site()
v.grid_w, v.solar_w, v.load_w = 500, 2000, 2550
check(validate.check(v, None, None, 100, 5).ok, "50 W off is within 100 W")
v.load_w = 3500
r = validate.check(v, None, None, 100, 5)
check(not r.ok and "balance off by 1.00 kW" in r.text(), r.text())
v.load_w = 2500
v.battery_w = 1000
r = validate.check(v, None, None, 100, 5)
check(not r.ok and "+ battery" in r.text(), r.text())
v.battery_w = None
v.soc_pm = 1200
check("battery_soc" in validate.check(v, None, None).text(), "soc range")
v.soc_pm = None
v.solar_w = -5000
v.load_w = None
check("solar CT reversed" in validate.check(v, None, None).text(), "negative production")
v.solar_w = 200000
check("out of range" in validate.check(v, None, None).text(), "range")
v.solar_w = 2000
r = validate.check(v, [100, 50], [101, 50])
check("imported_kwh went backwards" in r.text(), r.text())
check(validate.check(v, [101, 50], [101, 50]).ok, "equal counters fine")
v.grid_w = 1.5
check("not a number" in validate.check(v, None, None).text(), "float refused")

# energy store: integer Wh + uWh, exact over many small adds, no float
e = Energy()
for i in range(3600):
    e.add(3125 * 3, 0)  # three ATM90E32 counts per poll
eq(e.wh[0], 33, "3600 polls x 9375 uWh = 33.75 Wh")
eq(e.uwh[0], 750000, "remainder kept")
check(isinstance(e.wh[0], int), "int")
e.add(0, -5)
eq(e.wh[1], 0, "negative deltas ignored")

# hardware counters: follow the meter, survive a meter reset / swap without going back
h = Energy()
h.meter(17511878, 16389472)
eq(h.wh, [17511878, 16389472], "meter is the reference")
h.meter(17512000, 16389472)
eq(h.wh[0], 17512000, "follows")
note = h.meter(5, 16389500)
check(note is not None and "went back" in note, note)
eq(h.wh[0], 17512000, "no step back after a meter reset")
h.meter(105, 16389500)
eq(h.wh[0], 17512100, "counts on from the new meter")
h.meter(None, 16389600)
eq(h.wh, [17512100, 16389600], "None counter ignored")

# day totals
h.roll_day(9000)
h.meter(1105, 16389600)
eq(h.today_wh(0), 1000, "daily import")
h.roll_day(9001)
eq(h.today_wh(0), 0, "new day")

# allocation: the counting path allocates nothing
gc.collect()
a0 = gc.mem_alloc()
for i in range(1000):
    e.add(3125, 6250)
a1 = gc.mem_alloc()
eq(a1 - a0, 0, "Energy.add allocates nothing")
print("energy add: %d bytes for 1000 polls" % (a1 - a0))
done()
