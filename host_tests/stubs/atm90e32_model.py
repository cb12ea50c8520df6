# A register-level model of the ATM90E32 (M90E32AS) behind the SPI stand-in (host only).
#
# Written from the datasheet, the application note and the board makers' documentation, not
# from lib/atm90e32.py: where numbers become watts it follows the signal path of a real board.
#
# Bus: attach it with machine.attach_spi_device(cs_pin, model). The SPI stand-in calls cs(level)
# on every chip-select edge and xfer(spi, out, into) for the bytes clocked while it is selected.
# Frames are decoded bit-exactly: 16-bit command (bit 15 = read, low 10 bits = address) then 16
# data bits; a write takes effect only when exactly 32 clocks happened while CS was low; a read
# puts the register on MISO during clocks 16-31; LastSPIData (0x78) holds the last value read or
# written. Registers 0x00-0x6F take writes only while CfgRegAccEn holds 0x55AA. The datasheet
# specifies SPI mode 3 only; what the chip does in another mode is not documented, so the model
# does not answer such frames (MISO undriven, 0xFF) and ignores their writes.
#
# Signal path per phase (the board's front end, then the chip):
#   mains volts -> AC adapter (rated primary -> 9 V) -> board divider -> voltage ADC input, mV
#   amps -> CT (turns ratio) -> burden resistor -> current PGA (MMode1: 1x/2x/4x) -> ADC, mV
# Both ADC inputs saturate at 720 mV RMS (the current input at 720 mV / PGA, datasheet input
# range): a sine beyond it is clipped at its peaks, so RMS and power read low (computed in
# closed form for a clipped sine: RMS, and the fundamental that active power sees).
# The chip scales the ADC signal linearly by the gain registers: Urms = u_mV * Ugain * C_U,
# Irms = i_mV * PGA * Igain * C_I. The datasheet gives the registers' units but not the ADC's
# absolute transfer in a usable form, so C_I and C_U are fixed from the board maker's published
# calibration of one board (CircuitSetup 6-channel: SCT-013-000, 2000:1 on 22 ohm = 11 mV/A at
# PGA 1x reads true with Igain 27961; its 9 V adapter on a 120 V grid reads true with Ugain
# 7305). Every other board, adapter and CT follows from its own front end (see board()).
# Active power sees only the fundamental (the voltage is a clean sine): P = U1 * I1 * PF.
# Offsets (documented behaviour): a zero input still reads a small noise value; noise adds to a
# signal in quadrature (it is uncorrelated with it), while the offset registers are added to the
# RMS value (Uoffset/Ioffset scaled by 2**7 in the 32-bit RMS units, the application note's
# procedure) and Poffset/Qoffset to the 32-bit mean powers. So the offset cancels the noise at
# zero input and over-corrects a little at load, as on the chip.
# Energy: the chip integrates its measured active power (after gains, saturation and Poffset)
# into CF pulses at the meter constant MC = 4.5e11 / PLconst imp/kWh (PLconstH/L, datasheet);
# the energy registers count 0.01 CF (read-to-clear, 16 bits). PStartTh is not modelled.
# Status: SagTh/OVth/PhaseLossTh are compared with the voltage peak in the datasheet's threshold
# units (Vpeak[0.01 V] / (2 * Ugain / 32768), measured before the gain, so a wrong Ugain does
# not move the physical threshold); EMMState0 over-current from the Irms register ceiling.
#
# Faults (model.fault): None, "absent" (MISO floats high: 0xFF), "stuck_low" (0x00),
# "garbage" (random bytes on MISO, writes lost); flip(addr, mask, n=1): the next n reads of
# register addr get the bits in mask flipped on the wire (MISO only: the chip's own state and
# LastSPIData keep the true value); reset() is a brown-out (every register back to its power-on
# value, MeterEn 0); corrupt(addr, value) changes a configuration register by itself
# (CRCErrStatus flags it). In the simulator a file "atm90e32_fault" in the device's folder
# injects them (see _check_fault_file). xfer() allocates nothing.
from array import array
import math
import time

