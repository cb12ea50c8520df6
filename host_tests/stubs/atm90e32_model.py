# A register-level model of the ATM90E32 (M90E32AS) behind the SPI stand-in (host only).
#
# Attach it with machine.attach_spi_device(cs_pin, model). The SPI stand-in calls cs(level) on
# every chip-select edge and xfer(spi, out, into) for the bytes clocked while it is selected.
# The model decodes frames bit-exactly: 16-bit command (bit 15 = read, low 10 bits = address)
# then 16 data bits; a write takes effect only when exactly 32 clocks happened while CS was low;
# a read puts the register on MISO during clocks 16-31; LastSPIData (0x78) holds the last value
# read or written. Registers 0x00-0x6F take writes only while CfgRegAccEn holds 0x55AA.
#
# The physics: per phase a true voltage, active power and power factor (set_load, or a profile
# function of model time). Measurement registers are scaled with the datasheet's units (Urms
# 0.01 V, Irms 1 mA, P/Q/S 32-bit x 0.00032 W, PF signed /1000, Freq 0.01 Hz) and with the gain
# registers the firmware wrote: a reading is exact when Ugain == ugain_true and
# Igain == igain_true_1x / PGA. Offsets: a zero input reads a small noise value that the offset
# registers cancel the way the application note computes them (a simplification: the real
# chip applies the offsets to the samples). Energy: forward/reverse active power is integrated
# (advance(ms), or real ticks in "ticks" clock mode) into the read-to-clear 16-bit registers at
# 0.003125 Wh per count; true_imp_mwms/true_exp_mwms keep the exact integral for tests.
#
# Faults (model.fault): None, "absent" (MISO floats high: 0xFF), "stuck_low" (0x00),
# "garbage" (random bytes on MISO, writes lost); reset() is a brown-out (all registers back to
# power-on values, MeterEn 0); set_load(..., amps beyond 65.535 A) gives an over-range current;
# corrupt(addr, value) flips a configuration register (CRCErrStatus flags it). In the
# simulator a file "atm90e32_fault" in the device's folder injects them (see _check_fault_file).
# xfer() allocates nothing (the driver's allocation per poll is measured through it).
from array import array
import time

_CNT = 11250000          # mW*ms per energy count (0.003125 Wh = 11.25 J)
_LAST = 0x78
_UNLOCK = 0x55AA
GARBAGE_SEED = 0x2545F491


def _s16(v):
    return v - 0x10000 if v & 0x8000 else v


