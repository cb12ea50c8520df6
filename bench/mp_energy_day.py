# Benchmark driver (host only, MicroPython unix port): a simulated day on a CircuitSetup
# split-phase board - grid CT and solar CT, 12 kW solar peak, an EV charging at 7 kW in the
# evening - polled once a second by the CT source (ATM90E32 driver over the SPI stand-in) into
# the app's integer energy totals, against the chip model's exact integral of the grid power.
#
#   micropython espsim_run.py bench/mp_energy_day.py SECONDS     (cwd: a device folder with boards/)
import sys
import json
import asyncio
import machine
from atm90e32_model import split_board_model
from app.core.energy import Energy
from app.core.log import Log
from app.core.site import Site
from app.sources import make_source

seconds = int(sys.argv[1])


def profile(model, t_s):
    tod = (t_s + 5 * 3600) % 86400  # the day starts at 05:00
    x = tod - 21600
    solar = 0.0
    if 0 < x < 43200:
        solar = 12000.0 * x * (43200 - x) / (21600.0 * 21600.0)
        if (tod // 450) % 7 == 3:
            solar *= 0.4  # clouds
    load = 450.0 + (150.0 if (tod // 900) % 2 else 0.0)
    if 61200 <= tod < 75600:
        load += 7000.0  # the EV, 17:00-21:00
    if 25200 <= tod < 25500 or 64800 <= tod < 65100:
        load += 2400.0  # kettle
    model.set_load(0, load - solar, pf=0.95, update=False)
    model.set_load(1, 0.0, update=False)
    model.set_load(2, solar, pf=0.99)


with open("boards/circuitsetup_split.json") as f:
    board = json.load(f)
# the split board on a 230 V site with a 240 V adapter, its current front end exactly what the
# published gain assumes: this bench measures counting, not calibration
model = split_board_model(50, volts=230.0, adapter_v=240, profile=False, noise=False,
                          clock="manual")
model.set_front_end(igain_true_1x=2 * 25498)
model.profile = profile
machine.attach_spi_device(board["chips"][0]["cs"], model)
cfg = {"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000",
       "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                    {"chip": 0, "phase": "C", "role": "solar"}]}


async def main():
    src = make_source(cfg, board, Log(echo=False))
    await src.start()
    energy = Energy()
    site = Site()
    peak = 0
    model.advance(0)
    # counts accumulated during start-up are not part of the comparison
    site.clear()
    await src.poll(site)
    t_imp0, t_exp0 = model.meas_imp_mwms[0], model.meas_exp_mwms[0]  # what the chip measured
    for _ in range(seconds):
        model.advance(1000)
        site.clear()
        await src.poll(site)
        energy.add(site.d_import_uwh, site.d_export_uwh)
        peak = max(peak, abs(site.solar_w or 0), abs(site.grid_w or 0))
    src.close()
    # true energy in uWh (mW*ms / 3600)
    t_imp = (model.meas_imp_mwms[0] - t_imp0) / 3600
    t_exp = (model.meas_exp_mwms[0] - t_exp0) / 3600
    got_imp = energy.wh[0] * 1000000 + energy.uwh[0]
    got_exp = energy.wh[1] * 1000000 + energy.uwh[1]
    err = abs(got_imp - t_imp) + abs(got_exp - t_exp)
    total = t_imp + t_exp
    print("BENCH error_ppm %.3f" % (err / total * 1e6))
    print("BENCH what grid CT on the ATM90E32 model, %d polls at 1 s" % seconds)
    print("BENCH detail import %.3f kWh (true %.3f), export %.3f kWh (true %.3f), peak %d W; "
          "a count is 3.125 mWh" % (got_imp / 1e9, t_imp / 1e9, got_exp / 1e9, t_exp / 1e9, peak))


asyncio.run(main())
