# CT clamps on ATM90E32 chips (CircuitSetup split-phase and 6-channel boards, generic modules).
#
# config "source":
#   {"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000", "addons": 0,
#    "channels": [{"chip": 0, "phase": "A", "role": "grid"},
#                 {"chip": 0, "phase": "C", "role": "solar", "invert": true, "multiplier": 1}]}
# - chip: index into the board profile's chips (then its addon_chips, for "addons" boards);
#   phase: "A", "B" or "C"; role: grid | solar | battery | ignored.
# - invert: the CT is clipped the wrong way round (power and energy change sign).
# - multiplier: whole number for CTs above 65 A: the chip gets igain / multiplier (its 16-bit
#   Irms register tops out at 65.535 A) and readings are multiplied back.
# - Calibration (app.sources.calibrate writes these): per channel "igain", "ioffset", "ugain",
#   "uoffset", "poffset", "qoffset"; "ct_model" per channel overrides the source's.
#   Gains not given come from the board's CT preset and chip defaults; "ugain" at the top level
#   overrides the board's voltage gain.
# Site: grid_w = sum of the grid channels (split phase: both legs), solar_w, battery_w
# (+ = discharge). Energy: the grid channels' chip counters (forward/reverse, 0.003125 Wh a
# count), netted across the legs each poll as the utility meter does, become d_import_uwh /
# d_export_uwh. The chips' energy registers are drained at least once a second (a background
# task when the sample interval is longer); counts stay in the driver until a poll succeeds,
# so a failed poll loses no energy.
import asyncio
import time
from micropython import const
import atm90e32
from app.sources.base import SourceError
from app.sources.ct_check import check_config, _is_int, _ROLES, _CAL_KEYS, _MAX_CHIPS  # noqa: F401
from app.sources.ct_board import board_chips, chip_settings, mains_v, mains_ugain  # noqa: F401

_PHASES = "ABC"
_SETTLE_MS = const(250)
_DRAIN_MS = const(1000)
_NIGHT_DRAW_W = const(100)
_ROLE_BIT = {"grid": 1, "solar": 2, "battery": 4}


class _Chan:
    __slots__ = ("chip", "ph", "role", "sign", "mult", "label", "meter")
    # declared for the static check (mypy sees no attribute set outside the class); MicroPython ignores them
    chip: int
    ph: int
    role: str
    sign: int
    mult: int
    label: str


