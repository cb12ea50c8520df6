# The values of a Modbus profile (app.sources.modbus_profile): one register value's type, scale and
# place in a read block, decoded to an integer from the block's bytes without allocating, and the
# rules that make a site field from values (sum, sub, mul, dir). float32 registers are decoded
# exactly from their bits.
from micropython import const
from app.sources.profile_file import ProfileError

# Site fields a profile may feed, in the order the source keeps them
FIELDS = ("grid_w", "solar_w", "battery_w", "load_w", "soc_pm", "battery_wh",
          "hw_import_wh", "hw_export_wh")
GRID, SOLAR, BATTERY, LOAD, SOC, BATT_WH, HW_IMP, HW_EXP = 0, 1, 2, 3, 4, 5, 6, 7

_U16 = const(0)
_S16 = const(1)
_U32 = const(2)
_S32 = const(3)
_F32 = const(4)
_TYPES = {"u16": _U16, "s16": _S16, "u32": _U32, "s32": _S32, "f32": _F32, "acc32": _U32}

def ratio(scale):
    """A scale factor (int or decimal float from JSON) -> exact (mul, div) integers."""
    if isinstance(scale, int):
        return scale, 1
    div = 1
    while div < 10 ** 9:
        x = scale * div
        n = int(x + 0.5) if x >= 0 else -int(-x + 0.5)
        if abs(x - n) < 1e-6 * max(1, abs(x)):
            return n, div
        div *= 10
    raise ProfileError("scale %r is not a short decimal" % (scale,))


def _addr(a, where):
    if isinstance(a, str) and a.startswith("0x"):
        a = int(a[2:], 16)
    if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a <= 0xFFFF:
        raise ProfileError("%s: bad register address %r" % (where, a))
    return a