_LAST = 0x78
_UNLOCK = 0x55AA
GARBAGE_SEED = 0x2545F491
ADC_FS_MV = 720.0                  # ADC input full scale, mV RMS (current input: / PGA)
C_I = 1000.0 / (11.0 * 27961)      # mA per (mV * PGA * Igain): see above
C_U = 100.0 / 7305                 # 0.01 V per (mV * Ugain): the 6-channel board with a 120 V
# adapter taken as 1 mV at the ADC per mains volt (C_U and the divider only appear as a product;
# the voltage input's absolute level is not known, so its saturation is not modelled)
_POWER_ON = {0x33: 0x0087, 0x31: 0x0861, 0x32: 0xC468, 0x06: 0xC000, 0x08: 0x1000,
             0x09: 0x0400, 0x0C: 0x1324, 0x0D: 0x13EC}  # MMode0, PLconst, OVth, SagTh,
# PhaseLossTh, FreqLoTh/HiTh (power-on values of the datasheet's register table)


def _s16(v):
    return v - 0x10000 if v & 0x8000 else v


def clipped(x, fs):
    """A sine of RMS x into an input that saturates at RMS fs -> (RMS, fundamental factor)."""
    if x <= fs or x <= 0:
        return x, 1.0
    a = math.asin(fs / x)  # the phase where the peak reaches the limit
    rms2 = (2 * x * x / math.pi) * (a - math.sin(2 * a) / 2) + 2 * fs * fs * (1 - 2 * a / math.pi)
    return math.sqrt(rms2), (2 / math.pi) * (a + math.sin(a) * math.cos(a))


