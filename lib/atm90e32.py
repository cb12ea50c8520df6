"""ATM90E32 (Microchip M90E32AS) energy metering chip over SPI: start-up, health check, readings.

    from machine import SPI, Pin
    import atm90e32
    spi = SPI(2, baudrate=1000000, polarity=1, phase=1, sck=Pin(18), mosi=Pin(23), miso=Pin(19))
    cs = Pin(5, Pin.OUT, value=1)
    m = atm90e32.ATM90E32(spi, cs, line_hz=60, phases="AC", pga=2, ugain=3920,
                          igain=(25498, 0, 25498), on_event=log.warn)
    m.begin()               # soft reset + configuration; ATM90E32Error if the chip does not answer
    m.poll()                # -> OK, or REINIT when the chip had reset and was set up again
    m.p_mw[0], m.irms_ma[2], m.freq_chz, m.take_import(0)

Constructor settings (all phases are indexed 0, 1, 2 = A, B, C):
  spi       machine.SPI already set to mode 3 (polarity=1, phase=1), MSB first, <= 2 MHz.
  cs        machine.Pin (output) of this chip's chip select; several chips may share one SPI.
  line_hz   50 or 60 (MMode0 bit 12 and the frequency alarm thresholds).
  phases    "ABC" (3-phase 4-wire: 6-channel boards) or "AC" (split phase: 3-phase 3-wire mode,
            phase B unused). Only these phases are read on each poll.
  pga       current channel PGA: 1, 2 or 4, or a 3-tuple per phase.
  ugain     voltage gain (one int for all phases, or a 3-tuple); igain: 3-tuple of current gains.
  uoffset, ioffset, poffset, qoffset: 3-tuples of 16-bit offset register values (default 0).
  mains_v   nominal mains voltage (e.g. 230 or 240): sets the sag (80 %), phase-loss (20 %) and
            over-voltage (115 %) thresholds; None leaves the chip's power-on thresholds (which
            suit no board: the status flags are then meaningless).
  on_event  callable(text) for things the app should log (chip reset and re-initialisation).
  sleep_ms  the sleep used during start-up (tests pass a no-op).

Readings after poll(): the attributes and status decoders of ATM90E32Readings (atm90e32_readings.py,
the base class): urms_cv, irms_ma, p_mw, q_mvar, s_mva, pf_pm, freq_chz, temp_c, fs_ma, emm0/emm1
with over_range(ph), status_text(ph)..., and the energy counters. Preallocated: a poll allocates
nothing. The chip's read-to-clear energy registers (1 count = 0.003125 Wh) are drained on every
poll (and by read_energy()) into imp_counts[ph] (forward) and exp_counts[ph] (reverse); the caller
takes them with take_import(ph) / take_export(ph). UWH_PER_COUNT (3125) converts counts to uWh.
Poll at least every few seconds: a 16-bit register holds 204.8 Wh (a minute at 12 kW).

Errors raise ATM90E32Error with a sentence saying what is wrong (no chip / MISO floating high,
MISO stuck low, garbage on the bus, a write the chip did not take). Every write is checked
through LastSPIData. Energy reads, MeterEn and CRCErrStatus are read with a vote: the value and
its LastSPIData echo must agree, else LastSPIData (which holds what the chip really sent) is read
until two agree, so a bit flipped on the wire loses no energy (the chip clears an energy
register as it is read: a raise there would lose it) and forces no re-initialisation; a
non-zero CRCErrStatus is read again before the chip is set up again. On every poll: a chip
that has reset (brown-out) or whose configuration failed its CRC is set up again, on_event() is
told, and poll() returns REINIT (readings settle ~200 ms later; energy the chip counted since
the previous read is lost with its registers).

Calibration helpers: read_reg/write_reg, read32(hi, lo), set_calibration(ph, ...) (unlocks,
writes, verifies, locks and keeps the values for a later re-initialisation), pga(ph).
The configuration registers, their values and math are in atm90e32_config.py (UGAIN_A, POFFSET_A
and FS_UA_PER_IGAIN are re-exported here for calibration code).
"""
from micropython import const

import atm90e32_config as _cfg  # one global for the set-up functions (each name costs RAM)
from atm90e32_config import (METER_EN, MMODE0, FS_UA_PER_IGAIN,
                             UGAIN_A, POFFSET_A)  # noqa: F401 (re-exported for calibration)
from atm90e32_readings import ATM90E32Readings

try:
    from time import sleep_ms as _sleep_ms, sleep_us as _sleep_us
except ImportError:  # CPython
    from time import sleep as _sleep

    def _sleep_ms(ms):
        _sleep(ms / 1000)

    def _sleep_us(us):
        pass

