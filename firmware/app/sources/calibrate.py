# Calibration of the CT meter (ATM90E32 chips): gains from a reference reading, offsets at zero
# input, stored in the config so every start-up writes them to the chip.
#
# For the console and the portal (they call these; nothing here prints or asks):
#
#   from app.sources import calibrate
#   meter = app.source.meters[chip]          # a started atm90e32.ATM90E32 (CTSource.meters)
#   r = await calibrate.voltage_gain(meter, "A", 230.4)    # reference voltmeter reading, V
#   r = await calibrate.current_gain(meter, "A", 12.35, multiplier=1)  # clamp meter reading, A
#   r = await calibrate.current_offset(meter, "A")         # CT on no wire (zero current)
#   r = await calibrate.voltage_offset(meter, "A")         # voltage input at zero (rarely needed)
#   r = await calibrate.power_offsets(meter, "A")          # voltage present, no current
#   calibrate.store(cfg.data, 0, "A", r, config.save)      # into source.channels, saved atomically
#
# Each measuring function averages `reads` readings `gap_ms` apart, computes the register value
# (gain: reference / measured x current gain, clamped to 16 bits; offsets as the application note
# says), writes it (unlock, write, lock), reads the register back and returns a dict:
#   {"key": "igain", "value": 26011, "old": 25498, "measured": 12112, "clamped": False, ...}
# with the config key(s) and value(s) to store. Errors (a bad reference, nothing measured, a bus
# fault, a register that did not take the value) raise CalibrationError with a sentence.
# The current gain of a channel with a multiplier: the chip runs at gain / multiplier, the config
# keeps gain (what app.sources.ct divides): the returned "value" is the config's.
import asyncio
from micropython import const

_PH = "ABC"
_GAP_MS = const(400)   # the chip's mean values refresh a few times a second
_READS = const(5)
_RATED_A = const(100)  # headroom aimed for when the CT's rating is not known


class CalibrationError(Exception):
    pass


def _phase(ph):
    if isinstance(ph, str) and len(ph) == 1 and ph in _PH:
        return _PH.index(ph)
    if isinstance(ph, int) and 0 <= ph <= 2:
        return ph
    raise CalibrationError("phase must be A, B or C")


async def _run(coro):
    # a bus fault during calibration is a calibration error to the caller (console, portal)
    import atm90e32
    try:
        return await coro
    except atm90e32.ATM90E32Error as e:
        raise CalibrationError(str(e))


def _s16(v):
    return v - 0x10000 if v & 0x8000 else v


async def _average(meter, fn, reads, gap_ms):
    total = 0
    for i in range(reads):
        if i:
            await asyncio.sleep_ms(gap_ms)
        meter.poll()  # also drains the energy registers into the driver (nothing is lost)
        total += fn()
    return total / reads


def _check_ref(ref, lo, hi, what):
    if isinstance(ref, bool) or not isinstance(ref, (int, float)) or not lo <= ref <= hi:
        raise CalibrationError("%s must be a number %g..%g" % (what, lo, hi))


async def _gain(meter, ph, key, reg, ref_units, measured_fn, reads, gap_ms, mult=1):
    old = getattr(meter, key)[ph]
    measured = await _average(meter, measured_fn, reads, gap_ms)
    if measured <= 0:
        raise CalibrationError("nothing measured on phase %s: is the %s connected?" % (
            _PH[ph], "CT on the wire" if key == "igain" else "voltage input"))
    new = int(ref_units / measured * old + 0.5)
    clamped = not 0 < new <= 0xFFFF
    new = max(1, min(0xFFFF, new))
    meter.set_calibration(ph, **{key: new})
    back = meter.read_reg(reg)
    if back != new:
        raise CalibrationError("the chip kept %d after writing %d to %s" % (back, new, key))
    return {"key": key, "value": new * mult, "chip_value": new, "old": old * mult,
            "chip_old": old, "measured": measured,
            "reference": ref_units, "clamped": clamped, "phase": _PH[ph]}


