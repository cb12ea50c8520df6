# Modbus device profiles: profiles/<name>.json (data, see docs/modbus.md "Profiles") compiled
# into a read plan (few, large requests) and integer decoders. No bus I/O here: the caller
# hands in each block's register bytes (a memoryview, big-endian registers).
#
# All results are integers (W, Wh, per mille): 32-bit floats on the ESP32 would lose watt-hours
# on a 100 MWh counter, and every float allocates. float32 registers are decoded exactly from
# their bits.
from micropython import const
from app.sources.profile_file import ProfileError, load  # noqa: F401  (mp.load, mp.ProfileError)
from app.sources.profile_values import FIELDS, GRID, SOLAR, BATTERY, LOAD, SOC, BATT_WH, HW_IMP, HW_EXP  # noqa: F401
from app.sources.profile_values import Rule, Value, ratio  # noqa: F401  (mp.ratio)


_OPS = ("sum", "sub", "mul", "dir")
_MAX_REGS = const(125)


class Block:
    """One read request: function code, first register, count, values decoded from it."""

    def __init__(self, fc, start, count, values):
        self.fc = fc
        self.start = start
        self.count = count
        self.values = values

    def __repr__(self):
        return "FC%02d %d+%d" % (self.fc, self.start, self.count)


class Profile:
    """A compiled profile for one device (with that device's options)."""

    def __init__(self, name, data, opts=None):
        opts = opts or {}
        self.name = name
        self.title = data.get("title", name)
        self.kind = data.get("kind", "inverter")
        self.serial = data.get("serial") or {}
        self.max_regs = min(_MAX_REGS, data.get("max_regs", _MAX_REGS))
        self.align = data.get("align", 1)
        self.max_gap = data.get("max_gap", 0)
        self.sunspec = bool(data.get("sunspec"))
        allowed = data.get("options") or {}
        for k in opts:
            if k not in allowed:
                raise ProfileError("%s: unknown option %r (known: %s)" % (
                    name, k, ", ".join(sorted(allowed)) or "none"))
        specs = data.get("values")
        if not isinstance(specs, list) or not specs:
            raise ProfileError("%s: \"values\" must be a non-empty list" % name)
        self.values = []
        ids = {}
        for spec in specs:
            v = Value(spec, data, opts, name)
            if v.id in ids:
                raise ProfileError("%s: value id %s used twice" % (name, v.id))
            v.index = len(self.values)
            ids[v.id] = v
            self.values.append(v)
        self.ids = ids
        self.rules = []
        for v in self.values:
            if v.field is not None:
                self.rules.append(Rule(v.field, None, (v.index,)))
        for r in data.get("fields") or ():
            f = r.get("field")
            op = r.get("op")
            if f not in FIELDS or op not in _OPS:
                raise ProfileError("%s: field rule %r: needs a known field and op (%s)" % (
                    name, r, "/".join(_OPS)))
            args = []
            for k in r.get("of") or ():
                if k not in ids:
                    raise ProfileError("%s: field rule for %s uses unknown value %s" % (name, f, k))
                args.append(ids[k].index)
            if not args or (op in ("sub", "mul", "dir") and len(args) != 2):
                raise ProfileError("%s: field rule for %s: wrong number of values" % (name, f))
            self.rules.append(Rule(f, op, tuple(args), r.get("div", 1), r.get("pos", 1),
                                   r.get("mask", 0)))
        for v in self.values:
            if v.mul_by is not None and (v.mul_by not in ids or not ids[v.mul_by].once):
                raise ProfileError("%s: %s mul_by must name a \"once\" value" % (name, v.id))
        self.blocks = []       # read every poll
        self.once_blocks = []  # read at start (ratios, capacities)
        if not self.sunspec:
            self.plan()

    def resolve(self, models):
        """SunSpec: models = {model id: base address of its header}. Values in models the
        device lacks become inactive (left out, never zero)."""
        for v in self.values:
            if v.models is None:
                continue
            base = None
            for m in v.models:
                if m in models:
                    base = models[m]
                    break
            if base is None:
                v.active = False
                continue
            v.addr = base + v.off
            if v.sf_off is not None:
                v.sf_addr = base + v.sf_off
        self.plan()

    def plan(self):
        """Group the active values into as few requests as the device allows."""
        self.blocks = self._group([v for v in self.values if v.active and not v.once])
        self.once_blocks = self._group([v for v in self.values if v.active and v.once])

    def _group(self, values):
        blocks = []
        for fc in (3, 4):
            units = sorted(((v.span(), v) for v in values if v.fc == fc), key=lambda u: u[0][0])
            cur = None
            for (lo, hi), v in units:
                start = lo - lo % self.align
                if hi - start + 1 > self.max_regs:
                    raise ProfileError("%s: value %s spans more than %d registers" % (
                        self.name, v.id, self.max_regs))
                if cur is not None:
                    new_hi = max(cur[1], hi)
                    if lo - cur[1] - 1 <= self.max_gap and self._count(cur[0], new_hi) <= self.max_regs:
                        cur[1] = new_hi
                        cur[2].append(v)
                        continue
                    blocks.append(self._block(fc, cur))
                cur = [start, hi, [v]]
            if cur is not None:
                blocks.append(self._block(fc, cur))
        return blocks

    def _count(self, start, hi):
        n = hi - start + 1
        return n + (-n) % self.align

    def _block(self, fc, cur):
        start, hi, vals = cur
        b = Block(fc, start, self._count(start, hi), tuple(vals))
        for v in vals:
            v.place(start)
            v.block = b
        return b

    def requests(self):
        return len(self.blocks)