# measurement and status registers (M90E32AS datasheet); configuration: atm90e32_config. Those
# used only here have an underscore: a const() name without one is also a global (RAM).
_SOFT_RESET = const(0x70)
_EMM_STATE0 = const(0x71)
_EMM_STATE1 = const(0x72)
LAST_SPI_DATA = const(0x78)
_CRC_ERR_STATUS = const(0x79)
_AP_ENERGY_A = const(0x81)  # + ph (forward active); ANenergyA = 0x85 + ph (reverse)
_AN_ENERGY_A = const(0x85)
PMEAN_A = const(0xB1)      # + ph; Q 0xB5, S 0xB9, PF 0xBD; low words 0xC1 / 0xC5 / 0xC9
QMEAN_A = const(0xB5)
_SMEAN_A = const(0xB9)
_PFMEAN_A = const(0xBD)
PMEAN_A_LSB = const(0xC1)
QMEAN_A_LSB = const(0xC5)
_SMEAN_A_LSB = const(0xC9)
URMS_A = const(0xD9)       # + ph
IRMS_A = const(0xDD)       # + ph
URMS_A_LSB = const(0xE9)
IRMS_A_LSB = const(0xED)
_FREQ = const(0xF8)
_TEMP = const(0xFC)

_RESET_KEY = const(0x789A)
UWH_PER_COUNT = const(3125)  # energy registers: 0.003125 Wh per count, in uWh
_SOFT_RESET_WAIT_MS = const(40)   # Microchip: wait 40 ms after a soft reset

OK = const(0)
REINIT = const(1)


class ATM90E32Error(Exception):
    pass


def _s16(v):
    return v - 0x10000 if v & 0x8000 else v


def _mw(hi, lo):
    # (hi << 16 | lo) * 0.32 mW without a 32-bit intermediate (ints stay below 2**30 on the
    # ESP32 so nothing is boxed): 2**16 * 8 / 25 = 20971 + 13/25, exact floor division.
    hi = _s16(hi)
    return hi * 20971 + (hi * 13 + lo * 8) // 25


