# A whole day (accelerated) on the simulated CircuitSetup split-phase board: grid CT on A, solar
# CT on C. The driver's integer energy counts must match the model's true energy to within one
# count per poll (they match to under one count in total: both count the same registers).
import time
import machine
import atm90e32
from atm90e32_model import ATM90E32Model, day_profile
from mptest import check, eq, done

POLL_S = 60
machine.detach_all()
m = ATM90E32Model(line_hz=60, volts=121.0, ugain_true=3920, igain_true_1x=2 * 25498,
                  profile=day_profile(0))
m.profile_step_ms = 10000
machine.attach_spi_device(5, m)
spi = machine.SPI(2, polarity=1, phase=1)
d = atm90e32.ATM90E32(spi, machine.Pin(5, machine.Pin.OUT, value=1), line_hz=60, phases="AC",
                      pga=2, ugain=3920, igain=(25498, 25498, 25498), sleep_ms=lambda ms: None)
d.begin()
imp = [0, 0, 0]
exp = [0, 0, 0]
polls = 0
peak_solar = 0
t0 = time.ticks_ms()
for i in range(86400 // POLL_S):
    m.advance(POLL_S * 1000)
    d.poll()
    polls += 1
    for ph in (0, 2):
        imp[ph] += d.take_import(ph)
        exp[ph] += d.take_export(ph)
    peak_solar = max(peak_solar, d.p_mw[2])
ms = time.ticks_diff(time.ticks_ms(), t0)
worst = 0.0
for ph in (0, 2):
    ti, te = m.true_counts(ph)
    for got, true, what in ((imp[ph], ti, "import"), (exp[ph], te, "export")):
        diff = abs(got - true)
        worst = max(worst, diff)
        check(diff <= polls, "phase %d %s: %d counts vs true %.2f (limit %d)" % (ph, what, got, true, polls))
check(worst < 1.0, "exact counting: worst difference %.3f counts" % worst)
wh = lambda c: c * 3125 // 1000000
print("day on the split-phase board, %d polls every %d s: grid import %d Wh, export %d Wh, "
      "solar %d Wh (peak %d W); worst difference to the model's true energy %.3f counts "
      "(%.4f Wh); %d ms on the unix port" % (polls, POLL_S, wh(imp[0]), wh(exp[0]), wh(imp[2]),
                                              peak_solar // 1000, worst, worst * 0.003125, ms))
check(20000 < wh(imp[2]) < 50000, "a plausible solar day")
check(wh(imp[0]) > 3000 and wh(exp[0]) > 10000, "imports at night, exports at noon")
eq(exp[2], 0, "the solar CT never runs backwards in this profile")
done()
