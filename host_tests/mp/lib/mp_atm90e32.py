# The ATM90E32 driver against the register-level chip model, under MicroPython: frames,
# start-up, conversions, PGA and line frequency, energy over many polls, every fault, and the
# heap allocation of a poll (measured and printed).
import gc
import machine
import atm90e32
from atm90e32 import ATM90E32Error, REINIT, OK
from atm_rig import rig, frame
from mptest import check, eq, near, raises, done

# --- frames: read flag, 10-bit address, 16 data bits, the 32-clock write rule ---------------
m, d, spi, pin = rig(noise=False)
eq(m.regs[0x7F], 0, "config locked after start-up")
eq(frame(spi, pin, [0x80 | 0x04, 0x33, 0xFF, 0xFF])[2:], bytearray([0x00, 0x87]),
   "address bits above the low 10 are ignored (0x433 reads MMode0)")
eq(m.regs[0x78], 0x0087, "LastSPIData holds the value read")
frame(spi, pin, [0x00, 0x7F, 0x55, 0xAA])  # unlock
frame(spi, pin, [0x00, 0x62, 0x12, 0x34, 0x00])  # 40 clocks: no write
eq(m.regs[0x62], 27961, "a write with 40 clocks is ignored")
frame(spi, pin, [0x00, 0x62, 0x12])  # 24 clocks
eq(m.regs[0x62], 27961, "a write with 24 clocks is ignored")
check(m.bad_frames >= 2, "model counted the bad frames")
frame(spi, pin, [0x00, 0x62, 0x12, 0x34])
eq(m.regs[0x62], 0x1234, "a 32-clock write takes effect")
eq(d.read_reg(atm90e32.LAST_SPI_DATA), 0x1234, "LastSPIData holds the value written")
frame(spi, pin, [0x00, 0x7F, 0x00, 0x00])  # lock
frame(spi, pin, [0x00, 0x62, 0x43, 0x21])
eq(m.regs[0x62], 0x1234, "locked: calibration registers refuse writes")

# --- start-up registers: 50/60 Hz, split phase, PGA ----------------------------------------
for hz, phases, pga, mm0, mm1 in ((50, "ABC", 1, 0x0087, 0x00), (60, "ABC", 1, 0x1087, 0x00),
                                  (50, "AC", 2, 0x0185, 0x15), (60, "AC", 4, 0x1185, 0x2A),
                                  (50, "ABC", (1, 2, 4), 0x0087, 0x24)):
    m, d, spi, pin = rig(line_hz=hz, phases=phases, pga=pga, noise=False)
    eq(m.regs[0x33], mm0, "MMode0 %d Hz %s" % (hz, phases))
    eq(m.regs[0x34], mm1, "MMode1 PGA %r" % (pga,))
    eq((m.regs[0x0C], m.regs[0x0D]), (hz * 100 - 100, hz * 100 + 100), "frequency thresholds")
    eq((m.regs[0x31], m.regs[0x32]), (0x0861, 0xC468), "meter constant 3200 imp/kWh")
    eq(m.regs[0x00], 1, "MeterEn")
    eq(m.regs[0x7F], 0, "locked again")
raises(ValueError, atm90e32.ATM90E32, spi, pin, line_hz=55)
raises(ValueError, atm90e32.ATM90E32, spi, pin, pga=3)
raises(ValueError, atm90e32.ATM90E32, spi, pin, phases="AB")
raises(ValueError, atm90e32.ATM90E32, spi, pin, igain=70000)

