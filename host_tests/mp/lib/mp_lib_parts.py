# The lib/ modules split out of the ATM90E32 driver and the Modbus master, each used alone under
# MicroPython: they load without the module that uses them (imports run one way), and their pure
# parts give the datasheet's values. Numbers here come from the datasheet / the Modbus spec.
import sys
import mptest
from mptest import check, eq, raises

import atm90e32_config as cfg
import atm90e32_readings
import modbus_frame
import modbus_decode

for user in ("atm90e32", "modbus_rtu"):
    check(user not in sys.modules, "the split-out modules load without %s" % user)

# --- atm90e32_config: MMode0/MMode1 bits (datasheet), PGA changes, thresholds, 16-bit checks ----
eq(cfg.mmode0(50, "ABC"), 0x0087, "MMode0 3P4W 50 Hz")
eq(cfg.mmode0(60, "AC"), 0x1185, "MMode0 3P3W (split phase) 60 Hz")
eq(cfg.mmode1((1, 2, 4)), 0x24, "MMode1 PGA 1x/2x/4x on A/B/C")
eq(cfg.with_pga(0x24, 0, 4), 0x26, "phase A's PGA to 4x, B and C kept")
eq(cfg.with_pga(0x26, 2, 1), 0x06, "phase C's PGA to 1x")
raises(ValueError, cfg.with_pga, 0, 0, 3)
raises(ValueError, cfg.mmode1, 8)
# (the thresholds' values against the chip model's flags: mp_ct_realworld.py)
eq(cfg.threshold(1000, 100), 0xFFFF, "clamped to 16 bits")
eq(cfg.threshold(230, 0), 0xFFFF, "no gain: the highest threshold")
eq(list(cfg.triple(5, "x")), [5, 5, 5], "one value for the three phases")
raises(ValueError, cfg.triple, (1, 2), "x")
raises(ValueError, cfg.triple, 70000, "x")
eq(cfg.UGAIN_A, 0x61, "UgainA address")

# --- atm90e32_readings: status decoding from EMMState bits and the current -------------------
r = atm90e32_readings.ATM90E32Readings()
eq(r.status_text(0), "ok", "nothing set: ok")
r.emm0 = 0x8000 >> 1          # OIPhaseBST: over current on B
r.emm1 = (0x0004 >> 2) | 0x8000  # reverse on C, frequency high
check(r.over_current(1) and not r.over_current(0), "over current on B only")
check(r.reverse(2) and r.freq_high() and not r.freq_low(), "reverse C, frequency high")
r.fs_ma[0] = 10000
r.irms_ma[0] = 9500
eq(r.status_text(0), "current near full scale", "95 % of full scale")
r.irms_ma[0] = 10000
eq(r.status_text(0), "current over range", "at full scale")
r.imp_counts[2] = 7
eq((r.take_import(2), r.take_import(2)), (7, 0), "take_import zeroes the counter")

# --- modbus_frame / modbus_decode: the spec's example frame and a float -----------------------
tx = bytearray(8)
modbus_frame.encode_read(tx, 1, 4, 0, 2)
eq(bytes(tx), b"\x01\x04\x00\x00\x00\x02\x71\xcb", "FC04 request with its CRC (low byte first)")
good = bytearray(b"\x01\x04\x04\x43\x66\x33\x34\x1b\x38")
eq(modbus_frame.reply_length(good, 4), 9, "reply length from the byte count")
modbus_frame.check_reply(good, 9, 9, 1, 4, 0, 2)
good[5] ^= 0x10
raises(modbus_frame.ModbusCRCError, modbus_frame.check_reply, good, 9, 9, 1, 4, 0, 2)
mv = memoryview(bytearray(b"\x43\x66\x33\x34\x00\x01\x23\x45"))
check(abs(modbus_decode.f32(mv, 0) - 230.2) < 0.001, "f32 0x43663334 = 230.2")
eq(modbus_decode.u32(mv, 2), 0x00012345, "u32 high word first")
eq(modbus_decode.u32(mv, 2, "le"), 0x23450001, "u32 low word first")

mptest.done()