class ATM90E32Model:
    def __init__(self, line_hz=50, volts=230.0, ugain_true=7305, igain_true_1x=27961,
                 clock="manual", speed=1, profile=None, noise=True):
        self.regs = array("H", [0] * 1024)
        self.line_hz = line_hz                 # the grid's real frequency
        self.volts = [volts, volts, volts]     # true RMS voltage per phase
        self.watts = [0.0, 0.0, 0.0]           # true active power (negative = reverse)
        self.pf = [1.0, 1.0, 1.0]              # true |power factor|
        self.amps_override = [None, None, None]
        self.ugain_true = [ugain_true] * 3
        self.igain_true_1x = [igain_true_1x] * 3
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
        self.power_mw = [0, 0, 0]              # reported active power (after gains), mW
        self.acc_f = [0, 0, 0]
        self.acc_r = [0, 0, 0]
        self.true_imp_mwms = [0, 0, 0]
        self.true_exp_mwms = [0, 0, 0]
        self.resets = 0
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

    # --- physics ------------------------------------------------------------------------
    def reset(self):
        """Brown-out / power-on: every register back to its power-on value (MeterEn = 0)."""
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[0x33] = 0x0087  # MMode0 power-on value
        r[0x78] = 0
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

    def set_load(self, ph, watts, volts=None, pf=None, amps=None, update=True):
        """True load on phase ph (0..2): active power W (negative = reverse), voltage, |PF|.
        amps forces the true current (e.g. beyond the 65.535 A register range)."""
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
            kv = ug / self.ugain_true[ph]
            ki = ig * self._pga(ph) / self.igain_true_1x[ph]
            v = self.volts[ph]
            p = self.watts[ph]
            pf = self.pf[ph] if self.pf[ph] > 0 else 1.0
            s = abs(p) / pf
            amps = self.amps_override[ph]
            if amps is None:
                amps = s / v if v > 0 else 0.0
            i_ma = amps * 1000 * ki
            clip = 1.0
            if i_ma > 65535:
                clip = 65535 / i_ma
                emm0 |= 0x8000 >> ph
            u32 = max(0, int(v * 100 * kv * 65536) + self.u_noise[ph] + (uoff << 7))
            i32 = max(0, int(min(i_ma, 65535.99) * 65536) + self.i_noise[ph] + (ioff << 7))
            scale = kv * ki * clip
            p_rep = p * scale
            q_rep = (s * s - p * p) ** 0.5 * scale if s > abs(p) else 0.0
            s_rep = s * scale
            p32 = int(p_rep / 0.00032) + self.p_noise[ph] + poff
            q32 = int(q_rep / 0.00032)
            s32 = int(s_rep / 0.00032)
            if not on:
                u32 = i32 = p32 = q32 = s32 = 0
            self.power_mw[ph] = int(p_rep * 1000) if on else 0
            r[0xD9 + ph] = min(0xFFFF, u32 >> 16)
            r[0xE9 + ph] = u32 & 0xFFFF
            r[0xDD + ph] = min(0xFFFF, i32 >> 16)
            r[0xED + ph] = i32 & 0xFFFF
            self._put32(0xB1 + ph, 0xC1 + ph, p32)
            self._put32(0xB5 + ph, 0xC5 + ph, q32)
            self._put32(0xB9 + ph, 0xC9 + ph, s32)
            pfr = 0
            if on and s_rep > 0:
                pfr = int(round(pf * 1000))
                if p < 0:
                    pfr = -pfr
            r[0xBD + ph] = pfr & 0xFFFF
            if mm0 & (4 >> ph):
                tot_p += p32
                tot_q += q32
                tot_s += s32
            if on and v < 20 and mm0 & (4 >> ph):
                emm1 |= 0x0400 >> ph   # phase loss
            if on and p32 < 0:
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

    def _accumulate(self, ms):
        r = self.regs
        mm0 = r[0x33]
        for ph in range(3):
            p = self.power_mw[ph]
            if p > 0:
                self.true_imp_mwms[ph] += p * ms
                a = self.acc_f[ph] + p * ms
                n = a // _CNT
                self.acc_f[ph] = a - n * _CNT
                r[0x81 + ph] = (r[0x81 + ph] + n) & 0xFFFF
                if mm0 & (4 >> ph):
                    r[0x80] = (r[0x80] + n) & 0xFFFF
            elif p < 0:
                self.true_exp_mwms[ph] -= p * ms
                a = self.acc_r[ph] - p * ms
                n = a // _CNT
                self.acc_r[ph] = a - n * _CNT
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
        bad_mode = spi.polarity != 1 or spi.phase != 1
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
                if bad_mode:  # sampled on the wrong clock edge: everything one bit off
                    cmd = (cmd << 1) & 0xFFFF
                self._cmd = cmd
                self._data = 0
                if cmd & 0x8000:
                    self._out = self.regs[cmd & 0x3FF]
                    if bad_mode:
                        self._out >>= 1
                into[i] = 0
            elif n == 16:
                self._data = b << 8
                into[i] = self._out >> 8 if self._cmd & 0x8000 else 0
            elif n == 24:
                d = self._data | b
                self._data = (d << 1) & 0xFFFF if bad_mode else d
                into[i] = self._out & 0xFF if self._cmd & 0x8000 else 0
            else:
                into[i] = 0

    # --- helpers for tests --------------------------------------------------------------
    def reg32(self, hi, lo):
        return (self.regs[hi] << 16) | self.regs[lo]

    def true_counts(self, ph):
        """(import, export) energy in counts, exact, as fractions -> float counts."""
        return self.true_imp_mwms[ph] / _CNT, self.true_exp_mwms[ph] / _CNT


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


def split_board_model(line_hz=50, start_hour=12, speed=1):
    volts = 230.0 if line_hz == 50 else 121.0
    m = ATM90E32Model(line_hz=line_hz, volts=volts, ugain_true=3920,
                      igain_true_1x=2 * 25498, clock="ticks", speed=speed,
                      profile=day_profile(start_hour))
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