class CTSource:
    name = "atm90e32"

    def __init__(self, cfg, board, log):
        self.cfg = cfg
        self.board = board
        self.log = log
        self.meters = {}      # chip index -> atm90e32.ATM90E32
        self.chans = []
        self._drain_task = None
        self._last_drain = 0
        self._unused = []
        self._meter_list = []
        self._freq_warned = False
        self.drain_errors = 0
        self._clip_state = {}  # chip * 3 + phase -> 1 near full scale / 2 over range, logged
        self._volt_ph = []     # (chip, phase) whose voltage is checked against the nominal
        self.mains_v = mains_v(cfg, board)
        for c in cfg.get("channels") or []:
            if c.get("role") == "ignored":
                continue
            ch = _Chan()
            ch.chip = c.get("chip", 0)
            ch.ph = _PHASES.index(c["phase"])
            ch.role = c["role"]
            ch.sign = -1 if c.get("invert") else 1
            ch.mult = c.get("multiplier", 1)
            ch.label = "chip %d %s" % (ch.chip, c["phase"])
            self.chans.append(ch)
        self.has = {r: any(ch.role == r for ch in self.chans) for r in ("grid", "solar", "battery")}

    def _make_meters(self):
        import machine
        b = self.board
        if not b or not b.get("chips"):
            raise SourceError("no ATM90E32 board profile: set device.board (circuitsetup_split, "
                              "circuitsetup_6ch or generic_atm90e32)")
        s = b.get("spi") or {}
        Pin = machine.Pin
        spi = machine.SPI(s.get("id", 2), baudrate=s.get("baudrate", 200000), polarity=1, phase=1,
                          sck=Pin(s.get("sck", 18)), mosi=Pin(s.get("mosi", 23)),
                          miso=Pin(s.get("miso", 19)))
        hz = self.cfg.get("line_hz") or (b.get("defaults") or {}).get("line_hz", 50)
        for ch in self.chans:
            if ch.chip in self.meters:
                continue
            st = chip_settings(self.cfg, b, ch.chip)
            cs = Pin(st["cs"], Pin.OUT, value=1)
            try:
                self.meters[ch.chip] = atm90e32.ATM90E32(
                    spi, cs, line_hz=hz, phases=st["phases"], pga=st["pga"], ugain=st["ugain"],
                    igain=st["igain"], uoffset=st["uoffset"], ioffset=st["ioffset"],
                    poffset=st["poffset"], qoffset=st["qoffset"],
                    on_event=self._event_hook(ch.chip), mains_v=self.mains_v)
            except ValueError as e:
                raise SourceError("chip %d settings: %s" % (ch.chip, e))
        for c in self.chans:
            c.meter = self.meters[c.chip]
        self._meter_list = list(self.meters.items())
        self._volt_ph = [(c.chip, c.ph) for c in self.chans]
        grid = [(c.chip, c.ph) for c in self.chans if c.role == "grid"]
        self._unused = [(m, ph) for i, m in self.meters.items() for ph in range(3)
                        if (i, ph) not in grid]

    def _event_hook(self, chip):
        log = self.log
        return lambda msg: log.warn("chip %d: %s" % (chip, msg))

    async def start(self):
        if not self.meters:
            self._make_meters()
        for i, m in self.meters.items():
            try:
                m.begin()
            except atm90e32.ATM90E32Error as e:
                raise SourceError("chip %d (CS %s): %s" % (i, getattr(m.cs, "id", "?"), e))
        await asyncio.sleep_ms(_SETTLE_MS)  # readings settle ~200 ms after set-up
        self._last_drain = time.ticks_ms()
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain_loop())
        self.log.info("CT meter: %d chip(s), %s" % (len(self.meters), ", ".join(
            "%s=%s" % (ch.label, ch.role) for ch in self.chans)))
        self.log.info("CT meter: mains %d V; full scale %s" % (self.mains_v, ", ".join(
            "%s %d A" % (ch.label, ch.meter.fs_ma[ch.ph] * ch.mult // 1000) for ch in self.chans)))

    def close(self):
        if self._drain_task is not None:
            self._drain_task.cancel()
            self._drain_task = None

    async def _drain_loop(self):
        # The 16-bit energy registers must be read at least once a second: when the app samples
        # less often, this keeps them drained (the counts wait in the driver for the next poll).
        while True:
            await asyncio.sleep_ms(_DRAIN_MS // 4)
            if time.ticks_diff(time.ticks_ms(), self._last_drain) < _DRAIN_MS:
                continue
            try:
                for m in self.meters.values():
                    if m.started:
                        m.read_energy()
            except Exception:
                self.drain_errors += 1  # the next poll reports the fault
            self._last_drain = time.ticks_ms()

    async def _recover(self, i, m):
        # the rare path: a failed set-up to retry, or a chip that was just set up again
        try:
            if not m.started:
                m.begin()
            await asyncio.sleep_ms(_SETTLE_MS)
            if m.poll() == atm90e32.REINIT:
                raise SourceError("chip %d keeps resetting (power supply?)" % i)
        except atm90e32.ATM90E32Error as e:
            raise SourceError("chip %d: %s" % (i, e))

    async def poll(self, site):
        # The work is in plain methods: a coroutine's frame is a heap object, and a small one
        # here keeps the poll's allocation to that frame (the driver allocates nothing).
        while True:
            i = self._poll_chips()
            if i < 0:
                break
            await self._recover(i, self.meters[i])
        self._fill(site)

    def _poll_chips(self):
        """Poll every chip -> -1, or the index of a chip to set up again or let settle."""
        for i, m in self._meter_list:
            if not m.started:
                return i
            try:
                if m.poll() == atm90e32.REINIT:
                    return i
                if (m.freq_high() or m.freq_low()) and not self._freq_warned:
                    self._freq_warned = True  # once: a wrong setting stays wrong
                    self.log.warn("chip %d: line frequency %d.%02d Hz is outside the %d Hz band: "
                                  "check source.line_hz" % (i, m.freq_chz // 100, m.freq_chz % 100,
                                                            m.line_hz))
            except atm90e32.ATM90E32Error as e:
                # no new set-up here: a soft reset would clear the energy the chip still
                # holds; a chip that really lost its set-up shows MeterEn 0 next poll
                raise SourceError("chip %d: %s" % (i, e))
        return -1

    def _fill(self, site):
        self._last_drain = time.ticks_ms()
        grid = solar = batt = 0
        net = 0  # grid energy counts this poll, import positive
        clipped = 0  # roles with a channel over range: bit 1 grid, 2 solar, 4 battery
        for ch in self.chans:
            m = ch.meter
            if m.over_range(ch.ph):
                clipped |= _ROLE_BIT[ch.role]
                self._clip_note(ch, True)
            elif m.near_full_scale(ch.ph):
                self._clip_note(ch, False)
            p = m.p_mw[ch.ph] * ch.sign * ch.mult
            if ch.role == "grid":
                grid += p
                imp = m.take_import(ch.ph)
                exp = m.take_export(ch.ph)
                net += (imp - exp) * ch.sign * ch.mult
            elif ch.role == "solar":
                solar += p
            else:
                batt += p
        for m, ph in self._unused:  # energy of non-grid channels is not counted
            m.imp_counts[ph] = 0
            m.exp_counts[ph] = 0
        # a clipped channel reads low: its role's power is left out (the others go on); the
        # chip's energy counts are kept (nothing better exists) and the note says so
        site.grid_w = _w(grid) if self.has["grid"] and not clipped & 1 else None
        if self.has["solar"] and not clipped & 2:
            solar = _w(solar)
            # an inverter's night draw is consumption; more negative than that is a CT the
            # wrong way round: passed on, so the check before each push names it
            site.solar_w = 0 if -_NIGHT_DRAW_W < solar < 0 else solar
        if self.has["battery"] and not clipped & 4:
            site.battery_w = _w(batt)
        if net > 0:
            site.d_import_uwh = net * atm90e32.UWH_PER_COUNT
        elif net < 0:
            site.d_export_uwh = -net * atm90e32.UWH_PER_COUNT
        site.notes = self._notes(clipped)
        site.t_ms = time.ticks_ms()
        site.t_s = time.time()

    def _clip_note(self, ch, over):
        # logged once per episode and channel (a new episode after a clean poll)
        key = ch.chip * 3 + ch.ph
        state = 2 if over else 1
        if self._clip_state.get(key, 0) >= state:
            return
        self._clip_state[key] = state
        fs = ch.meter.fs_ma[ch.ph] * ch.mult
        if over:
            self.log.warn("%s (%s CT): current at the ADC's full scale (%d.%d A): the reading is "
                          "clipped and left out (lower the PGA or use a CT with more turns: "
                          "docs/ct-clamps.md)" % (ch.label, ch.role, fs // 1000, fs % 1000 // 100))
        else:
            self.log.warn("%s (%s CT): current above 90 %% of the ADC's full scale (%d.%d A)" % (
                ch.label, ch.role, fs // 1000, fs % 1000 // 100))

    def _notes(self, clipped):
        """-> None, or text for the check before each push (allocates only when something is
        wrong): a clipped channel, a voltage far from the nominal (not calibrated for it)."""
        out = None
        for ch in self.chans:
            m = ch.meter
            if not m.over_range(ch.ph) and not m.near_full_scale(ch.ph):
                self._clip_state.pop(ch.chip * 3 + ch.ph, None)
            if clipped and m.over_range(ch.ph):
                out = (out + "; " if out else "") + "%s (%s CT) over range: left out" % (
                    ch.label, ch.role)
        lo = self.mains_v * 80  # 0.01 V: 80 % .. 120 % of nominal
        hi = self.mains_v * 120
        for i, ph in self._volt_ph:
            u = self.meters[i].urms_cv[ph]
            if u and not lo <= u <= hi:
                out = (out + "; " if out else "") + (
                    "voltage not calibrated: chip %d %s reads %d V, mains %d V (source.mains_v, "
                    "calibrate voltage)" % (i, _PHASES[ph], u // 100, self.mains_v))
                break
        return out

    def detail(self):
        """Per channel, for the console and the status page (allocates: not for the poll):
        [{"channel": "chip 0 A", "role": "grid", "v": 230.12, "a": 10.5, "w": 2415, "pf": 0.97,
          "status": "ok"}, ...] from the latest poll (the chip's values, before invert/multiplier
        for v/a/pf; w as reported to the site)."""
        out = []
        for ch in self.chans:
            m = self.meters.get(ch.chip)
            if m is None:
                continue
            out.append({"channel": ch.label, "role": ch.role, "v": m.urms_cv[ch.ph] / 100,
                        "a": m.irms_ma[ch.ph] * ch.mult / 1000,
                        "w": _w(m.p_mw[ch.ph] * ch.sign * ch.mult), "pf": m.pf_pm[ch.ph] / 1000,
                        "status": m.status_text(ch.ph),
                        "full_scale_a": m.fs_ma[ch.ph] * ch.mult / 1000})
        return out


def _w(mw):
    return (mw + 500) // 1000 if mw >= 0 else -((-mw + 500) // 1000)
