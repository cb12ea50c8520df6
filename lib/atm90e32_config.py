"""ATM90E32 (M90E32AS) configuration: the registers written at start-up and by calibration, their
values and the math that makes them. No bus of its own: configure(), write_calibration() and
recalibrate() write through a driver handed in (atm90e32.ATM90E32: its write_reg checks every
write), so this module imports nothing of the driver and its math can be used alone.

    mmode0(line_hz, phases)   MMode0: 60 Hz bit, 3P3W for split phase ("AC") or 3P4W ("ABC")
    mmode1(pga)               MMode1: 2 PGA bits per current channel (1, 2 or 4; one or three)
    threshold(volts, ugain)   SagTh / OVth / PhaseLossTh for a voltage at a voltage gain
    with_pga(mm1, ph, pga)    MMode1 with one phase's PGA changed
    triple(v, what)           one value or three (A, B, C), checked as 16-bit registers -> array
    check16(v, what)          ValueError unless v fits a 16-bit register (signed or unsigned)
    FS_UA_PER_IGAIN           the current ADC's full scale as an Irms reading: uA per Igain unit
    configure(m)              the whole configuration after a soft reset (unlock ... lock)
    write_calibration(m, ph)  one phase's gains and offsets (configuration unlocked)
    recalibrate(m, ph, pga_changed)   the same for a calibration change: unlock, write, lock

The driver keeps what it configured (mmode0, mmode1, ugain, igain, uoffset, ioffset, poffset,
qoffset as arrays, mains_v) so that a chip that resets is set up again the same way.
"""
from array import array
from micropython import const

# configuration and calibration registers (M90E32AS datasheet). Those written only here have an
# underscore: a const() name without one is also stored in the module's globals (RAM on the board).
METER_EN = const(0x00)
_SAG_PEAK_DET_CFG = const(0x05)
_OV_TH = const(0x06)
_ZX_CONFIG = const(0x07)
_SAG_TH = const(0x08)
_PHASE_LOSS_TH = const(0x09)
_FREQ_LO_TH = const(0x0C)
_FREQ_HI_TH = const(0x0D)
_PL_CONST_H = const(0x31)
_PL_CONST_L = const(0x32)
MMODE0 = const(0x33)
_MMODE1 = const(0x34)
_P_START_TH = const(0x35)
_Q_START_TH = const(0x36)
_S_START_TH = const(0x37)
_P_PHASE_TH = const(0x38)
_Q_PHASE_TH = const(0x39)
POFFSET_A = const(0x41)   # + 2*ph; QoffsetA = 0x42 + 2*ph
UGAIN_A = const(0x61)     # + 4*ph: Ugain, Igain, Uoffset, Ioffset
_CFG_REG_ACC_EN = const(0x7F)

_UNLOCK = const(0x55AA)
_LOCK = const(0x0000)

_PGA_BITS = {1: 0, 2: 1, 4: 2}
# Full scale of the current ADC as an Irms reading, uA per unit of Igain, for any PGA: the input
# saturates at 720 mV RMS / PGA (datasheet) and the chip reads Irms = mV * PGA * Igain * k. k is
# taken from the board maker's calibration (CircuitSetup 6-channel: 2000:1 CT on 22 ohm, 11 mV/A,
# reads true at PGA 1x with Igain 27961): 720 / 11 A at 27961, 2341 uA per Igain unit.
FS_UA_PER_IGAIN = const(2341)


def mmode0(line_hz, phases):
    """MMode0 value: 60 Hz bit, 3-phase-3-wire for split phase, phases included in totals."""
    v = 0x1000 if line_hz == 60 else 0
    if phases == "AC":
        return v | 0x0185  # 3P3W, absolute sums, phases A and C
    return v | 0x0087      # 3P4W, phases A, B, C


def mmode1(pga):
    """MMode1 value: 2 PGA bits per current channel (A in bits 1:0)."""
    if isinstance(pga, int):
        pga = (pga, pga, pga)
    v = 0
    for ph in range(3):
        bits = _PGA_BITS.get(pga[ph])
        if bits is None:
            raise ValueError("PGA gain must be 1, 2 or 4")
        v |= bits << (2 * ph)
    return v


