# Profile compilation and register decoding (app.sources.modbus_profile) under MicroPython,
# on in-memory register bytes: exact float32, word orders, split registers, n/a markers,
# SunSpec scale factors, rounding, request grouping, and the errors a bad profile gets.
import struct
import mptest
from mptest import eq, check, raises
from app.sources import modbus_profile as mp


def prof(values, fields=None, **top):
    d = {"fc": 4, "values": values}
    if fields:
        d["fields"] = fields
    d.update(top)
    return mp.Profile("t", d, top.pop("opts", None))


def regs(start, words):
    """-> memoryview of big-endian registers"""
    b = bytearray(2 * len(words))
    for i, w in enumerate(words):
        b[2 * i] = (w >> 8) & 0xFF
        b[2 * i + 1] = w & 0xFF
    return memoryview(b)


def f32words(x):
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return [hi, lo]


def dec(spec, words, start=None, **top):
    p = prof([dict(spec, id="x")], **top)
    v = p.values[0]
    v.place(p.blocks[0].start if start is None else start)
    return v.decode(regs(0, words))


# scale factors from JSON numbers, exactly
eq(mp.ratio(0.1), (1, 10), "0.1")
eq(mp.ratio(0.01), (1, 100), "0.01")
eq(mp.ratio(1000), (1000, 1), "1000")
eq(mp.ratio(2.5), (25, 10), "2.5")

# float32 decoded from its bits: no 32-bit float rounding on the way to watt-hours
eq(dec({"addr": 0, "type": "f32", "scale": 1000}, f32words(12345.678)), 12345678, "kWh -> Wh")
eq(dec({"addr": 0, "type": "f32", "scale": 1000}, f32words(99999.99)), 99999992, "big counter, float32 exact")
eq(dec({"addr": 0, "type": "f32"}, f32words(-1523.4)), -1523, "negative W")
eq(dec({"addr": 0, "type": "f32"}, f32words(0.5)), 1, "half rounds away from zero")
eq(dec({"addr": 0, "type": "f32"}, f32words(-0.5)), -1, "negative half")
eq(dec({"addr": 0, "type": "f32"}, f32words(0.0)), 0, "zero")
eq(dec({"addr": 0, "type": "f32"}, [0x8000, 0]), 0, "-0")
eq(dec({"addr": 0, "type": "f32"}, f32words(1e-30)), 0, "tiny")
eq(dec({"addr": 0, "type": "f32"}, [0x7FC0, 0]), None, "NaN = no value")
eq(dec({"addr": 0, "type": "f32"}, [0x7F80, 0]), None, "infinity = no value")
eq(dec({"addr": 0, "type": "f32", "scale": 0.1}, f32words(5120.0)), 512, "0.1 W units")
eq(dec({"addr": 0, "type": "f32", "order": "le"}, list(reversed(f32words(230.25))), ), 230, "f32 LE-word")
eq(dec({"addr": 0, "type": "f32", "sign": -1}, f32words(700.0)), -700, "sign -1")

# integers, word orders, split registers
eq(dec({"addr": 0, "type": "s16"}, [0xFE3E]), -450, "s16")
eq(dec({"addr": 0, "type": "u16", "scale": 10}, [57]), 570, "% -> per mille")
eq(dec({"addr": 0, "type": "s32"}, [0xFFFF, 0xFD80]), -640, "s32 BE")
eq(dec({"addr": 0, "type": "s32", "order": "le"}, [0xFD80, 0xFFFF]), -640, "s32 LE-word")
eq(dec({"addr": 0, "type": "u32", "scale": 100}, [0x0001, 0x0002]), 6553800, "u32 BE, 0.1 kWh")
eq(dec({"addr": 0, "addr_hi": 2, "type": "u32"}, [0x2345, 0, 0x0001]), 0x12345, "split low/high")
eq(dec({"addr": 0, "type": "s32", "na": [2147483647]}, [0x7FFF, 0xFFFF]), None, "n/a marker")
eq(dec({"addr": 0, "type": "s32", "scale": 10, "abs": True}, [0xFFFE, 0x1DC0]), 1234560, "abs")
eq(dec({"addr": 0, "type": "u16", "scale": 0.1}, [11505]), 1151, "0.1 W rounds half up")
eq(dec({"addr": 0, "type": "s16", "scale": 0.1}, [0x10000 - 11505]), -1151, "negative rounds symmetric")
eq(dec({"addr": 0, "type": "u16", "opt": {"x10": 10}}, [123], opts={"x10": True}, options={"x10": ""}), 1230, "x10 option on")
eq(dec({"addr": 0, "type": "u16", "opt": {"x10": 10}}, [123], options={"x10": ""}), 123, "x10 option off")

# SunSpec: value x 10^SF, "not implemented" markers
p = prof([{"id": "w", "model": [203], "off": 18, "sf": 22, "type": "s16", "na": [-32768]},
          {"id": "wh", "model": [203], "off": 46, "sf": 54, "type": "acc32", "na": [0]}],
         sunspec=True, fc=3, max_gap=125)