class ATM90E32Model:
    def __init__(self, line_hz=50, volts=230.0, ugain_true=7305, igain_true_1x=27961,
                 clock="manual", speed=1, profile=None, noise=True, adapter_v=None):
        self.regs = array("H", [0] * 1024)
        self.line_hz = line_hz                 # the grid's real frequency
        self.volts = [volts, volts, volts]     # true RMS voltage per phase
        self.watts = [0.0, 0.0, 0.0]           # true active power (negative = reverse)
        self.pf = [1.0, 1.0, 1.0]              # true |power factor|
        self.amps_override = [None, None, None]
        # the front end, as mV at the ADC per mains V and per primary A
        self.mv_per_v = [0.0] * 3
        self.mv_per_a = [0.0] * 3
        self.set_front_end(ugain_true, igain_true_1x, adapter_v)
        # what a zero input reads without offset compensation (32-bit RMS units, Pmean units)
        self.u_noise = [9000, 9000, 9000] if noise else [0, 0, 0]
        self.i_noise = [40000, 52000, 61000] if noise else [0, 0, 0]
        self.p_noise = [700, -500, 900] if noise else [0, 0, 0]
        self.fault = None
        self.clock = clock
        self.speed = speed
        self.profile = profile                 # profile(model, t_s): calls set_load per phase
        self.profile_step_ms = 1000            # how often advance() re-evaluates the profile
        self.t_ms = 0                          # model time
        self.selected = False
        self.frames = 0
        self.writes_ignored = 0
        self.bad_frames = 0                    # CS cycles with a clock count other than 32
        self.wrong_mode_frames = 0
        self.power_mw = [0, 0, 0]              # the chip's measured active power, mW
        self.acc_f = [0, 0, 0]
        self.acc_r = [0, 0, 0]
        self.true_imp_mwms = [0, 0, 0]         # the physical energy (true power), mW*ms
        self.true_exp_mwms = [0, 0, 0]
        self.meas_imp_mwms = [0, 0, 0]         # what the chip integrated, mW*ms
        self.meas_exp_mwms = [0, 0, 0]
        self.true_mw = [0, 0, 0]
        self.resets = 0
        self._flip_addr = -1
        self._flip_mask = 0
        self._flip_n = 0
        self._flip_after = -1
        self._prev = -1                        # register of the previous complete frame
        self._seed = GARBAGE_SEED
        self._n = 0
        self._cmd = 0
        self._data = 0
        self._out = 0
        self._last_tick = time.ticks_ms()
        self._last_fault_check = self._last_tick
        self.fault_file = None                 # simulator: a file whose text injects a fault
        self.reset()
        self.resets = 0

    # --- the board's front end ----------------------------------------------------------
    def set_front_end(self, ugain_true=None, igain_true_1x=None, adapter_v=None, phases=(0, 1, 2)):
        """The front end given as the gains that read true on it: ugain_true for a 9 V adapter
        rated for 120 V mains (adapter_v: the adapter's rated primary, default 120: a 240 V
        adapter halves the ADC voltage), igain_true_1x the current gain that reads true at
        PGA 1x. For a board given by its parts use board()."""
        for ph in phases:
            if ugain_true is not None:
                # Ugain reads true when u_mV * Ugain * C_U = 100 * V, i.e. u_mV/V = 100/(Ugain*C_U)
                self.mv_per_v[ph] = 100.0 / (ugain_true * C_U) * 120.0 / (adapter_v or 120.0)
            if igain_true_1x is not None:
                self.mv_per_a[ph] = 1000.0 / (igain_true_1x * C_I)

    @property
    def ugain_true(self):
        """The Ugain that reads true on this front end (per phase)."""
        return [100.0 / (mv * C_U) if mv else 0 for mv in self.mv_per_v]

    @ugain_true.setter
    def ugain_true(self, v):
        for ph in range(3):
            self.set_front_end(ugain_true=v[ph], phases=(ph,))
        self._update()

    @property
    def igain_true_1x(self):
        return [1000.0 / (mv * C_I) if mv else 0 for mv in self.mv_per_a]

    @igain_true_1x.setter
    def igain_true_1x(self, v):
        for ph in range(3):
            self.set_front_end(igain_true_1x=v[ph], phases=(ph,))
        self._update()

    def board(self, burden_ohm, ct_turns, ugain_120=None, adapter_v=120, phases=(0, 1, 2)):
        """A front end from its parts: burden resistor (ohm), CT turns ratio (e.g. 2000 for
        100 A/50 mA), and the board's Ugain published for a 120 V adapter with the adapter
        actually fitted (rated primary volts)."""
        for ph in phases:
            self.mv_per_a[ph] = 1000.0 * burden_ohm / ct_turns
            if ugain_120 is not None:
                self.set_front_end(ugain_true=ugain_120, adapter_v=adapter_v, phases=(ph,))
        self._update()

    def clip_amps(self, ph):
        """The primary current at which this phase's current ADC saturates (PGA as set)."""
        return ADC_FS_MV / self._pga(ph) / self.mv_per_a[ph]

    # --- physics ------------------------------------------------------------------------
    def reset(self):
        """Brown-out / power-on: every register back to its power-on value (MeterEn = 0)."""
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        for k, v in _POWER_ON.items():
            r[k] = v
        self.acc_f = [0, 0, 0]
        self.acc_r = [0, 0, 0]
        self.resets += 1
        self._update()

    def corrupt(self, addr, value):
        """A configuration register changes by itself (ESD, a glitch): the chip's CRC check
        flags it in CRCErrStatus (0x79) until the next reset."""
        self.regs[addr] = value
        self.regs[0x79] = 0x0001
        self._update()

    def flip(self, addr, mask, n=1, after=-1):
        """The next n reads of register addr reach the MCU with the bits in mask flipped (with
        after: only a read that directly follows a read of register `after`)."""
        self._flip_addr = addr
        self._flip_mask = mask
        self._flip_n = n
        self._flip_after = after

    def set_load(self, ph, watts, volts=None, pf=None, amps=None, update=True):
        """True load on phase ph (0..2): active power W (negative = reverse), voltage, |PF|.
        amps forces the true current (e.g. a current beyond the ADC's range)."""
        self.watts[ph] = float(watts)
        if volts is not None:
            self.volts[ph] = float(volts)
        if pf is not None:
            self.pf[ph] = float(pf)
        self.amps_override[ph] = amps
        if update:
            self._update()

    def _pga(self, ph):
        return 1 << ((self.regs[0x34] >> (2 * ph)) & 3)

    def _update(self):
        r = self.regs
        on = r[0x00] & 1
        mm0 = r[0x33]
        tot_p = tot_q = tot_s = 0
        emm0 = emm1 = 0
        for ph in range(3):
            ug = r[0x61 + 4 * ph]
            ig = r[0x62 + 4 * ph]
            uoff = _s16(r[0x63 + 4 * ph])
            ioff = _s16(r[0x64 + 4 * ph])
            poff = _s16(r[0x41 + 2 * ph])
            qoff = _s16(r[0x42 + 2 * ph])
            pga = self._pga(ph)
            v = self.volts[ph]
            p = self.watts[ph]
            pf = self.pf[ph] if self.pf[ph] > 0 else 1.0
            s = abs(p) / pf
            amps = self.amps_override[ph]
            if amps is None:
                amps = s / v if v > 0 else 0.0
            self.true_mw[ph] = int(p * 1000)
            # the ADC inputs and their saturation
            u_rms, u_f = v * self.mv_per_v[ph], 1.0
            i_rms, i_f = clipped(amps * self.mv_per_a[ph], ADC_FS_MV / pga)
            # the chip's scaling by the gain registers (0.01 V and mA)
            ku = ug * C_U
            ki = pga * ig * C_I
            u_cv = u_rms * ku
            i_ma = i_rms * ki
            u1 = v * self.mv_per_v[ph] * u_f * ku / 100      # fundamental voltage, V
            i1 = amps * self.mv_per_a[ph] * i_f * ki / 1000  # fundamental current, A
            cos = p / (v * amps) if v > 0 and amps > 0 else 0.0
            cos = max(-1.0, min(1.0, cos))
            p_meas = u1 * i1 * cos
            q_meas = u1 * i1 * math.sqrt(max(0.0, 1 - cos * cos))
            s_meas = u_cv * i_ma / 100000
            # noise adds in quadrature; the offset registers are added (RMS: scaled by 2**7)
            u32 = int(math.sqrt((u_cv * 65536) ** 2 + self.u_noise[ph] ** 2)) + (uoff << 7)
            i32 = int(math.sqrt((i_ma * 65536) ** 2 + self.i_noise[ph] ** 2)) + (ioff << 7)
            u32 = max(0, u32)
            i32 = max(0, i32)
            if i32 >> 16 > 0xFFFF:
                emm0 |= 0x8000 >> ph  # the Irms register's ceiling
            p32 = int(p_meas / 0.00032) + self.p_noise[ph] + poff
            q32 = int(q_meas / 0.00032) + qoff
            s32 = int(s_meas / 0.00032)
            if not on:
                u32 = i32 = p32 = q32 = s32 = 0
            self.power_mw[ph] = (p32 * 8) // 25 if on else 0  # energy: the measured power
            r[0xD9 + ph] = min(0xFFFF, u32 >> 16)
            r[0xE9 + ph] = u32 & 0xFFFF
            r[0xDD + ph] = min(0xFFFF, i32 >> 16)
            r[0xED + ph] = i32 & 0xFFFF
            self._put32(0xB1 + ph, 0xC1 + ph, p32)
            self._put32(0xB5 + ph, 0xC5 + ph, q32)
            self._put32(0xB9 + ph, 0xC9 + ph, s32)
            pfr = 0
            if on and s32 > 0:
                pfr = max(-1000, min(1000, int(round(p32 * 1000 / s32))))
            r[0xBD + ph] = pfr & 0xFFFF
            if mm0 & (4 >> ph):
                tot_p += p32
                tot_q += q32
                tot_s += s32
            if on:
                # thresholds compare the voltage peak before the gain, in 0.01 V / (2*Ugain/32768)
                # units taken at the gain that reads true: a physical threshold
                peak = v * 100 * 1.41421356 / (2 * self.ugain_true[ph] / 32768) if self.mv_per_v[ph] else 0
                peak = min(peak, 0xFFFF)  # a 16-bit quantity, like the thresholds
                if peak < r[0x08]:
                    emm1 |= 0x4000 >> ph   # sag
                if peak > r[0x06]:
                    emm0 |= 0x1000 >> ph   # over-voltage
                if peak < r[0x09] and mm0 & (4 >> ph):
                    emm1 |= 0x0400 >> ph   # phase loss
                if p32 < 0:
                    emm1 |= 0x0004 >> ph   # PERegXPST: reverse
        self._put32(0xB0, 0xC0, tot_p)
        self._put32(0xB4, 0xC4, tot_q)
        self._put32(0xB8, 0xC8, tot_s)
        if on:
            f = self.line_hz * 100
            r[0xF8] = f
            if f > r[0x0D]:
                emm1 |= 0x8000
            if f < r[0x0C]:
                emm1 |= 0x0800
            if tot_p < 0:
                emm1 |= 0x0008
            r[0xFC] = 31
        else:
            r[0xF8] = 0
            r[0xFC] = 0
            emm0 = 0
            emm1 = 0
        r[0x71] = emm0
        r[0x72] = emm1

    def _put32(self, hi, lo, v):
        v &= 0xFFFFFFFF
        self.regs[hi] = v >> 16
        self.regs[lo] = v & 0xFFFF

    def advance(self, ms):
        """Model time passes: energy accumulates (profile re-evaluated at least every second)."""
        while ms > 0:
            step = ms if self.profile is None else min(ms, self.profile_step_ms)
            if self.profile is not None:
                self.profile(self, (self.t_ms // 1000) % 86400)
            self._accumulate(step)
            self.t_ms += step
            ms -= step

    def count_mwms(self):
        """One energy count (0.01 CF) in mW*ms at the meter constant the chip holds:
        MC = 4.5e11 / PLconst imp/kWh, so 0.01 CF = 3.6e12 / (100 * MC) = 0.08 * PLconst."""
        return ((self.regs[0x31] << 16) | self.regs[0x32]) * 8 // 100

    def _accumulate(self, ms):
        r = self.regs
        mm0 = r[0x33]
        cnt = self.count_mwms() or 1
        for ph in range(3):
            t = self.true_mw[ph]
            if t > 0:
                self.true_imp_mwms[ph] += t * ms
            elif t < 0:
                self.true_exp_mwms[ph] -= t * ms
            p = self.power_mw[ph]
            if p > 0:
                self.meas_imp_mwms[ph] += p * ms
                a = self.acc_f[ph] + p * ms
                n = a // cnt
                self.acc_f[ph] = a - n * cnt
                r[0x81 + ph] = (r[0x81 + ph] + n) & 0xFFFF
                if mm0 & (4 >> ph):
                    r[0x80] = (r[0x80] + n) & 0xFFFF
            elif p < 0:
                self.meas_exp_mwms[ph] -= p * ms
                a = self.acc_r[ph] - p * ms
                n = a // cnt
                self.acc_r[ph] = a - n * cnt
                r[0x85 + ph] = (r[0x85 + ph] + n) & 0xFFFF
                if mm0 & (4 >> ph):
                    r[0x84] = (r[0x84] + n) & 0xFFFF

    def _tick(self):
        now = time.ticks_ms()
        dt = time.ticks_diff(now, self._last_tick)
        if dt >= 20:
            self._last_tick = now
            self.advance(dt * self.speed)
        if self.fault_file and time.ticks_diff(now, self._last_fault_check) >= 500:
            self._last_fault_check = now
            self._check_fault_file()

    def _check_fault_file(self):
        # Simulator hook: the file's text is the fault ("absent", "stuck_low", "garbage";
        # "reset" resets the chip once and removes the file; "overrange" puts 80 A on phase A).
        try:
            with open(self.fault_file) as f:
                what = f.read().strip()
        except OSError:
            if self.fault or self.amps_override[0] is not None:
                self.fault = None
                self.amps_override[0] = None
                self._update()
            return
        if what == "reset":
            import os
            os.remove(self.fault_file)
            self.reset()
        elif what == "overrange":
            self.amps_override[0] = 80.0
            self._update()
        elif what in ("absent", "stuck_low", "garbage"):
            self.fault = what

    # --- bus ----------------------------------------------------------------------------
    def cs(self, level):
        if not level:
            if self.clock == "ticks":
                self._tick()
            self.selected = True
            self._n = 0
            return
        if not self.selected:
            return
        self.selected = False
        self.frames += 1
        if self._n != 32:
            self.bad_frames += 1
            return  # a frame without exactly 32 clocks changes nothing
        if self.fault == "garbage":
            return
        addr = self._cmd & 0x3FF
        self._prev = addr
        if self._cmd & 0x8000:
            self.regs[_LAST] = self._out
            if 0x80 <= addr <= 0x9F:
                self.regs[addr] = 0  # energy registers are read-to-clear
        else:
            self._write(addr, self._data)

    def _write(self, addr, v):
        r = self.regs
        r[_LAST] = v
        if addr == 0x70:
            if v == 0x789A:
                self.reset()
            return
        if addr == 0x7F:
            r[0x7F] = v
            return
        if addr <= 0x6F and r[0x7F] == _UNLOCK:
            r[addr] = v
            self._update()
            return
        self.writes_ignored += 1

    def xfer(self, spi, out, into):
        fault = self.fault
        if spi.polarity != 1 or spi.phase != 1:
            fault = "absent"  # mode 3 only (datasheet): another mode gets no defined answer
            self.wrong_mode_frames += 1
            self._n = 99  # and the frame does not count as a write
        for i in range(len(out)):
            b = out[i]
            n = self._n
            self._n = n + 8
            if fault == "absent":
                into[i] = 0xFF
                continue
            if fault == "stuck_low":
                into[i] = 0
                continue
            if fault == "garbage":
                self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
                into[i] = (self._seed >> 16) & 0xFF
                continue
            if n == 0:
                self._cmd = b << 8
                into[i] = 0
            elif n == 8:
                cmd = self._cmd | b
                self._cmd = cmd
                self._data = 0
                if cmd & 0x8000:
                    self._out = self.regs[cmd & 0x3FF]
                into[i] = 0
            elif n == 16:
                self._data = b << 8
                into[i] = self._wire(self._out) >> 8 if self._cmd & 0x8000 else 0
            elif n == 24:
                self._data = self._data | b
                into[i] = self._wire(self._out) & 0xFF if self._cmd & 0x8000 else 0
                if self._cmd & 0x8000 and self._flipping():
                    self._flip_n -= 1
            else:
                into[i] = 0

    def _flipping(self):
        return (self._flip_n and (self._cmd & 0x3FF) == self._flip_addr and
                (self._flip_after < 0 or self._prev == self._flip_after))

    def _wire(self, v):
        # a read of the register chosen by flip() reaches the MCU with bits flipped
        if self._flipping():
            return v ^ self._flip_mask
        return v

    # --- helpers for tests --------------------------------------------------------------
    def reg32(self, hi, lo):
        return (self.regs[hi] << 16) | self.regs[lo]

    def true_counts(self, ph):
        """(import, export): the energy the chip measured, exact, in counts (floats). The
        physical energy is true_imp_mwms/true_exp_mwms."""
        cnt = self.count_mwms()
        return self.meas_imp_mwms[ph] / cnt, self.meas_exp_mwms[ph] / cnt


# --- the simulator's CircuitSetup split-phase board: grid CT on A, solar CT on C -----------
def day_profile(start_hour=12, peak_solar_w=5200, base_load_w=480):
    def profile(model, t_s):
        tod = (t_s + start_hour * 3600) % 86400
        x = tod - 21600  # sunrise 06:00, 12 h of daylight
        solar = 0.0
        if 0 < x < 43200:
            solar = peak_solar_w * x * (43200 - x) / (21600.0 * 21600.0)
            if (tod // 600) % 5 == 3:
                solar *= 0.55  # a passing cloud
            solar *= 1 - ((tod // 10) * 7919 % 61) / 1000  # haze: a few % every 10 s
        load = base_load_w + (120 if (tod // 1200) % 2 else 0) + (tod // 10) * 104729 % 37
        if 25200 <= tod < 25380 or 64800 <= tod < 64980:
            load += 2000  # kettle
        if 61200 <= tod < 68400:
            load += 1800  # cooking
        model.set_load(0, load - solar, pf=0.93 if load > solar else 0.98, update=False)  # grid
        model.set_load(1, 0.0, update=False)
        model.set_load(2, solar, pf=0.99)  # the inverter's output
    return profile


# CircuitSetup split single-phase board v1.4 (schematic): 12 ohm burden per CT input, Ugain 3920
# published for its 9 V adapter on 120 V mains. Fitted with SCT-013-000 clamps (100 A/50 mA,
# 2000:1) and the adapter for the local mains: 240 V at 50 Hz (Australia), 120 V at 60 Hz.
SPLIT_BURDEN_OHM = 12
SPLIT_UGAIN_120 = 3920


def split_board_model(line_hz=50, start_hour=12, speed=1, volts=None, adapter_v=None,
                      burden_ohm=SPLIT_BURDEN_OHM, profile=True, noise=True, clock="ticks"):
    if volts is None:
        volts = 240.0 if line_hz == 50 else 121.0
    if adapter_v is None:
        adapter_v = 240 if line_hz == 50 else 120
    m = ATM90E32Model(line_hz=line_hz, volts=volts, clock=clock, speed=speed,
                      profile=day_profile(start_hour) if profile else None, noise=noise)
    m.board(burden_ohm, 2000, SPLIT_UGAIN_120, adapter_v)
    m.volts[1] = 0.0  # phase B is not used on the split-phase board
    return m


def attach_from_env(attach):
    """ESPSIM_ATM90E32=day: a CircuitSetup split-phase board on the board profile's CS pin."""
    import os
    import json
    cs = 5
    try:
        with open("boards/circuitsetup_split.json") as f:
            cs = json.load(f)["chips"][0]["cs"]
    except (OSError, ValueError, KeyError, IndexError):
        pass
    hz = int(os.getenv("ESPSIM_ATM90E32_HZ") or 50)
    hour = int(os.getenv("ESPSIM_ATM90E32_HOUR") or 12)
    speed = int(os.getenv("ESPSIM_ATM90E32_SPEED") or 1)
    model = split_board_model(hz, hour, speed)
    model.fault_file = "atm90e32_fault"  # in the device's folder (the simulator's state dir)
    attach(cs, model)
    return model