def with_pga(mm1, ph, pga):
    """MMode1 value mm1 with phase ph's PGA gain set to pga (1, 2 or 4)."""
    if pga not in _PGA_BITS:
        raise ValueError("PGA gain must be 1, 2 or 4")
    return (mm1 & ~(3 << (2 * ph))) | (_PGA_BITS[pga] << (2 * ph))


def threshold(volts, ugain):
    """SagTh/OVth/PhaseLossTh register value for a voltage (datasheet: Vpeak in 0.01 V divided by
    2 * Ugain / 32768), clamped to 16 bits."""
    if ugain <= 0:
        return 0xFFFF
    v = int(volts * 100 * 1.41421356 * 16384 / ugain)
    return max(0, min(0xFFFF, v))


def check16(v, what):
    if not -32768 <= v <= 65535:
        raise ValueError("%s: %r is not a 16-bit register value" % (what, v))


def triple(v, what):
    if isinstance(v, int):
        v = (v, v, v)
    if len(v) != 3:
        raise ValueError("%s: one value or three (A, B, C)" % what)
    for x in v:
        check16(x, what)
    return array("i", v)


def configure(m):
    """Write driver m's whole configuration after a soft reset: unlock, every register (each
    write verified by m.write_reg), lock. Raises what m.write_reg raises."""
    m.write_reg(_CFG_REG_ACC_EN, _UNLOCK)  # the first echo tells whether a chip is there
    m.write_reg(METER_EN, 0x0001)
    m.write_reg(_PL_CONST_H, 0x0861)  # meter constant 3200 imp/kWh
    m.write_reg(_PL_CONST_L, 0xC468)
    m.write_reg(MMODE0, m.mmode0)
    m.write_reg(_MMODE1, m.mmode1)
    m.write_reg(_P_START_TH, 0x1D4C)
    m.write_reg(_Q_START_TH, 0x1D4C)
    m.write_reg(_S_START_TH, 0x1D4C)
    m.write_reg(_P_PHASE_TH, 0x02EE)
    m.write_reg(_Q_PHASE_TH, 0x02EE)
    base = m.line_hz * 100
    m.write_reg(_FREQ_LO_TH, base - 100)  # alarm below/above line +- 1 Hz (0.01 Hz units)
    m.write_reg(_FREQ_HI_TH, base + 100)
    m.write_reg(_ZX_CONFIG, 0xD654)
    m.write_reg(_SAG_PEAK_DET_CFG, 0x143F)
    if m.mains_v:
        ug = m.ugain[0]
        m.write_reg(_SAG_TH, threshold(m.mains_v * 0.8, ug))
        m.write_reg(_PHASE_LOSS_TH, threshold(m.mains_v * 0.2, ug))
        m.write_reg(_OV_TH, threshold(m.mains_v * 1.15, ug))
    for ph in range(3):
        write_calibration(m, ph)
    m.write_reg(_CFG_REG_ACC_EN, _LOCK)


def write_calibration(m, ph):
    """Phase ph's gains and offsets from driver m (the configuration must be unlocked)."""
    r = UGAIN_A + 4 * ph
    m.write_reg(r, m.ugain[ph])
    m.write_reg(r + 1, m.igain[ph])
    m.write_reg(r + 2, m.uoffset[ph])
    m.write_reg(r + 3, m.ioffset[ph])
    m.write_reg(POFFSET_A + 2 * ph, m.poffset[ph])
    m.write_reg(POFFSET_A + 1 + 2 * ph, m.qoffset[ph])


def recalibrate(m, ph, pga_changed):
    """Unlock, write phase ph's calibration (and MMode1 when a PGA changed), lock again."""
    m.write_reg(_CFG_REG_ACC_EN, _UNLOCK)
    try:
        if pga_changed:
            m.write_reg(_MMODE1, m.mmode1)
        write_calibration(m, ph)
    finally:
        m.write_reg(_CFG_REG_ACC_EN, _LOCK)
