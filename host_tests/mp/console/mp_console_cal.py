# The console's `calibrate` on the ATM90E32 chip model, under MicroPython: a board whose true
# gains differ from the published ones reads right after `calibrate voltage/current` with
# reference values, the gains land in the config's channel entry, offsets at zero input, and
# bad input gets a clear message (wrong phase, chip, number, source).
import asyncio
import json
from app.core import config
from app.console.shell import Console
from app.core.log import Log
from app.outputs.chargehq import ChargeHQApp as App
from atm_rig import rig
from mptest import check, eq, near, done

RAW = {"wifi": {"ssid": "HomeNet"}, "chargehq": {"api_key": "cal-KEY-0123456789"},
       "source": {"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000",
                  "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                               {"chip": 0, "phase": "C", "role": "solar", "multiplier": 2}]}}
with open(config.PATH, "w") as f:
    json.dump(RAW, f)
cfg = config.load()
check(not cfg.needs_setup, "config ok: %s %s" % (cfg.problem, cfg.errors))
app = App(cfg, Log(echo=False))


class CTStandIn:  # what the console uses of app.sources.ct.CTSource
    name = "atm90e32"

    def __init__(self, meters):
        self.meters = meters


m, d, spi, pin = rig(ugain=7305, igain=27961, begin=False)
m.ugain_true = [7400, 7400, 7400]
m.igain_true_1x = [26500, 26500, 26500]
d.begin()
m.set_load(0, 2760.0, volts=230.0, pf=1.0)  # 12 A
d.poll()
check(abs(d.urms_cv[0] - 23000) > 100 and abs(d.irms_ma[0] - 12000) > 300, "off before")


class Out:
    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)


def console(keys):
    with open("keys.bin", "wb") as f:
        f.write(keys)
    out = Out()
    asyncio.run(Console(app, inp=open("keys.bin", "rb"), out=out).run())
    return "".join(out.parts)


out = console(b"calibrate voltage A 230\r")
check("the CT meter has not started" in out, "no source yet")
app.source = CTStandIn({0: d})

out = console(b"calibrate\rcalibrate voltage A 230\rcalibrate current 0A 12\r"
              b"calibrate voltage D 230\rcalibrate voltage A lots\rcalibrate voltage 1A 230\r"
              b"calibrate current A\rcalibrate sideways A\rcalibrate voltage A 5000\r")
check("calibrate current [CHIP]PHASE AMPS" in out and "chip 0 phase A (grid): board defaults" in out,
      "usage and channels")
check("chip 0 phase A: ugain 7305 -> 74" in out, "voltage gain reported")
check("chip 0 phase A: igain 27961 -> 26" in out, "current gain reported")
d.poll()
near(d.urms_cv[0], 23000, 2, "voltage right after calibration")
near(d.irms_ma[0], 12000, 2, "current right after calibration")
saved = json.load(open(config.PATH))["source"]["channels"][0]
near(saved["ugain"], 7400, 1, "voltage gain saved")
near(saved["igain"], 26500, 3, "current gain saved")
check("the phase must be A, B or C (got D)" in out, "bad phase")
check("not a chip/phase and number: A lots" in out, "bad number")
check("no chip 1 (chips: 0)" in out, "bad chip")
check("usage: calibrate current [CHIP]PHASE AMPS" in out, "missing reference")
check("usage: calibrate voltage [CHIP]PHASE VOLTS" in out, "unknown kind")
check("calibration failed: reference voltage (V) must be a number" in out, "reference out of range")
check(config.load().errors == [], "the saved config is valid")

# multiplier 2 (phase C): the config keeps the full gain
d.set_calibration(2, igain=13250)
m.set_load(2, 2300.0, volts=230.0)  # 10 A
out = console(b"calibrate current C 10\r")
saved = json.load(open(config.PATH))["source"]["channels"][1]
near(saved["igain"], 26500, 4, "config gain = chip gain x multiplier")
eq(saved["multiplier"], 2, "multiplier kept")

# current offset at zero input, then the listing shows what is stored
m.set_load(0, 0.0, volts=230.0)
out = console(b"calibrate ioffset A\rcalibrate\r")
check("chip 0 phase A: ioffset -" in out, "offset reported: %s" % out[-300:])
check(m.reg32(0xDD, 0xED) < 128, "zero current reads ~0 after the offset")
check("chip 0 phase A (grid): ugain 74" in out and "ioffset -" in out, "listing")
check(any("calibrated chip 0 phase A" in e[2] for e in app.log.recent()), "logged")

# another source: a clear message
app.cfg.data["source"] = {"type": "modbus"}
check("calibration is for the ATM90E32 (CT clamp) source; this device reads modbus"
      in console(b"calibrate\r"), "not a CT meter")
done()
