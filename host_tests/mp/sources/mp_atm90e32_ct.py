# The CT source (app.sources.ct) on chip models, under MicroPython: config checks, board
# profiles, roles, invert, multiplier, split-phase sum, energy netting, faults, and the
# background drain of the energy registers.
import asyncio
import gc
import time
import machine
from app.core import boards
from app.core.site import Site
from app.sources import SourceError
from app.sources import ct
from atm90e32_model import ATM90E32Model, split_board_model
from mptest import check, eq, near, raises, done, ListLog

ROOT = __file__.rsplit("/", 4)[0]  # host_tests/mp/<package>/this.py
SPLIT = boards.load("circuitsetup_split", ROOT + "/boards")
SIX = boards.load("circuitsetup_6ch", ROOT + "/boards")
GENERIC = boards.load("generic_atm90e32", ROOT + "/boards")


def errors(src):
    out = []
    ct.check_config(src, lambda k, why: out.append("%s: %s" % (k, why)))
    return out


# --- config checks ------------------------------------------------------------------------
good = {"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000",
        "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                     {"chip": 0, "phase": "C", "role": "solar", "invert": True, "multiplier": 2}]}
eq(errors(good), [], "the simulator's config is valid")
for bad, key in (({"line_hz": 55}, "source.line_hz"), ({"channels": []}, "source.channels"),
                 ({"channels": [{"phase": "D", "role": "grid"}]}, "source.channels[0].phase"),
                 ({"channels": [{"phase": "A", "role": "house"}]}, "source.channels[0].role"),
                 ({"channels": [{"phase": "A", "role": "grid", "invert": 1}]}, "source.channels[0].invert"),
                 ({"channels": [{"phase": "A", "role": "grid", "multiplier": 0}]}, "source.channels[0].multiplier"),
                 ({"channels": [{"phase": "A", "role": "grid", "multiplier": 1.5}]}, "source.channels[0].multiplier"),
                 ({"channels": [{"phase": "A", "role": "grid", "igain": 70000}]}, "source.channels[0].igain"),
                 ({"channels": [{"phase": "A", "role": "grid", "chip": 99}]}, "source.channels[0].chip"),
                 ({"channels": [{"phase": "A", "role": "ignored"}]}, "source.channels"),
                 ({"channels": [{"phase": "A", "role": "grid"}, {"phase": "A", "role": "solar"}]},
                  "source.channels[1]"),
                 ({"addons": 7}, "source.addons")):
    src = dict(good)
    src.update(bad)
    errs = errors(src)
    check(any(e.startswith(key + ":") for e in errs), "%r -> %r" % (bad, errs))
from app.core import config
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k"}, "source": good})
eq(cfg.problem, None, "config.validate accepts the CT source")
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k"},
                       "source": {"type": "atm90e32", "channels": [{"phase": "Q"}]}})
check(cfg.problem is not None and any("phase" in e for e in cfg.errors), "config.validate rejects")

# --- board profiles -> chip settings ------------------------------------------------------
st = ct.chip_settings(good, SPLIT, 0)
eq((st["cs"], st["phases"], st["pga"], st["ugain"][0]), (5, "AC", (2, 2, 2), 7840),
   "split board at 50 Hz: the 240 V adapter's voltage gain (Australia, the board's default)")