async def voltage_gain(meter, ph, ref_volts, reads=_READS, gap_ms=_GAP_MS):
    """Voltage gain of phase ph from a reference RMS voltage (V)."""
    import atm90e32
    ph = _phase(ph)
    _check_ref(ref_volts, 1, 700, "reference voltage (V)")
    return await _run(_gain(meter, ph, "ugain", atm90e32.UGAIN_A + 4 * ph, ref_volts * 100,
                            lambda: meter.urms_cv[ph], reads, gap_ms))


async def current_gain(meter, ph, ref_amps, multiplier=1, reads=_READS, gap_ms=_GAP_MS,
                       rated_a=None):
    """Current gain of phase ph from a reference RMS current (A) on the CT's wire, and the PGA
    that suits the board (one step: see _current). rated_a: the CT's rated current (its
    preset), the headroom to aim for."""
    ph = _phase(ph)
    _check_ref(ref_amps, 0.1, 6553.5 * multiplier, "reference current (A)")
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or not 1 <= multiplier <= 100:
        raise CalibrationError("multiplier must be a whole number 1..100")
    return await _run(_current(meter, ph, ref_amps * 1000 / multiplier, multiplier, reads,
                               gap_ms, rated_a or _RATED_A))


async def _current(meter, ph, ref_ma, mult, reads, gap_ms, rated_a):
    # The one step that settles the PGA question: CircuitSetup has published the same split-board
    # gains with PGA 2x and with PGA 1x, and only one pairing reads right on a given board. The
    # gain that reads true at PGA 1x follows from this one measurement whatever PGA was set;
    # then the PGA is chosen: the highest whose full scale still covers the CT's rating (best
    # resolution), else the lowest whose gain fits 16 bits (most headroom).
    import atm90e32
    old = meter.igain[ph]
    old_pga = meter.pga(ph)
    measured = await _average(meter, lambda: meter.irms_ma[ph], reads, gap_ms)
    if measured <= 0:
        raise CalibrationError("nothing measured on phase %s: is the CT on the wire?" % _PH[ph])
    if meter.over_range(ph) or meter.near_full_scale(ph):  # checked before anything is written
        raise CalibrationError("phase %s is at the ADC's full scale (%.1f A read): the reading is "
                               "clipped; calibrate with a smaller load" % (
                                   _PH[ph], measured * mult / 1000))
    ratio = ref_ma / measured
    gain_1x = ratio * old * old_pga
    pga = None
    for p in (4, 2, 1):
        g = gain_1x / p
        if g <= 0xFFFF and g * atm90e32.FS_UA_PER_IGAIN * mult >= rated_a * 1000000:
            pga = p
            break
    if pga is None:
        pga = 1 if gain_1x <= 0xFFFF else 2 if gain_1x / 2 <= 0xFFFF else 4
    new = int(gain_1x / pga + 0.5)
    clamped = not 0 < new <= 0xFFFF
    new = max(1, min(0xFFFF, new))
    meter.set_calibration(ph, igain=new, pga=pga)
    back = meter.read_reg(atm90e32.UGAIN_A + 1 + 4 * ph)
    if back != new:
        raise CalibrationError("the chip kept %d after writing %d to igain" % (back, new))
    note = None
    if 1.7 < ratio < 2.3 or 0.43 < ratio < 0.59:
        note = "the board read %.2fx the true current at PGA %dx: its burden is %s the profile " \
               "assumes (the other PGA pairing); PGA %dx now" % (1 / ratio, old_pga,
                                                               "half" if ratio > 1 else "twice", pga)
    return {"key": "igain", "value": new * mult, "chip_value": new, "old": old * mult,
            "chip_old": old, "measured": measured, "reference": ref_ma, "clamped": clamped,
            "phase": _PH[ph], "pga": pga, "old_pga": old_pga, "pga_note": note,
            "full_scale_a": new * atm90e32.FS_UA_PER_IGAIN * mult // 1000 / 1000}


async def _rms_offset(meter, ph, key, hi, lo, reg, reads, gap_ms):
    meter.set_calibration(ph, **{key: 0})  # measure the raw offset, not what is compensated
    total = 0
    for i in range(reads):
        await asyncio.sleep_ms(gap_ms)
        total += meter.read32(hi, lo)
    raw = total // reads
    value = (-(raw >> 7)) & 0xFFFF
    meter.set_calibration(ph, **{key: value})
    back = meter.read_reg(reg)
    if back != value:
        raise CalibrationError("the chip kept %d after writing %d to %s" % (back, value, key))
    return {"key": key, "value": _s16(value), "raw": raw, "phase": _PH[ph]}


async def current_offset(meter, ph, reads=_READS, gap_ms=_GAP_MS):
    """Current offset of phase ph: the CT must be on no wire (or the circuit off)."""
    import atm90e32
    ph = _phase(ph)
    return await _run(_rms_offset(meter, ph, "ioffset", atm90e32.IRMS_A + ph,
                                  atm90e32.IRMS_A_LSB + ph, atm90e32.UGAIN_A + 3 + 4 * ph, reads,
                                  gap_ms))


async def voltage_offset(meter, ph, reads=_READS, gap_ms=_GAP_MS):
    """Voltage offset of phase ph: the voltage input must be at zero."""
    import atm90e32
    ph = _phase(ph)
    return await _run(_rms_offset(meter, ph, "uoffset", atm90e32.URMS_A + ph,
                                  atm90e32.URMS_A_LSB + ph, atm90e32.UGAIN_A + 2 + 4 * ph, reads,
                                  gap_ms))


async def power_offsets(meter, ph, reads=_READS, gap_ms=_GAP_MS):
    """Active/reactive power offsets of phase ph: voltage present, no current."""
    return await _run(_power_offsets(meter, _phase(ph), reads, gap_ms))


async def _power_offsets(meter, ph, reads, gap_ms):
    import atm90e32
    meter.set_calibration(ph, poffset=0, qoffset=0)
    out = {"phase": _PH[ph]}
    for key, hi, lo, reg in (("poffset", atm90e32.PMEAN_A, atm90e32.PMEAN_A_LSB, atm90e32.POFFSET_A),
                             ("qoffset", atm90e32.QMEAN_A, atm90e32.QMEAN_A_LSB, atm90e32.POFFSET_A + 1)):
        total = 0
        for i in range(reads):
            await asyncio.sleep_ms(gap_ms)
            v = meter.read32(hi + ph, lo + ph)
            total += v - (1 << 32) if v & 0x80000000 else v
        avg = total // reads
        if not -32768 <= avg <= 32767:
            raise CalibrationError("%s: power at zero current is %d LSB: is a load still on?" % (
                key, avg))
        value = (-avg) & 0xFFFF
        meter.set_calibration(ph, **{key: value})
        back = meter.read_reg(reg + 2 * ph)
        if back != value:
            raise CalibrationError("the chip kept %d after writing %d to %s" % (back, value, key))
        out[key] = _s16(value)
    return out


def store(data, chip, ph, result, save):
    """Put a result's values into data["source"]["channels"] (the entry for chip/phase; a new
    "ignored" entry when the phase has none) and save the config atomically.
    save: the function that writes it (app.core.config.save). -> the channel entry."""
    src = data.get("source")
    if not isinstance(src, dict) or src.get("type") != "atm90e32":
        raise CalibrationError("the config's source is not an ATM90E32 CT meter")
    phase = _PH[_phase(ph)]
    chans = src.setdefault("channels", [])
    entry = None
    for c in chans:
        if c.get("chip", 0) == chip and c.get("phase") == phase:
            entry = c
    if entry is None:
        entry = {"chip": chip, "phase": phase, "role": "ignored"}
        chans.append(entry)
    if "key" in result:
        entry[result["key"]] = result["value"]
    if "pga" in result:
        entry["pga"] = result["pga"]
    for key in ("poffset", "qoffset"):
        if key in result:
            entry[key] = result[key]
    save(data)
    return entry