class Value:
    """One number read from the device: where it is, how to decode and scale it."""

    def __init__(self, spec, prof, opts, where):
        self.id = spec.get("id")
        if not isinstance(self.id, str):
            raise ProfileError("%s: every value needs an \"id\"" % where)
        where = "%s value %s" % (where, self.id)
        t = _TYPES.get(spec.get("type", "u16"))
        if t is None:
            raise ProfileError("%s: unknown type %r" % (where, spec.get("type")))
        self.type = t
        self.wide = t >= _U32
        self.fc = spec.get("fc", prof.get("fc", 3))
        if self.fc not in (3, 4):
            raise ProfileError("%s: fc must be 3 or 4" % where)
        # SunSpec: "model" (list of ids) + "off"/"sf" offsets inside it, resolved at start
        self.models = spec.get("model")
        if self.models is not None:
            self.off = spec["off"]
            self.sf_off = spec.get("sf")
            self.addr = None
        else:
            self.addr = _addr(spec.get("addr"), where)
            self.sf_off = None
        self.sf_addr = None
        hi = spec.get("addr_hi")  # split 32-bit value: "addr" holds the low word
        self.addr_hi = None if hi is None else _addr(hi, where)
        self.le = self.addr_hi is not None or spec.get("order", prof.get("order", "be")) == "le"
        mul, div = ratio(spec.get("scale", 1))
        for name, factor in (spec.get("opt") or {}).items():  # {"hv": 10}: x10 when option on
            if opts.get(name):
                m, d = ratio(factor)
                mul *= m
                div *= d
        sign = spec.get("sign", 1)
        if sign not in (1, -1):
            raise ProfileError("%s: sign must be 1 or -1" % where)
        sopt = spec.get("opt_sign")  # multiply by an integer option (1 / -1) the user gives
        self.active = True
        if sopt is not None:
            s = opts.get(sopt)
            if s in (1, -1):
                sign *= s
            else:
                self.active = False  # unknown sign: better absent than wrong
        if mul < 0:
            mul, sign = -mul, -sign
        self.mul = mul
        self.div = div
        self.neg = sign < 0
        self.abs = bool(spec.get("abs"))
        self.na = tuple(spec.get("na") or ())
        self.once = bool(spec.get("once"))
        self.optional = bool(spec.get("optional"))
        self.mul_by = spec.get("mul_by")  # id of a "once" value (CT ratio) that multiplies
        self.field = spec.get("field")
        if self.field is not None and self.field not in FIELDS:
            raise ProfileError("%s: unknown field %r" % (where, self.field))
        self.index = 0      # slot in the device's value list
        self.block = None   # read block it is decoded from
        self.o1 = self.o2 = self.osf = 0

    def span(self):
        """(lowest, highest) register this value needs."""
        lo = self.addr
        hi = self.addr + (1 if self.wide else 0)
        if self.addr_hi is not None:
            hi = max(self.addr, self.addr_hi)
            lo = min(self.addr, self.addr_hi)
        if self.sf_addr is not None:
            lo = min(lo, self.sf_addr)
            hi = max(hi, self.sf_addr)
        return lo, hi

    def place(self, start):
        """Byte offsets of this value's registers inside a block starting at `start`."""
        self.o1 = (self.addr - start) * 2
        if self.addr_hi is not None:
            self.o2 = (self.addr_hi - start) * 2
        else:
            self.o2 = self.o1 + 2
        if self.sf_addr is not None:
            self.osf = (self.sf_addr - start) * 2

    def decode(self, mv):
        """-> scaled integer, or None (n/a marker, not-a-number, SunSpec not implemented)."""
        o = self.o1
        w1 = mv[o] << 8 | mv[o + 1]
        t = self.type
        mul = self.mul
        div = self.div
        if self.sf_addr is not None:
            o = self.osf
            sf = mv[o] << 8 | mv[o + 1]
            if sf == 0x8000:
                return None
            if sf & 0x8000:
                sf -= 0x10000
            if sf > 9 or sf < -9:
                return None  # not a plausible scale factor: garbage
            if sf >= 0:
                mul *= 10 ** sf
            else:
                div *= 10 ** -sf
        if t == _U16:
            raw = w1
        elif t == _S16:
            raw = w1 - 0x10000 if w1 & 0x8000 else w1
        else:
            o = self.o2
            w2 = mv[o] << 8 | mv[o + 1]
            if self.le:
                w1, w2 = w2, w1
            # w1 = high word, w2 = low word from here on
            if t == _F32:
                if self.na and (w1 << 16 | w2) in self.na:
                    return None
                return _f32(w1, w2, mul, div, self.neg)
            raw = w1 << 16 | w2
            if t == _S32 and w1 & 0x8000:
                raw -= 0x100000000
        if self.na and raw in self.na:
            return None
        if self.abs and raw < 0:
            raw = -raw
        n = raw * mul
        if div != 1:
            n = (n + div // 2) // div if n >= 0 else -((div // 2 - n) // div)
        return -n if self.neg else n


def _f32(hi, lo, mul, div, neg):
    # IEEE 754 single, exactly: mantissa m (24 bits) x 2^(e-150), times mul/div, rounded
    e = (hi >> 7) & 0xFF
    if e == 0xFF:
        return None  # NaN or infinity: the device has no value
    if e == 0:
        return 0  # zero (denormals are below 1e-38)
    n = ((hi & 0x7F) | 0x80) << 16 | lo
    n *= mul
    s = e - 150
    if s >= 0:
        n <<= s
    elif s > -64:
        n = (n + (1 << (-s - 1))) >> -s
    else:
        n = 0
    if div != 1:
        n = (n + div // 2) // div
    if (hi & 0x8000 != 0) != neg:
        return -n
    return n


class Rule:
    """How a site field comes from values: a value itself or sum/sub/mul/dir of values."""

    def __init__(self, field, op, args, div=1, pos=1, mask=0):
        self.field = FIELDS.index(field)
        self.mask = mask  # "dir": positive when direction & mask (a status bit), not == pos
        self.op = op      # None (copy), "sum", "sub", "mul", "dir"
        self.args = args  # value indices
        self.div = div
        self.pos = pos

    def eval(self, vals):
        a = self.args
        op = self.op
        if op is None:
            return vals[a[0]]
        for i in a:
            if vals[i] is None:
                return None
        if op == "sum":
            n = 0
            for i in a:
                n += vals[i]
            return n
        if op == "sub":
            return vals[a[0]] - vals[a[1]]
        if op == "mul":
            n = vals[a[0]] * vals[a[1]]
            d = self.div
            return (n + d // 2) // d if n >= 0 else -((d // 2 - n) // d)
        # "dir": magnitude plus a direction register; positive when it equals pos
        m = vals[a[0]]
        if m < 0:
            m = -m
        d = vals[a[1]]
        if self.mask:
            return m if d & self.mask else -m
        return m if d == self.pos else -m