class ATM90E32(ATM90E32Readings):
    def __init__(self, spi, cs, line_hz=50, phases="ABC", pga=1, ugain=7305, igain=27961,
                 uoffset=0, ioffset=0, poffset=0, qoffset=0, on_event=None, sleep_ms=None,
                 mains_v=None):
        if line_hz not in (50, 60):
            raise ValueError("line_hz must be 50 or 60")
        if phases not in ("ABC", "AC"):
            raise ValueError("phases must be \"ABC\" or \"AC\" (split phase)")
        super().__init__()  # the readings' preallocated arrays
        self.spi = spi
        self.cs = cs
        self.line_hz = line_hz
        self.phases = phases
        self.mmode0 = _cfg.mmode0(line_hz, phases)
        self.mmode1 = _cfg.mmode1(pga)
        self.ugain = _cfg.triple(ugain, "ugain")
        self.igain = _cfg.triple(igain, "igain")
        self.uoffset = _cfg.triple(uoffset, "uoffset")
        self.ioffset = _cfg.triple(ioffset, "ioffset")
        self.poffset = _cfg.triple(poffset, "poffset")
        self.qoffset = _cfg.triple(qoffset, "qoffset")
        self.mains_v = mains_v
        self.on_event = on_event
        self._sleep_ms = sleep_ms or _sleep_ms
        self._ph = b"\x00\x02" if phases == "AC" else b"\x00\x01\x02"
        self._tx = bytearray(4)
        self._rx = bytearray(4)
        self._set_fs()
        self.resets = 0      # chip resets seen (and recovered from) since begin()
        self.started = False
        cs.value(1)

    # --- bus ------------------------------------------------------------------------------
    def _frame(self, cmd, value):
        # One register per chip-select cycle, exactly 32 clocks (a write needs exactly 32).
        tx = self._tx
        tx[0] = cmd >> 8
        tx[1] = cmd & 0xFF
        tx[2] = value >> 8
        tx[3] = value & 0xFF
        self.cs.value(0)
        _sleep_us(2)  # the chip wants ~1-10 us between CS low and the first clock
        self.spi.write_readinto(tx, self._rx)
        self.cs.value(1)
        rx = self._rx
        return (rx[2] << 8) | rx[3]

    def read_reg(self, addr):
        """-> the register's 16-bit value (no check)."""
        return self._frame(0x8000 | addr, 0xFFFF)

    def _read_checked(self, addr):
        """Read with a vote against LastSPIData: -> the value the chip sent. A single bit flipped
        in either frame is outvoted; ATM90E32Error when no two of four reads agree."""
        v = self._frame(0x8000 | addr, 0xFFFF)
        echo = self._frame(0x8000 | LAST_SPI_DATA, 0xFFFF)
        if echo == v:
            return v
        # LastSPIData still holds what the chip sent (reading it sends the same value again)
        e2 = self._frame(0x8000 | LAST_SPI_DATA, 0xFFFF)
        if e2 == echo or e2 == v:
            return e2
        e3 = self._frame(0x8000 | LAST_SPI_DATA, 0xFFFF)
        if e3 == v or e3 == echo or e3 == e2:
            return e3
        self._bus_error(v, echo, "reading register 0x%02X" % addr)

    def write_reg(self, addr, value):
        """Write a 16-bit value and verify it through LastSPIData (ATM90E32Error if not)."""
        value &= 0xFFFF
        self._frame(addr, value)
        echo = self._frame(0x8000 | LAST_SPI_DATA, 0xFFFF)
        if echo != value:
            self._bus_error(value, echo, "writing 0x%04X to register 0x%02X" % (value, addr))

    def _bus_error(self, want, got, doing):
        if got == 0xFFFF:
            why = "no reply (MISO floats high: chip absent, unpowered or wrong CS pin)"
        elif got == 0x0000:
            why = "no reply (MISO stuck low: wiring fault or chip held in reset)"
        else:
            why = "bus garbage (LastSPIData 0x%04X, expected 0x%04X: check wiring and SPI mode 3)" % (
                got, want)
        raise ATM90E32Error("ATM90E32 %s while %s" % (why, doing))

    def read32(self, hi_addr, lo_addr):
        """-> (hi << 16) | lo, unsigned (allocates above 2**30: calibration only)."""
        return (self.read_reg(hi_addr) << 16) | self.read_reg(lo_addr)

    # --- start-up -------------------------------------------------------------------------
    def begin(self):
        """Soft reset and full configuration (datasheet start-up). Raises ATM90E32Error."""
        self.started = False
        self._frame(_SOFT_RESET, _RESET_KEY)
        self._sleep_ms(_SOFT_RESET_WAIT_MS)
        _cfg.configure(self)  # every register, each write checked (first echo: a chip there?)
        self.started = True

    def pga(self, ph):
        """The current PGA gain of phase ph (1, 2 or 4) as configured."""
        return 1 << ((self.mmode1 >> (2 * ph)) & 3)

    def set_calibration(self, ph, ugain=None, igain=None, uoffset=None, ioffset=None,
                        poffset=None, qoffset=None, pga=None):
        """Write new calibration values for phase ph (0..2): unlock, write, verify, lock."""
        if pga is not None:
            self.mmode1 = _cfg.with_pga(self.mmode1, ph, pga)
        for name, v in (("ugain", ugain), ("igain", igain), ("uoffset", uoffset),
                        ("ioffset", ioffset), ("poffset", poffset), ("qoffset", qoffset)):
            if v is not None:
                _cfg.check16(v, name)
                getattr(self, name)[ph] = v
        self._set_fs()
        _cfg.recalibrate(self, ph, pga is not None)

    def _set_fs(self):
        for ph in range(3):
            self.fs_ma[ph] = self.igain[ph] * FS_UA_PER_IGAIN // 1000

    # --- polling --------------------------------------------------------------------------
    def check(self):
        """Health check -> OK, or REINIT after setting up again a chip that had reset (MeterEn
        reads 0) or whose configuration registers failed their CRC (CRCErrStatus not 0)."""
        en = self._read_checked(METER_EN)
        if en == 1:
            crc = self._read_checked(_CRC_ERR_STATUS)
            if crc == 0 or self._read_checked(_CRC_ERR_STATUS) == 0:
                return OK  # a non-zero read not confirmed by the next one: a glitch on the wire
            why = "configuration CRC error (CRCErrStatus 0x%04X)" % crc
        elif en != 0:
            self._bus_error(1, en, "checking MeterEn")
        else:
            # MeterEn 0: a reset chip, or a MISO stuck low. MMode0 is never 0 on a live chip
            # (power-on value 0x0087): telling them apart keeps the log honest.
            if self.read_reg(MMODE0) == 0:
                self._bus_error(1, 0, "checking MeterEn")
            why = "reset (MeterEn=0, brown-out?)"
        self.resets += 1
        if self.on_event:
            self.on_event("ATM90E32 %s: setting it up again" % why)
        self.begin()
        if self.on_event:
            self.on_event("ATM90E32 set up again (%d time(s) since start)" % self.resets)
        return REINIT

    def poll(self):
        """Health check, then every reading and the energy registers. -> OK or REINIT."""
        if self.check() == REINIT:
            return REINIT
        ph_list = self._ph
        for k in range(len(ph_list)):
            ph = ph_list[k]
            self.urms_cv[ph] = self.read_reg(URMS_A + ph)
            self.irms_ma[ph] = self.read_reg(IRMS_A + ph)
            self.p_mw[ph] = _mw(self.read_reg(PMEAN_A + ph), self.read_reg(PMEAN_A_LSB + ph))
            self.q_mvar[ph] = _mw(self.read_reg(QMEAN_A + ph), self.read_reg(QMEAN_A_LSB + ph))
            self.s_mva[ph] = _mw(self.read_reg(_SMEAN_A + ph), self.read_reg(_SMEAN_A_LSB + ph))
            self.pf_pm[ph] = _s16(self.read_reg(_PFMEAN_A + ph))
        self.freq_chz = self.read_reg(_FREQ)
        self.temp_c = _s16(self.read_reg(_TEMP))
        self.emm0 = self.read_reg(_EMM_STATE0)
        self.emm1 = self.read_reg(_EMM_STATE1)
        self.read_energy()
        return OK

    def read_energy(self):
        """Drain the forward/reverse energy registers into imp_counts/exp_counts (checked)."""
        ph_list = self._ph
        for k in range(len(ph_list)):
            ph = ph_list[k]
            self.imp_counts[ph] += self._read_checked(_AP_ENERGY_A + ph)
            self.exp_counts[ph] += self._read_checked(_AN_ENERGY_A + ph)
