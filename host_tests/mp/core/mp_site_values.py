# Site values that are never wrong (issue 15, points 9 and 10), under MicroPython, through the
# app's one entry for readings (App._accept) and its outputs: the Charge HQ body and status()
# (what the status page, /api/status and the other outputs read).
import json
import sys
from app.core import clock
from app.core import config
from app.core import validate
from app.outputs.chargehq import ChargeHQApp as App
from app.core.site import Site
from mptest import ListLog, check, eq, done

now = [1000]
clock.uptime_ms = lambda: now[0]
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "K"},
                       "source": {"type": "simulated"}})


def fresh():
    log = ListLog()
    return App(cfg, log), log


def meters(app):
    return json.loads(app.build_body()[0]).get("siteMeters", {})


def point9():
    # --- 9. a grid meter alone: consumption is unknown, never net import ---------------------
    app, log = fresh()
    s = Site()
    s.grid_w, s.hw_import_wh, s.hw_export_wh = -40000, 5000, 9000  # SDM630 while the site exports
    app._accept(s)
    sm = meters(app)
    eq(sm.get("net_import_kw"), -40.0, "net import pushed")
    check("consumption_kw" not in sm, "no consumption from a grid meter alone: %r" % sm)
    eq(app.status()["consumption_kw"], None, "status: consumption unknown")
    eq(validate.consumption_w(app.site), None, "consumption_w: None")
    # with production measured it is derived again
    s = Site()
    s.grid_w, s.solar_w = -2000, 5000
    app._accept(s)
    eq(meters(app).get("consumption_kw"), 3.0, "grid + solar: consumption derived")
    # a battery inverter next to the grid meter (no PV measured): grid + battery
    s = Site()
    s.grid_w, s.battery_w = 300, 1200
    app._accept(s)
    eq(meters(app).get("consumption_kw"), 1.5, "grid + battery: consumption derived")


def point10():
    # --- 10. a value outside its range reaches no output; the rest goes out -----------------
    app, log = fresh()
    s = Site()
    s.grid_w, s.solar_w, s.battery_w, s.soc_pm = -1200, 3000, 4294966096, 640  # unsigned read as signed
    app._accept(s)
    sm = meters(app)
    check("battery_discharge_kw" not in sm, "out-of-range battery power not pushed: %r" % sm)
    eq((sm.get("net_import_kw"), sm.get("production_kw"), sm.get("battery_soc")), (-1.2, 3.0, 0.64),
       "the rest is pushed")
    check("consumption_kw" not in sm, "consumption not derived from a dropped flow")
    st = app.status()
    eq((st["battery_discharge_kw"], st["consumption_kw"], st["production_kw"]), (None, None, 3.0),
       "status (status page, /api/status, other outputs) leaves it out too")
    eq(app.site.battery_w, None, "the app's reading (what every output takes) does not hold it")
    lines = [l for l in log.lines if "left out of every output" in l]
    check(len(lines) == 1 and "battery_discharge_kw 4294966.096 outside +-100 kW" in lines[0], lines)
    check("battery_discharge_kw" in app.validation.text(), "the check before the push names it: %s"
          % app.validation.text())
    # the same fault on the next reading: not logged again; back in range: said once
    s.battery_w = 4294966096
    app._accept(s)
    eq(len([l for l in log.lines if "left out of every output" in l]), 1, "logged once per change")
    s = Site()
    s.grid_w, s.solar_w, s.battery_w, s.soc_pm = -1200, 3000, -500, 640
    app._accept(s)
    eq(meters(app).get("battery_discharge_kw"), -0.5, "back in range: pushed")
    check(any("all values in range again" in l for l in log.lines), "recovery logged")
    # every range: each dropped with its reason, nothing else touched
    cases = (("grid_w", 250000, "net_import_kw 250.000 outside +-100 kW"),
             ("solar_w", -5000, "production_kw -5.000 is negative: solar CT reversed?"),
             ("load_w", -101000, "consumption_kw -101.000 outside"),
             ("soc_pm", 1200, "battery_soc 1.200 outside 0..1"),
             ("battery_wh", -10, "battery_energy_kwh -0.010 outside"),
             ("hw_import_wh", -1, "imported_kwh -0.001 is negative"))
    for field, bad, why in cases:
        app, log = fresh()
        s = Site()
        s.grid_w, s.solar_w, s.load_w, s.soc_pm, s.battery_w, s.battery_wh = -100, 2000, 1900, 500, 0, 5000
        s.hw_import_wh, s.hw_export_wh = 10, 20
        setattr(s, field, bad)
        app._accept(s)
        eq(getattr(app.site, field), None, "%s %r dropped" % (field, bad))
        check(any(why in l for l in log.lines), "%s: reason logged (%r)" % (field, log.lines))
        kept = [f for f in ("grid_w", "solar_w", "soc_pm", "battery_wh") if f != field
                and getattr(app.site, f) is None]
        eq(kept, [], "%s: nothing else dropped" % field)
        key = {"grid_w": "net_import_kw", "solar_w": "production_kw", "load_w": "consumption_kw",
               "soc_pm": "battery_soc", "battery_wh": "battery_energy_kwh"}.get(field)
        sm = meters(app)
        check(key is None or key not in sm, "%s: not in the body %r" % (field, sm))
        check(len(sm) >= 3, "%s: the rest is pushed %r" % (field, sm))


# one point or both: `mp_site_values.py 10` runs point 10 alone (to see it fail alone)
for n in sys.argv[1:] or ["9", "10"]:
    globals()["point" + n]()
done()
