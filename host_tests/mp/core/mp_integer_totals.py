# Energy totals stay integers end to end, under MicroPython (the ESP32's floats are 32-bit: a
# float total would drift and round away small polls). Every per-poll energy a source hands the
# store is an int, and the totals account for it exactly: uWh in == Wh * 10**6 + remainder, over
# many polls, with import and export, for the simulated source and the CT source on a chip model.
import asyncio
import machine
from app.core import boards
from app.core.energy import Energy
from app.core.site import Site
from app.sources import ct, simulated
from atm90e32_model import ATM90E32Model
from mptest import check, eq, done, ListLog

ROOT = __file__.rsplit("/", 4)[0]  # host_tests/mp/<package>/this.py


class Tally:
    def __init__(self):
        self.e = Energy()
        self.sums = [0, 0]
        self.polls = 0

    def feed(self, site):
        for v in (site.d_import_uwh, site.d_export_uwh):
            check(type(v) is int, "per-poll energy is an int (got %r)" % (v,))
        self.e.add(site.d_import_uwh, site.d_export_uwh)
        self.sums[0] += site.d_import_uwh
        self.sums[1] += site.d_export_uwh
        self.polls += 1

    def exact(self, what):
        for i in (0, 1):
            check(type(self.e.wh[i]) is int and type(self.e.uwh[i]) is int, what + ": totals are ints")
            eq(self.e.wh[i] * 1000000 + self.e.uwh[i], self.sums[i], what + ": every uWh counted once")


async def simulated_site():
    t = Tally()
    for hour in (2, 12):  # night: import; noon: solar export
        src = simulated.SimulatedSource({"speed": 3600, "battery": False, "start_hour": hour}, None, ListLog())
        await src.start()
        for _ in range(150):
            await asyncio.sleep_ms(1)
            site = Site()
            await src.poll(site)
            t.feed(site)
    check(t.sums[0] > 0 and t.sums[1] > 0, "both directions seen: %r" % (t.sums,))
    t.exact("simulated")


async def ct_site():
    board = boards.load("circuitsetup_split", ROOT + "/boards")
    machine.detach_all()
    m = ATM90E32Model(line_hz=50, volts=230.0, ugain_true=3920, igain_true_1x=2 * 25498, noise=False)
    m.volts[1] = 0.0
    machine.attach_spi_device(5, m)
    src = ct.CTSource({"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000",
                       "channels": [{"chip": 0, "phase": "A", "role": "grid", "multiplier": 3},
                                    {"chip": 0, "phase": "C", "role": "solar"}]}, board, ListLog())
    await src.start()
    t = Tally()
    for i in range(60):
        m.set_load(0, (1234.5 if i % 3 else -987.6) + i, pf=0.93)  # import and export, odd values
        m.set_load(2, 2000.0)
        m.advance(7000 + 13 * i)
        site = Site()
        await src.poll(site)
        t.feed(site)
    src.close()
    check(t.sums[0] > 0 and t.sums[1] > 0, "both directions seen: %r" % (t.sums,))
    t.exact("CT clamps")


asyncio.run(simulated_site())
asyncio.run(ct_site())
done()
