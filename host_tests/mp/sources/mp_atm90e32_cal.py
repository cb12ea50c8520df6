# Calibration (app.calibrate) on the chip model, under MicroPython: gains from a reference,
# offsets at zero input, 16-bit clamping, read-back, storing into the config.
import asyncio
from app.sources import calibrate
from app.core import config
from app.sources.calibrate import CalibrationError
from app.sources import ct
from app.core import boards
from atm_rig import rig
from mptest import check, eq, near, raises, done

ROOT = __file__.rsplit("/", 4)[0]  # host_tests/mp/<package>/this.py


async def main():
    # a board whose true gains differ from the published ones: readings are off until calibrated
    m, d, spi, pin = rig(ugain=7305, igain=27961, begin=False)
    m.ugain_true = [7400, 7400, 7400]
    m.igain_true_1x = [26500, 26500, 26500]
    d.begin()
    m.set_load(0, 2760.0, volts=230.0, pf=1.0)  # 12 A
    d.poll()
    check(abs(d.urms_cv[0] - 23000) > 100 and abs(d.irms_ma[0] - 12000) > 300, "off before")

    r = await calibrate.voltage_gain(d, "A", 230.0, gap_ms=0)
    near(r["value"], 7400, 1, "voltage gain from a 230 V reference")
    eq((r["old"], r["key"], r["clamped"]), (7305, "ugain", False), "result fields")
    eq(m.regs[0x61], r["value"], "written to UgainA")
    eq(m.regs[0x7F], 0, "locked again after writing")
    r2 = await calibrate.current_gain(d, "A", 12.0, gap_ms=0)
    near(r2["value"], 26500, 3, "current gain from a 12 A reference")
    d.poll()
    near(d.urms_cv[0], 23000, 2, "voltage right after calibration")
    near(d.irms_ma[0], 12000, 2, "current right after calibration")
    near(d.p_mw[0], 2760000, 1500, "power right after calibration")

    # multiplier 2: the chip runs at half gain, the config keeps the full one
    d.set_calibration(2, igain=13250)
    m.set_load(2, 2300.0, volts=230.0)  # 10 A: the chip reads 5 A at half gain
    r3 = await calibrate.current_gain(d, "C", 10.0, multiplier=2, gap_ms=0)
    near(r3["chip_value"], 13250, 2, "chip gain at multiplier 2")
    eq(r3["value"], r3["chip_value"] * 2, "config gain = chip gain x multiplier")
    eq((r3["old"], r3["chip_old"]), (26500, 13250), "old value in config terms too")

    # clamping to 16 bits
    r4 = await calibrate.current_gain(d, "C", 6000.0, multiplier=100, gap_ms=0)
    eq((r4["pga"], r4["chip_value"], r4["clamped"]), (4, 39750, False),
       "a gain beyond 16 bits at PGA 1x is reached at PGA 4x")
    d.set_calibration(2, igain=13250, pga=1)
    m.set_load(2, 23.0, volts=230.0)  # 0.1 A, said to be 6000 A: beyond 16 bits at any PGA
    r4 = await calibrate.current_gain(d, "C", 6000.0, multiplier=100, gap_ms=0)
    check(r4["clamped"] and r4["chip_value"] == 65535, "a gain beyond 16 bits is clamped: %r" % r4)
    d.set_calibration(2, igain=13250, pga=1)
    m.set_load(2, 2300.0, volts=230.0)

    # errors
    m.set_load(1, 0.0)
    e = None
    try:
        await calibrate.current_gain(d, "B", 5.0, gap_ms=0)
    except CalibrationError as x:
        e = x
    check(e is not None and "CT on the wire" in str(e), "nothing measured: %s" % e)
    for bad in (-1, 0, "230", True, 1e6):
        try:
            await calibrate.voltage_gain(d, "A", bad, gap_ms=0)
            e = None
        except CalibrationError as x:
            e = x
        check(e is not None, "reference %r refused" % (bad,))
    raises(CalibrationError, calibrate._phase, "D")
    m.fault = "absent"
    try:
        await calibrate.voltage_gain(d, "A", 230.0, gap_ms=0)
        e = None
    except CalibrationError as x:
        e = x
    check(e is not None and "floats high" in str(e), "a bus fault is a calibration error: %s" % e)
    m.fault = None

    # offsets at zero input
    m.set_load(0, 0.0, volts=230.0)
    raw = m.reg32(0xDD, 0xED)
    check(raw > 10000, "zero current reads noise before: %d" % raw)
    r5 = await calibrate.current_offset(d, "A", gap_ms=0)
    eq(r5["value"], -(raw >> 7), "offset = -(32-bit >> 7)")
    eq(m.regs[0x64], r5["value"] & 0xFFFF, "written to IoffsetA")
    check(m.reg32(0xDD, 0xED) < 128, "zero current reads ~0 after: %d" % m.reg32(0xDD, 0xED))
    p = m.reg32(0xB1, 0xC1)
    check(p != 0, "power at zero current before: %d" % p)
    r6 = await calibrate.power_offsets(d, "A", gap_ms=0)
    eq(r6["poffset"], -p, "power offset")
    eq(m.reg32(0xB1, 0xC1), 0, "power at zero current after")
    m.volts[1] = 0.0
    m.set_load(1, 0.0)
    r7 = await calibrate.voltage_offset(d, "B", gap_ms=0)
    check(m.reg32(0xDA, 0xEA) < 128 and r7["key"] == "uoffset", "voltage offset")

    # a chip reset keeps the calibration (the driver writes what it was given last)
    m.reset()
    d.poll()
    eq((m.regs[0x61], m.regs[0x62], m.regs[0x64]), (r["value"], r2["value"], r5["value"] & 0xFFFF),
       "calibration restored after a chip reset")

    # store into the config, saved atomically, valid, and used by the next start-up
    data = config.defaults()
    data["wifi"]["ssid"] = "x"
    data["chargehq"]["api_key"] = "k"
    data["source"] = {"type": "atm90e32", "channels": [{"chip": 0, "phase": "A", "role": "grid"}]}
    for res in (r, r2, r5, r6):
        calibrate.store(data, 0, "A", res, config.save)
    calibrate.store(data, 0, "C", r3, config.save)
    cfg = config.load()
    eq(cfg.errors, [], "stored config validates")
    ch = cfg.data["source"]["channels"]
    eq(ch[0], {"chip": 0, "phase": "A", "role": "grid", "ugain": r["value"], "igain": r2["value"],
               "ioffset": r5["value"], "poffset": r6["poffset"], "qoffset": r6["qoffset"],
               "pga": r2["pga"]}, "channel A entry (the PGA the current calibration chose too)")
    eq((ch[1]["phase"], ch[1]["role"], ch[1]["igain"]), ("C", "ignored", r3["value"]), "new entry for C")
    split = boards.load("circuitsetup_6ch", ROOT + "/boards")
    st = ct.chip_settings(cfg.data["source"], split, 0)
    eq((st["ugain"][0], st["igain"][0], st["ioffset"][0]), (r["value"], r2["value"], r5["value"]),
       "the CT source uses the stored values")
    raises(CalibrationError, calibrate.store, {"source": {"type": "simulated"}}, 0, "A", r, config.save)


asyncio.run(main())
done()
