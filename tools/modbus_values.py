"""Register maps that make a profile's device report given site values (host only, CPython).

    registers_for("sdm630")                       # plausible values
    registers_for("sungrow_sh", {"grid_w": -850, "solar_w": 3200, ...})
    -> {"hr": {addr: u16}, "ir": {addr: u16}}

The inverse of the firmware's decoding (firmware/app/sources/modbus_profile.py and
profile_values.py, whose profile parser it reuses): each field is split over the values that
feed it (import minus export, a magnitude plus a direction register, PV strings that are summed,
...), scaled back to raw units
and written in the register's type and word order. The tests do not rely on this alone: the
hand-written register maps in host_tests/modbus_cases.py follow the device notes directly.
"""
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROFILES = ROOT / "firmware" / "profiles"

try:
    import micropython  # noqa: F401  (under MicroPython, or the test stand-in)
except ImportError:
    sys.path.insert(0, str(ROOT / "host_tests" / "cpython"))
if str(ROOT / "firmware") not in sys.path:
    sys.path.insert(0, str(ROOT / "firmware"))

from app.sources import modbus_profile as mp  # noqa: E402
from app.sources import profile_values as pv  # noqa: E402  (the value types)

METER_SITE = {"grid_w": 1234, "hw_import_wh": 5432100, "hw_export_wh": 1234500}
INVERTER_SITE = {"grid_w": -850, "solar_w": 3200, "battery_w": -1200, "load_w": 1150,
                 "soc_pm": 650, "battery_wh": 6500, "hw_import_wh": 5432100,
                 "hw_export_wh": 2345600}
ONCE_DEFAULTS = {"irat": 10}  # CT ratio of a DTSU666 behind 50/5 A transformers
SUNSPEC_BASE = 40000
# SunSpec model lengths (registers after the id/length header)
SUNSPEC_LEN = {1: 66, 101: 50, 102: 50, 103: 50, 201: 105, 202: 105, 203: 105, 204: 105,
               124: 24, 802: 62}


def profile_names():
    return sorted(p.stem for p in PROFILES.glob("*.json"))


def load_profile(name, options=None):
    data = json.loads((PROFILES / (name + ".json")).read_text())
    return mp.Profile(name, data, options or {})


def plausible_site(name):
    prof = load_profile(name)
    return dict(METER_SITE if prof.kind == "meter" else INVERTER_SITE)


def registers_for(profile_name, site=None, options=None, once=None,
                  models=(1, 103, 203, 124, 802)):
    """-> {"hr": {addr: u16}, "ir": {addr: u16}} that decode to `site` (fields the profile
    cannot give are ignored). options: the device options; once: raw values of "once"
    registers (CT ratio); models: SunSpec models to lay out."""
    prof = load_profile(profile_name, options)
    site = dict(site if site is not None else plausible_site(profile_name))
    once = dict(ONCE_DEFAULTS, **(once or {}))
    regs = {"hr": {}, "ir": {}}
    layout = None
    if prof.sunspec:
        layout = _sunspec_layout(prof, regs, models)
    known = _solve(prof, site)
    ratios = {}
    for v in prof.values:
        if v.once and v.id in once and v.id not in known:
            known[v.id] = once[v.id]
    for v in prof.values:
        if v.mul_by is not None:
            ratios[v.id] = known.get(v.mul_by, 1)
    sf_regs = {}
    for v in prof.values:
        if not v.active or v.id not in known or v.addr is None:
            continue
        _put(prof, v, known[v.id], ratios.get(v.id, 1), regs, sf_regs)
    if layout is not None:
        for addr, sf in sf_regs.items():
            regs["hr"][addr] = sf & 0xFFFF
    return regs


def _solve(prof, site):
    """Split each wanted field over the values that feed it -> {value id: decoded value}."""
    known = {}
    done = set()
    vals = prof.values
    # direct values first (every alternative source of a field tells the same), then the
    # combinations, which may build on them (Huawei: load = AC output + grid)
    for r in prof.rules:
        f = mp.FIELDS[r.field]
        if r.op is None and site.get(f) is not None and vals[r.args[0]].active:
            known[vals[r.args[0]].id] = site[f]
            done.add(f)
    for r in prof.rules:
        f = mp.FIELDS[r.field]
        if r.op is None or f in done or site.get(f) is None:
            continue
        ids = [vals[i].id for i in r.args]
        if not all(vals[i].active for i in r.args):
            continue
        want = site[f]
        if r.op == "sum":
            free = [i for i in ids if i not in known]
            rest = want - sum(known[i] for i in ids if i in known)
            for k, i in enumerate(free):
                share = rest // len(free)
                known[i] = share + (rest - share * len(free) if k == 0 else 0)
        elif r.op == "sub":
            a, b = ids
            if a in known:
                known[b] = known[a] - want
            elif b in known:
                known[a] = want + known[b]
            else:
                known[a], known[b] = (want, 0) if want >= 0 else (0, -want)
        elif r.op == "mul":
            a, b = ids
            if a not in known:
                a, b = b, a
            if a not in known or not known[a]:
                continue
            known[b] = round(want * r.div / known[a])
        elif r.op == "dir":
            mag, d = ids
            known[mag] = abs(want)
            if r.mask:  # a status bit: set when positive
                known[d] = r.mask if want >= 0 else 0
            else:
                known[d] = r.pos if want >= 0 else (0 if r.pos else 1)
        done.add(f)
    return known


