"""ATM90E32 (M90E32AS) readings: the values of the last poll, the energy counters, and what the
chip's status bits and the current say about each phase. ATM90E32Readings is the driver's base
class (atm90e32.ATM90E32 fills it over SPI); it imports nothing and does no I/O. Phases are indexed
0, 1, 2 = A, B, C; every array is preallocated, so filling and reading them allocates nothing.

  urms_cv[ph]   voltage, 0.01 V          irms_ma[ph]  current, mA (unsigned: no direction)
  p_mw[ph]      active power, mW, signed (negative = reverse / export direction)
  q_mvar[ph]    reactive power, mvar     s_mva[ph]    apparent power, mVA
  pf_pm[ph]     power factor, per mille, signed
  freq_chz      line frequency, 0.01 Hz  temp_c       chip temperature, C
  fs_ma[ph]     the Irms reading at which the current ADC saturates (720 mV RMS / PGA at the
                input, datasheet): FS_UA_PER_IGAIN * Igain / 1000 mA, the same for any PGA
                (set by the driver from its Igain: atm90e32_config.FS_UA_PER_IGAIN)
  emm0, emm1    EMMState0/1 raw; decoded by over_current(ph), over_voltage(ph), sag(ph),
                phase_loss(ph), reverse(ph), freq_low(), freq_high(), over_range(ph) (the
                current ADC at full scale or Irms at its 65.535 A ceiling: the reading is
                clipped, low), near_full_scale(ph) (above 90 % of full scale), status_text(ph)
  Energy: imp_counts[ph] (forward) and exp_counts[ph] (reverse), in the chip's counts (1 count =
  0.003125 Wh, atm90e32.UWH_PER_COUNT uWh), added to by the driver on every poll. The caller
  takes them with take_import(ph) / take_export(ph), which return the counts and zero them: the
  counters stay small (no big integers on the ESP32).
"""
from array import array


class ATM90E32Readings:
    def __init__(self):
        self.urms_cv = array("i", (0, 0, 0))
        self.irms_ma = array("i", (0, 0, 0))
        self.fs_ma = array("i", (0, 0, 0))
        self.p_mw = array("i", (0, 0, 0))
        self.q_mvar = array("i", (0, 0, 0))
        self.s_mva = array("i", (0, 0, 0))
        self.pf_pm = array("i", (0, 0, 0))
        self.imp_counts = array("i", (0, 0, 0))
        self.exp_counts = array("i", (0, 0, 0))
        self.freq_chz = 0
        self.temp_c = 0
        self.emm0 = 0
        self.emm1 = 0

    def take_import(self, ph):
        """-> forward energy counts (0.003125 Wh each) since the last take; zeroes them."""
        n = self.imp_counts[ph]
        self.imp_counts[ph] = 0
        return n

    def take_export(self, ph):
        n = self.exp_counts[ph]
        self.exp_counts[ph] = 0
        return n

    # --- status decoding (EMMState0 / EMMState1) -------------------------------------------
    def over_current(self, ph):
        return bool(self.emm0 & (0x8000 >> ph))

    def over_voltage(self, ph):
        return bool(self.emm0 & (0x1000 >> ph))

    def sag(self, ph):
        return bool(self.emm1 & (0x4000 >> ph))

    def phase_loss(self, ph):
        return bool(self.emm1 & (0x0400 >> ph))

    def reverse(self, ph):
        """Active energy of this phase runs in the reverse direction (PERegXPST)."""
        return bool(self.emm1 & (0x0004 >> ph))

    def freq_high(self):
        return bool(self.emm1 & 0x8000)

    def freq_low(self):
        return bool(self.emm1 & 0x0800)

    def over_range(self, ph):
        """The current ADC at full scale (a sine beyond it is clipped: current and power read
        low) or Irms at the register's ceiling (65.535 A)."""
        i = self.irms_ma[ph]
        return i >= 0xFFFF or (self.fs_ma[ph] > 0 and i >= self.fs_ma[ph])

    def near_full_scale(self, ph):
        """Above 90 % of the current ADC's full scale (or of the register's ceiling)."""
        i = self.irms_ma[ph]
        fs = self.fs_ma[ph] if 0 < self.fs_ma[ph] < 0xFFFF else 0xFFFF
        return i * 10 >= fs * 9

    def status_text(self, ph):
        out = []
        for cond, text in ((self.over_range(ph), "current over range"),
                           (self.near_full_scale(ph) and not self.over_range(ph),
                            "current near full scale"),
                           (self.over_current(ph), "over current"),
                           (self.over_voltage(ph), "over voltage"), (self.sag(ph), "voltage sag"),
                           (self.phase_loss(ph), "phase loss"), (self.reverse(ph), "reverse")):
            if cond:
                out.append(text)
        return ", ".join(out) or "ok"
