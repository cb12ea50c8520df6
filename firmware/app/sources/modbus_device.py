# One slave on a Modbus source's bus (app.sources.modbus): its compiled profile, discovery of a
# SunSpec device's models, reading the profile's blocks and decoding them into value slots.
from micropython import const
from app.sources import modbus_profile as mp
from app.sources.base import SourceError
from app.sources.modbus_check import PROFILE_DIR, _opts

FIELDS = mp.FIELDS

_SUNSPEC_BASES = (40000, 0, 50000)  # the usual one first
_MAX_MODELS = const(40)


def _text(b):
    # a SunSpec string register block: printable ASCII up to the first NUL
    out = ""
    for c in b:
        if c == 0:
            break
        if 32 <= c < 127:
            out += chr(c)
    return out.strip()


class Device:
    """One slave on the bus, with its compiled profile and preallocated value slots."""

    def __init__(self, dcfg, folder=PROFILE_DIR):
        name = dcfg.get("profile")
        try:
            self.prof = mp.Profile(name, mp.load(name, folder), _opts(dcfg))
        except mp.ProfileError as e:
            raise SourceError(str(e))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise SourceError("profile %s is malformed (%s: %s)" % (name, type(e).__name__, e))
        self.name = name
        self.dcfg = dcfg
        self.folder = folder
        self.optional = dcfg.get("optional", False)  # may stop answering (inverter asleep at night)
        self.up = False       # started and answering
        self.retry_at = 0     # ticks_ms of the next start attempt while down
        self.slave = dcfg.get("slave", self.prof.serial.get("slave", 1))
        self.role = dcfg.get("role", "grid" if self.prof.kind == "meter" else "site")
        self.timeout_ms = dcfg.get("timeout_ms", self.prof.serial.get("timeout_ms"))
        self.capacity_wh = dcfg.get("battery_wh")
        self.vals = [None] * len(self.prof.values)
        self.out = [None] * len(FIELDS)
        self.label = "%s (id %d)" % (name, self.slave)

    def reset(self):
        """A fresh copy of the profile (start adjusts it: SunSpec addresses, ratios, optional parts)."""
        self.prof = mp.Profile(self.name, mp.load(self.name, self.folder), _opts(self.dcfg))
        self.vals = [None] * len(self.prof.values)

    async def _read(self, bus, fc, addr, count):
        try:
            return await bus.read(self.slave, fc, addr, count, self.timeout_ms)
        except Exception as e:  # the master's ModbusError family, OSError from the port
            raise SourceError("%s: read FC%02d %d+%d failed: %s" % (
                self.label, fc, addr, count, e))

    async def start(self, bus, log):
        p = self.prof
        if p.sunspec:
            await self._discover(bus, log)
        for b in p.once_blocks:
            mv = await self._optional(bus, b, log)
            if mv is not None:
                for v in b.values:
                    self.vals[v.index] = v.decode(mv)
        for v in p.values:  # CT ratios and such: fold into the scale once
            if v.mul_by is not None and v.active:
                r = self.vals[p.ids[v.mul_by].index]
                if not isinstance(r, int) or r < 1:
                    raise SourceError("%s: %s reads %r: not a usable ratio" % (self.label, v.mul_by, r))
                v.mul *= r
        # optional parts (a battery, a meter behind the inverter) the device may not have
        keep = []
        for b in p.blocks:
            if not all(v.optional for v in b.values) or await self._optional(bus, b, log) is not None:
                keep.append(b)
        p.blocks = keep
        log.info("%s: %s, %d request%s per poll" % (
            self.label, p.title, len(keep), "" if len(keep) == 1 else "s"))

    async def _optional(self, bus, b, log):
        # -> the block's registers; None (values switched off) when all of them are optional
        # and the device answers "illegal data address": that part is not fitted
        try:
            return await bus.read(self.slave, b.fc, b.start, b.count, self.timeout_ms)
        except Exception as e:
            if getattr(e, "code", None) == 2 and all(v.optional for v in b.values):
                log.info("%s: no %s (%s)" % (self.label, "/".join(v.id for v in b.values), e))
                for v in b.values:
                    v.active = False
                return None
            raise SourceError("%s: read FC%02d %d+%d failed: %s" % (
                self.label, b.fc, b.start, b.count, e))

    async def _discover(self, bus, log):
        # SunSpec: "SunS" at one of the well-known bases, then a chain of (id, length) models
        base = None
        silent = 0
        why = None
        for b in _SUNSPEC_BASES:
            try:
                mv = await bus.read(self.slave, 3, b, 2, self.timeout_ms)
            except Exception as e:
                # an exception reply means "nothing here"; some gateways stay silent instead
                if getattr(e, "code", None) is None:
                    silent += 1
                    why = e
                continue
            if bytes(mv) == b"SunS":
                base = b
                break
        if base is None:
            if silent == len(_SUNSPEC_BASES):
                raise SourceError("%s: no reply to the SunSpec probe: %s" % (self.label, why))
            raise SourceError("%s: no SunSpec map (\"SunS\" not at %s)" % (
                self.label, ", ".join(str(b) for b in _SUNSPEC_BASES)))
        models = {}
        addr = base + 2
        for _ in range(_MAX_MODELS):
            mv = await self._read(bus, 3, addr, 2)
            mid = mv[0] << 8 | mv[1]
            n = mv[2] << 8 | mv[3]
            if mid == 0xFFFF:
                break
            if mid not in models:
                models[mid] = addr
            if mid == 1:
                await self._common(bus, log, addr)
            addr += n + 2
        log.info("%s: SunSpec at %d, models %s" % (
            self.label, base, " ".join(str(m) for m in sorted(models))))
        self.prof.resolve(models)

    async def _common(self, bus, log, addr):
        # model 1: manufacturer (offset 2) and model (offset 18), 16 registers each
        mv = await self._read(bus, 3, addr + 2, 32)
        log.info("%s: %s %s" % (self.label, _text(mv[:32]), _text(mv[32:])))

    def decode(self, b, mv):
        vals = self.vals
        for v in b.values:
            vals[v.index] = v.decode(mv)

    def combine(self):
        """-> this device's site fields (list in FIELDS order, None = not given)."""
        out = self.out
        for i in range(len(out)):
            out[i] = None
        vals = self.vals
        for r in self.prof.rules:
            if out[r.field] is None:
                out[r.field] = r.eval(vals)
        if out[mp.BATT_WH] is None and self.capacity_wh and out[mp.SOC] is not None:
            out[mp.BATT_WH] = out[mp.SOC] * self.capacity_wh // 1000
        if self.role == "solar":  # a meter on the inverter's feed: export = production
            g = out[mp.GRID]
            out[mp.SOLAR] = None if g is None else -g
            out[mp.GRID] = out[mp.HW_IMP] = out[mp.HW_EXP] = None
        return out