eq(ct.chip_settings(dict(good, line_hz=60), SPLIT, 0)["ugain"][0], 3920, "60 Hz: 120 V adapter")
eq(ct.chip_settings(dict(good, mains_v=230), SPLIT, 0)["ugain"][0], 7513, "230 V adapter")
eq(ct.chip_settings(dict(good, mains_v=230), SIX, 0)["ugain"][0], 14001, "230 V on the 6-channel board")
eq(ct.chip_settings(dict(good, mains_v=220), SPLIT, 0)["ugain"][0], 7187, "220 V: scaled from 120 V")
st2 = ct.chip_settings({"channels": [{"chip": 0, "phase": "A", "role": "grid", "pga": 1}]}, SPLIT, 0)
eq((st2["pga"][0], st2["igain"][0]), (1, 50996), "a channel at PGA 1x: the gain doubles")
eq((st["igain"][0], st["igain"][2]), (25498, 25498 // 2), "preset gain; multiplier 2 halves C")
st = ct.chip_settings({"ct_model": "SCT-024", "channels": [{"chip": 0, "phase": "A", "role": "grid"}]},
                      SPLIT, 0)
eq((st["pga"][0], st["igain"][0]), (1, 50996), "SCT-024 on the split board: PGA 1x (headroom)")
for b in (SPLIT, SIX, GENERIC):
    for name in ("SCT-006", "SCT-013-000", "SCT-016", "SCT-024"):
        check(name in b["ct_presets"] and 0 < b["ct_presets"][name]["igain"] < 65536,
              "%s preset %s" % (b["name"], name))
eq([c["cs"] for c in ct.board_chips(SIX, 6)], [5, 4, 0, 16, 27, 17, 2, 21, 13, 22, 14, 25, 15, 26],
   "6-channel board with 6 add-ons: CS pins")
st = ct.chip_settings({"addons": 1, "channels": [{"chip": 3, "phase": "B", "role": "grid"}]}, SIX, 3)
eq((st["cs"], st["phases"], st["igain"][1]), (16, "ABC", 27518), "add-on chip")
e = raises(SourceError, ct.chip_settings, {"channels": [{"chip": 3, "phase": "B", "role": "grid"}]}, SIX, 3)
check("addons" in str(e), str(e))
e = raises(SourceError, ct.chip_settings, {"channels": [{"chip": 0, "phase": "B", "role": "grid"}]},
           SPLIT, 0)
check("no phase B" in str(e), str(e))
e = raises(SourceError, ct.chip_settings, {"ct_model": "XYZ", "channels": [{"phase": "A", "role": "grid"}]},
           SPLIT, 0)
check("XYZ" in str(e), str(e))


# --- the source on chip models ------------------------------------------------------------
def split_model():
    # an Australian site (230 V mains, 240 V adapter) on a board whose current front end is
    # exactly what the published gain assumes
    m = split_board_model(50, volts=230.0, adapter_v=240, profile=False, noise=False,
                          clock="manual")
    m.set_front_end(igain_true_1x=2 * 25498)
    return m


def make(src, board, models):
    machine.detach_all()
    for cs, m in models.items():
        machine.attach_spi_device(cs, m)
    log = ListLog()
    return ct.CTSource(src, board, log), log


async def main():
    site = Site()
    # grid on A, solar on C (the simulator's board)
    m = split_model()
    src, log = make({"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000",
                     "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                                  {"chip": 0, "phase": "C", "role": "solar"}]}, SPLIT, {5: m})
    await src.start()
    check(any("CT meter" in l for l in log.lines), log.lines)
    m.set_load(0, -2500.0, pf=0.97)
    m.set_load(2, 3100.0, pf=0.99)
    m.advance(10000)
    await src.poll(site)
    eq((site.grid_w, site.solar_w, site.battery_w), (-2500, 3100, None), "roles")
    eq(site.d_import_uwh, 0, "no import while exporting")
    near(site.d_export_uwh, 2500 * 10 * 1000000 // 3600, 3125, "export uWh from the chip's counts")
    eq(site.d_export_uwh % 3125, 0, "whole counts")
    site.clear()
    m.set_load(0, 400.0)
    m.set_load(2, -4.0)  # inverter's night draw
    m.advance(600000)  # 10 minutes (the 16-bit register holds 204.8 Wh)
    await src.poll(site)
    eq((site.grid_w, site.solar_w), (400, 0), "night: solar draw clamped to 0 (it is consumption)")
    near(site.d_import_uwh, 400 * 600 * 1000000 // 3600, 3125, "10 minutes at 400 W")
    m.set_load(2, -2500.0)
    site.clear()
    await src.poll(site)
    eq(site.solar_w, -2500, "a reversed solar CT is not hidden (the push check names it)")
    m.set_load(2, -4.0)
    src.close()

    # invert and multiplier: a solar CT clipped backwards; a 200 A grid CT with the gain halved
    m = split_model()
    src, log = make({"type": "atm90e32", "ct_model": "SCT-013-000",
                     "channels": [{"chip": 0, "phase": "A", "role": "grid", "multiplier": 2,
                                   "pga": 1},
                                  {"chip": 0, "phase": "C", "role": "solar", "invert": True}]},
                    SPLIT, {5: m})
    await src.start()
    eq(m.regs[0x62], 25498, "PGA 1x doubles the gain, multiplier 2 halves it")
    eq(m.regs[0x34] & 3, 0, "phase A at PGA 1x")
    # 100 A: beyond one register's range (fine at half gain) and beyond the ADC at PGA 2x
    # (60 A on this board), within it at PGA 1x (119 A)
    m.set_load(0, 23000.0, pf=1.0)
    m.set_load(2, -2000.0)          # the CT is the wrong way round
    m.advance(60000)
    site.clear()
    await src.poll(site)
    near(site.grid_w, 23000, 2, "multiplier 2 brings 100 A back")
    eq(site.solar_w, 2000, "invert")
    det = src.detail()
    eq([(x["channel"], x["role"], x["w"]) for x in det], [("chip 0 A", "grid", 23000),
                                                          ("chip 0 C", "solar", 2000)], "detail")
    check(abs(det[0]["a"] - 100.0) < 0.01 and abs(det[0]["v"] - 230.0) < 0.01, det)
    eq((det[1]["status"], det[0]["status"]), ("reverse", "ok"), "status per channel")
    near(site.d_import_uwh, 23000 * 60 * 1000000 // 3600, 2 * 3125, "grid energy x multiplier")
    # allocation of a whole source poll (driver: 0 bytes; the rest is the coroutine's frame and
    # the unix port's time.time(), which allocates in the stand-in but not on the ESP32)
    for i in range(3):
        await src.poll(site)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for i in range(50):
        await src.poll(site)
    per = (gc.mem_alloc() - before) // 50
    gc.enable()
    t = gc.mem_alloc()
    time.time()
    t = gc.mem_alloc() - t
    print("CTSource.poll: %d bytes allocated per poll (time.time() stand-in: %d of them)" % (per, t))
    check(per <= 256, "source poll allocation stays small: %d bytes" % per)
    src.close()

    # split-phase grid: both legs are grid, summed; energy netted per poll
    m = split_model()
    m.volts[1] = 0.0
    src, log = make({"type": "atm90e32", "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                                                       {"chip": 0, "phase": "C", "role": "grid"}]},
                    SPLIT, {5: m})
    await src.start()
    m.set_load(0, 1000.0)
    m.set_load(2, -300.0)
    m.advance(36000)
    site.clear()
    await src.poll(site)
    eq((site.grid_w, site.solar_w), (700, None), "grid = sum of both legs")
    near(site.d_import_uwh, 7000000, 2 * 3125, "net import of the two legs (10 h at 700 W = 7 Wh)")
    eq(site.d_export_uwh, 0, "netted: no export while the sum imports")
    src.close()

    # 6-channel board: battery CT on chip 1, phase B; grid on chip 0 A; ignored channel
    m0 = ATM90E32Model(ugain_true=7305, igain_true_1x=27518, noise=False, volts=120.0)
    m1 = ATM90E32Model(ugain_true=7305, igain_true_1x=27518, noise=False, volts=120.0)
    src, log = make({"type": "atm90e32", "line_hz": 60,
                     "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                                  {"chip": 0, "phase": "B", "role": "solar"},
                                  {"chip": 1, "phase": "B", "role": "battery"},
                                  {"chip": 1, "phase": "C", "role": "ignored"}]}, SIX, {5: m0, 4: m1})
    await src.start()
    eq((m0.regs[0x33], m1.regs[0x33]), (0x1087, 0x1087), "both chips at 60 Hz, 3 phases")
    m0.line_hz = m1.line_hz = 50  # a 50 Hz grid, configured as 60 Hz
    m0.set_load(0, 500.0)
    m0.set_load(1, 2000.0)
    m1.set_load(1, 1200.0)
    m1.set_load(2, 9999.0)
    m0.advance(1000)
    m1.advance(1000)
    site.clear()
    await src.poll(site)
    eq((site.grid_w, site.solar_w, site.battery_w), (500, 2000, 1200), "6-channel roles")
    eq([l for l in log.lines if "line frequency" in l],
       ["chip 0: line frequency 50.00 Hz is outside the 60 Hz band: check source.line_hz"],
       "a wrong line_hz is logged once")
    eq(m1.regs[0x83], 0, "ignored channel's register drained too")

    # faults: an error, never zeros; counts wait for the next good poll
    m0.fault = "garbage"
    m0.advance(10000)
    site.clear()
    e = None
    try:
        await src.poll(site)
    except SourceError as x:
        e = x
    check(e is not None and "chip 0" in str(e), "garbage on the bus: %s" % e)
    m0.fault = None
    m0.advance(10000)
    site.clear()
    await src.poll(site)
    near(site.d_import_uwh, 500 * 20 * 1000000 // 3600, 3125, "import across the failed poll")
    # chip reset: the source sets it up again and says so
    m0.reset()
    m0.set_load(0, 500.0)
    site.clear()
    await src.poll(site)
    eq(site.grid_w, 500, "reading right after the chip's reset")
    check(any(l.startswith("chip 0: ATM90E32 reset (MeterEn=0") for l in log.lines) and
          any("set up again" in l for l in log.lines), log.lines)
    # over-range current on one channel: that role is left out, the rest of the site goes on
    # (the ADC clips at 64.4 A on this board: 80 A reads low)
    m0.set_load(0, 9600.0, amps=80.0)
    m0.advance(5000)
    site.clear()
    await src.poll(site)
    eq((site.grid_w, site.solar_w, site.battery_w), (None, 2000, 1200), "grid left out, others on")
    check("chip 0 A (grid CT) over range" in (site.notes or ""), site.notes)
    check(any("chip 0 A (grid CT): current at the ADC's full scale (64.4 A)" in l
              for l in log.lines), log.lines[-3:])
    check(site.d_import_uwh > 0, "the chip's energy counts are still taken")
    m0.set_load(0, 500.0)
    m0.advance(5000)
    site.clear()
    await src.poll(site)
    eq((site.grid_w, site.notes), (500, None), "back in range: grid again, no note")
    # the energy registers are drained at least once a second, whatever the sample interval
    m0.advance(3000)
    check(m0.regs[0x81] > 0, "counts waiting in the chip")
    await asyncio.sleep_ms(1400)
    eq(m0.regs[0x81], 0, "the drain task read them")
    check(src.meters[0].imp_counts[0] > 0, "and keeps them for the next poll")
    src.close()

    # start-up faults
    m = split_model()
    m.fault = "absent"
    src, log = make(good, SPLIT, {5: m})
    try:
        await src.start()
        e = None
    except SourceError as x:
        e = x
    check(e is not None and "chip 0 (CS 5)" in str(e) and "floats high" in str(e), "absent: %s" % e)
    src, log = make(good, None, {})
    try:
        await src.start()
        e = None
    except SourceError as x:
        e = x
    check(e is not None and "device.board" in str(e), "no board: %s" % e)


asyncio.run(main())
done()