def _raw(v, decoded, ratio, sf=0):
    """Decoded (scaled, signed) value -> raw register number (float for f32)."""
    mul = v.mul * ratio * (10 ** sf if sf > 0 else 1)
    div = v.div * (10 ** -sf if sf < 0 else 1)
    x = -decoded if v.neg else decoded
    if v.type == pv._F32:
        return x * div / mul
    return round(x * div / mul)


def _fits(v, raw):
    t = v.type
    if t == pv._U16:
        return 0 <= raw <= 0xFFFF
    if t == pv._S16:
        return -0x8000 < raw <= 0x7FFF
    if t == pv._U32:
        return 0 <= raw <= 0xFFFFFFFF
    return -0x80000000 < raw <= 0x7FFFFFFF


def _put(prof, v, decoded, ratio, regs, sf_regs):
    table = regs["hr" if v.fc == 3 else "ir"]
    sf = 0
    if v.sf_addr is not None:
        sf = sf_regs.get(v.sf_addr)
        if sf is None:
            # the smallest scale factor that keeps the number exact and in range
            for sf in (0, -1, -2, 1, 2, 3):
                raw = _raw(v, decoded, ratio, sf)
                if _fits(v, raw) and _back(v, raw, ratio, sf) == decoded:
                    break
            sf_regs[v.sf_addr] = sf
    raw = _raw(v, decoded, ratio, sf)
    if v.type == pv._F32:
        words = struct.unpack(">HH", struct.pack(">f", raw))
    elif v.wide:
        raw &= 0xFFFFFFFF
        words = (raw >> 16, raw & 0xFFFF)
    else:
        table[v.addr] = raw & 0xFFFF
        return
    hi, lo = words
    if v.addr_hi is not None:
        table[v.addr] = lo
        table[v.addr_hi] = hi
    elif v.le:
        table[v.addr] = lo
        table[v.addr + 1] = hi
    else:
        table[v.addr] = hi
        table[v.addr + 1] = lo


def _back(v, raw, ratio, sf):
    mul = v.mul * ratio * (10 ** sf if sf > 0 else 1)
    div = v.div * (10 ** -sf if sf < 0 else 1)
    n = raw * mul
    n = (n + div // 2) // div if n >= 0 else -((div // 2 - n) // div)
    return -n if v.neg else n


def _sunspec_layout(prof, regs, models):
    """Lay out "SunS", the models (with their headers) and the end marker; resolve the
    profile's values to absolute addresses."""
    hr = regs["hr"]
    hr[SUNSPEC_BASE] = 0x5375  # "Su"
    hr[SUNSPEC_BASE + 1] = 0x6E53  # "nS"
    addr = SUNSPEC_BASE + 2
    found = {}
    for m in models:
        n = SUNSPEC_LEN[m]
        hr[addr] = m
        hr[addr + 1] = n
        for i in range(n):
            hr[addr + 2 + i] = 0
        found[m] = addr
        if m == 1:
            for off, text in ((2, b"SunSim"), (18, b"Hybrid 5000")):
                text = text.ljust(32, b"\0")
                for i in range(16):
                    hr[addr + off + i] = text[2 * i] << 8 | text[2 * i + 1]
        addr += n + 2
    hr[addr] = 0xFFFF
    hr[addr + 1] = 0
    # unimplemented points read as their "not implemented" markers
    prof.resolve(found)
    for v in prof.values:
        if v.active and v.addr is not None:
            if v.type == pv._S16:
                hr[v.addr] = 0x8000
            elif v.type == pv._U16:
                hr[v.addr] = 0xFFFF
    return found


if __name__ == "__main__":
    for name in sys.argv[1:] or profile_names():
        print(name, registers_for(name))