# --- conversions --------------------------------------------------------------------------
eq(atm90e32._mw(0x8000, 0x0000), -687194768, "most negative 32-bit power (floor of -687194767.36 mW)")
eq(atm90e32._mw(0xFFFF, 0xFFFF), -1, "-1 LSB = -0.32 mW -> -1 mW (floor)")
eq(atm90e32._mw(0x7FFF, 0xFFFF), 687194767, "largest positive power")
eq(atm90e32._mw(0x0000, 0x0C35), 1000, "3125 LSB = 1 W")
for raw in (-4687500, -1, 1, 3125, 65535, 65536, -65536, 123456789, -123456789, 2**31 - 1, -2**31):
    u = raw & 0xFFFFFFFF
    eq(atm90e32._mw(u >> 16, u & 0xFFFF), raw * 8 // 25, "P raw %d" % raw)

m, d, spi, pin = rig(noise=False)
m.set_load(0, 2300.0, volts=230.0, pf=1.0)
m.set_load(1, -1500.0, volts=231.5, pf=0.9)
m.set_load(2, 100.0, volts=229.0, pf=0.5)
eq(d.poll(), OK, "poll ok")
eq(list(d.urms_cv), [23000, 23150, 22900], "Urms in 0.01 V")
eq(list(d.irms_ma), [10000, 7199, 873], "Irms in mA (reverse power still positive current)")
for ph in range(3):
    raw = m.reg32(0xB1 + ph, 0xC1 + ph)
    raw = raw - (1 << 32) if raw & 0x80000000 else raw
    eq(d.p_mw[ph], raw * 8 // 25, "P phase %d from the 32-bit registers" % ph)
near(d.p_mw[0], 2300000, 1, "2300 W")
near(d.p_mw[1], -1500000, 1, "-1500 W: negative 32-bit power")
near(d.q_mvar[1], 726483, 2, "Q = sqrt(S^2 - P^2)")
near(d.s_mva[2], 200000, 1, "S = P / PF")
eq(list(d.pf_pm), [1000, -900, 500], "PF per mille, signed by the direction of P")
eq(d.freq_chz, 5000, "frequency 0.01 Hz")
eq(d.temp_c, 31, "temperature")
check(d.reverse(1) and not d.reverse(0) and not d.reverse(2), "EMMState1 reverse flag on phase B")
check(not d.freq_high() and not d.freq_low(), "frequency within thresholds")
eq(d.status_text(1), "reverse", "status text")

# PGA: the gain the board needs at 2x is half the 1x gain; wrong gain shows as a wrong reading
m, d, spi, pin = rig(pga=2, igain=27961 // 2, noise=False, model=None)
m.igain_true_1x = [27961 // 2 * 2] * 3
m.set_load(0, 1150.0, volts=230.0)
d.poll()
eq(d.irms_ma[0], 5000, "PGA 2x with the 2x gain reads right")
m, d, spi, pin = rig(pga=1, igain=27961, noise=False)
m.igain_true_1x = [27961 * 2] * 3  # a board whose gain was published for 2x, driven at 1x
m.set_load(0, 1150.0, volts=230.0)
d.poll()
eq(d.irms_ma[0], 2500, "PGA 1x where 2x was due reads half")

# 60 Hz grid, driver set to 50 Hz: the frequency alarm says so
m, d, spi, pin = rig(line_hz=50, noise=False)
m.line_hz = 60
m.set_load(0, 100.0)
d.poll()
eq(d.freq_chz, 6000, "60 Hz measured")
check(d.freq_high(), "50 Hz setting on a 60 Hz grid: frequency-high alarm")
m, d, spi, pin = rig(line_hz=60, noise=False)
m.set_load(0, 100.0)
d.poll()
check(not d.freq_high() and not d.freq_low(), "60 Hz setting on a 60 Hz grid: no alarm")

# --- energy over many polls ---------------------------------------------------------------
m, d, spi, pin = rig(noise=False)
seed = 7
imp = [0, 0, 0]
exp = [0, 0, 0]
for i in range(400):
    seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
    ph = i % 3
    m.set_load(ph, (seed % 14000) - 6000.0, pf=0.95)
    m.advance(500 + seed % 4000)
    d.poll()
    for p in range(3):
        imp[p] += d.take_import(p)
        exp[p] += d.take_export(p)
for p in range(3):
    ti, te = m.true_counts(p)
    check(abs(imp[p] - ti) < 1 and abs(exp[p] - te) < 1,
          "phase %d: counts %d/%d vs true %.3f/%.3f" % (p, imp[p], exp[p], ti, te))
check(sum(imp) > 1000 and sum(exp) > 1000, "both directions counted")
eq(d.take_import(0), 0, "take zeroes the counter")
print("energy over 400 polls: import %s export %s counts (true %s)" % (
    imp, exp, [round(m.true_counts(p)[0], 2) for p in range(3)]))

# --- faults -------------------------------------------------------------------------------
for fault, words in (("absent", "floats high"), ("stuck_low", "stuck low"), ("garbage", "garbage")):
    m, d, spi, pin = rig(begin=False)
    m.fault = fault
    e = raises(ATM90E32Error, d.begin)
    check(words in str(e), "%s at start-up: %s" % (fault, e))
machine.detach_all()  # a CS pin with nothing on it
spi = machine.SPI(2, polarity=1, phase=1)
d = atm90e32.ATM90E32(spi, machine.Pin(33, machine.Pin.OUT), sleep_ms=lambda ms: None)
e = raises(ATM90E32Error, d.begin)
check("floats high" in str(e), "nothing on the CS pin: %s" % e)

m, d, spi, pin = rig(begin=False)
spi.init(polarity=0, phase=0)  # SPI mode 0: bits sampled on the wrong edge
e = raises(ATM90E32Error, d.begin)
check("ATM90E32" in str(e), "wrong SPI mode is an error: %s" % e)

m, d, spi, pin = rig()
m.set_load(0, 500.0)
d.poll()
m.fault = "garbage"
e = raises(ATM90E32Error, d.poll)
check("garbage" in str(e) or "bus fault" in str(e), "garbage during polling: %s" % e)
m.fault = None
eq(d.poll(), OK, "bus good again")
m.fault = "absent"
e = raises(ATM90E32Error, d.poll)
check("floats high" in str(e), "chip gone during polling: %s" % e)
m.fault = None

events = []
m, d, spi, pin = rig(events=events, noise=False)
m.set_load(0, 2000.0)
m.advance(3000)
d.poll()
eq(d.take_import(0), m.true_counts(0)[0] // 1, "counts before the reset")
m.reset()  # brown-out: MeterEn 0, configuration gone
eq(m.regs[0x00], 0, "model reset MeterEn")
m.set_load(0, 2000.0)
eq(d.poll(), REINIT, "poll after a chip reset: set up again")
check(len(events) == 2 and "reset" in events[0], "the hook was told: %r" % events)
eq((m.regs[0x00], m.regs[0x33], m.regs[0x62]), (1, 0x0087, 27961), "configuration restored")
eq(d.poll(), OK, "next poll ok")
near(d.p_mw[0], 2000000, 1, "readings right after re-init")
eq(d.resets, 1, "reset counted")
m.corrupt(0x62, 0x1111)  # IgainA flipped by a glitch: the chip's CRC check flags it
eq(d.poll(), REINIT, "configuration CRC error: set up again")
check("CRC" in events[2], events)
eq((m.regs[0x62], m.regs[0x79]), (27961, 0), "gain restored, CRC flag cleared by the reset")
eq(d.poll(), OK, "then ok")
m.fault = "stuck_low"
e = raises(ATM90E32Error, d.poll)
check("stuck low" in str(e) and len(events) == 4, "MISO stuck low is a bus fault, not a reset: %s" % e)
m.fault = None

m, d, spi, pin = rig(noise=False)
m.set_load(0, 18400.0, volts=230.0, amps=80.0)  # 80 A: beyond the 65.535 A register
m.set_load(2, 1000.0)
d.poll()
check(d.over_range(0) and not d.over_range(2), "80 A is over range")
check(d.over_current(0), "EMMState0 over-current flag")
eq(d.irms_ma[0], 65535, "Irms clipped")
check("over range" in d.status_text(0), d.status_text(0))

# --- allocation per poll ------------------------------------------------------------------
m, d, spi, pin = rig(phases="ABC")
for ph in range(3):
    m.set_load(ph, -9000.0 + 4000 * ph, pf=0.8)
m.advance(1000)
d.poll()
gc.collect()
gc.disable()
n = 200
before = gc.mem_alloc()
f0 = m.frames
for i in range(n):
    d.poll()
    d.take_import(0)
    d.take_export(0)
used = gc.mem_alloc() - before
gc.enable()
print("allocation per poll (3 phases, %d frames a poll): %d bytes (%d over %d polls)" % (
    (m.frames - f0) // n, used // n, used, n))
eq(used, 0, "a poll allocates nothing")
m2, d2, spi2, pin2 = rig(phases="AC", pga=2, igain=25498 // 1)
m2.set_load(0, 3000.0)
d2.poll()
gc.collect()
gc.disable()
before = gc.mem_alloc()
f0 = m2.frames
for i in range(n):
    d2.poll()
used = gc.mem_alloc() - before
gc.enable()
print("allocation per poll (split phase, %d frames a poll): %d bytes" % ((m2.frames - f0) // n, used // n))
eq(used, 0, "a split-phase poll allocates nothing")
# every value a poll keeps fits the ESP32's small ints (below 2**30): no boxed integers there
for arr in (d.urms_cv, d.irms_ma, d.p_mw, d.q_mvar, d.s_mva, d.pf_pm):
    for v in arr:
        check(-(1 << 30) < v < (1 << 30), "small int %d" % v)
done()