p.resolve({203: 100})
eq([repr(b) for b in p.blocks], ["FC03 118+37"], "one block for the model's points")
words = [0] * 37
words[0] = 0x10000 - 1234
words[4] = 1
words[28], words[29] = 0, 43210
words[36] = 2
mv = regs(0, words)
eq(p.values[0].decode(mv), -12340, "W x 10^1")
eq(p.values[1].decode(mv), 4321000, "Wh x 10^2")
words[4] = 0x8000
eq(p.values[0].decode(regs(0, words)), None, "SF not implemented")
words[4] = 0xFFFE
eq(p.values[0].decode(regs(0, words)), -12, "SF -2 (rounded)")
words[0] = 0x8000
eq(p.values[0].decode(regs(0, words)), None, "W not implemented")
words[28] = words[29] = 0
eq(p.values[1].decode(regs(0, words)), None, "acc32 0 = not implemented")
p = prof([{"id": "w", "model": [101, 103], "off": 14, "type": "s16"}], sunspec=True)
p.resolve({1: 40002})
check(not p.values[0].active and p.blocks == [], "model absent: value left out")

# request grouping: Eastron pairs and the 80-register cap, gaps, spans
p = prof([{"id": "a", "addr": 13, "type": "u16"}, {"id": "b", "addr": 72, "type": "f32"}],
         align=2, max_regs=80, max_gap=80)
eq([(b.start, b.count) for b in p.blocks], [(12, 62)], "even start, even count")
p = prof([{"id": "a", "addr": 0, "type": "f32"}, {"id": "b", "addr": 100, "type": "f32"}],
         align=2, max_regs=80, max_gap=200)
eq(len(p.blocks), 2, "80-register cap splits")
p = prof([{"id": "a", "addr": 0}, {"id": "b", "addr": 30}], max_gap=20)
eq(len(p.blocks), 2, "gap beyond max_gap splits")
p = prof([{"id": "a", "addr": 0}, {"id": "b", "addr": 30, "fc": 3}], max_gap=100)
eq(sorted((b.fc, b.start) for b in p.blocks), [(3, 30), (4, 0)], "FC03 and FC04 apart")
p = prof([{"id": "a", "addr": 5, "once": True}, {"id": "b", "addr": 6}], max_gap=100)
eq((len(p.blocks), len(p.once_blocks)), (1, 1), "once values read at start only")
raises(mp.ProfileError, prof, [{"id": "g", "addr": 625, "addr_hi": 790, "type": "s32"}])

# field rules
p = prof([{"id": "i", "addr": 0}, {"id": "e", "addr": 1}, {"id": "m", "addr": 2},
          {"id": "d", "addr": 3}, {"id": "s", "addr": 4}, {"id": "c", "addr": 5}],
         [{"field": "grid_w", "op": "sub", "of": ["i", "e"]},
          {"field": "battery_w", "op": "dir", "of": ["m", "d"], "pos": 1},
          {"field": "solar_w", "op": "sum", "of": ["i", "e", "m"]},
          {"field": "battery_wh", "op": "mul", "of": ["s", "c"], "div": 1000}])
vals = [100, 900, 1500, 0, 455, 9600]
out = {mp.FIELDS[r.field]: r.eval(vals) for r in p.rules}
eq(out, {"grid_w": -800, "battery_w": -1500, "solar_w": 2500, "battery_wh": 4368}, "rules")
vals[3] = 1
eq(p.rules[1].eval(vals), 1500, "direction 1 = discharging")
vals[0] = None
eq(p.rules[0].eval(vals), None, "a missing operand leaves the field out")

# profile mistakes are named
for bad, text in (
        ([{"id": "x", "addr": 0, "type": "f64"}], "unknown type"),
        ([{"id": "x", "addr": 0, "field": "power"}], "unknown field"),
        ([{"id": "x", "addr": 70000}], "bad register address"),
        ([{"id": "x", "addr": 0}, {"id": "x", "addr": 1}], "used twice"),
        ([{"id": "x", "addr": 0, "mul_by": "x"}], "mul_by"),
        ([{"addr": 0}], "needs an \"id\"")):
    e = raises(mp.ProfileError, prof, bad)
    check(text in str(e), "%r in %r" % (text, str(e)))
e = raises(mp.ProfileError, prof, [{"id": "x", "addr": 0}], [{"field": "grid_w", "op": "sub", "of": ["x", "y"]}])
check("unknown value y" in str(e), str(e))
e = raises(mp.ProfileError, mp.Profile, "t", {"values": [{"id": "x", "addr": 0}]}, {"turbo": 1})
check("unknown option 'turbo'" in str(e), str(e))
e = raises(mp.ProfileError, mp.load, "../etc", "profiles")
check("not a plain name" in str(e), str(e))

mptest.done()
