# Modbus RTU source: one RS485 bus, one or more devices (an inverter and a grid meter, say),
# each described by a profile file profiles/<name>.json, combined into one site reading.
#
# config "source": {"type": "modbus", "uart": 1, "tx": 17, "rx": 16, "de_pin": 4,
#   "baud": 9600, "parity": "N", "stop": 1,
#   "devices": [{"profile": "sungrow_sh", "slave": 1},
#               {"profile": "sdm630", "slave": 2, "role": "grid"}]}
# Bus settings default to the board file's "rs485" section (boards/esp32_rs485.json), then the
# first device's profile. "port" (unix port only) names a serial device such as /dev/ttyUSB0.
# Per device: "role" grid | site | solar (default: grid for meters, site for inverters),
# "timeout_ms", "battery_wh" (capacity when the device has no register for it), "options"
# (profile options, e.g. {"hv": true}), "optional": true for a device that may stop answering
# (an inverter that switches RS485 off at night): its fields are then left out, not an error.
import time
from micropython import const
from ticks import ticks_add as _ticks_add, ticks_diff, ticks_ms  # with CPython fallbacks (lib/ticks.py)
from app.sources.base import SourceError
from app.sources.modbus_device import Device
from app.sources import modbus_profile as mp
from app.sources.modbus_check import check_config, _opts, PROFILE_DIR, PARITY as _PARITY  # noqa: F401

FIELDS = mp.FIELDS
_GRID_FIELDS = (mp.GRID, mp.HW_IMP, mp.HW_EXP)
class ModbusSource:
    name = "modbus"
    retry_ms = 60000  # an optional device that stopped answering is tried again after this

    def __init__(self, cfg, board, log, bus=None, folder=PROFILE_DIR):
        self.cfg = cfg
        self.log = log
        self.board = (board or {}).get("rs485") or {}
        devs = [Device(d, folder) for d in cfg.get("devices") or ()]
        if not devs:
            raise SourceError("modbus: no devices configured")
        # grid meters first: they own net import and the lifetime counters
        self.devices = [d for d in devs if d.role == "grid"] + [d for d in devs if d.role != "grid"]
        self.bus = bus  # injected by tests; else made in start()
        self.uart = None
        self.last_ms = None
        self.rem = [0, 0]
        self.lone_noted = False

    def _setting(self, key, default=None):
        # present in the config (even null: "de_pin": null = auto-direction module) wins
        if key in self.cfg:
            return self.cfg[key]
        if key in self.board:
            return self.board[key]
        return self.devices[0].prof.serial.get(key, default)

    def _open(self):
        import machine
        from modbus_rtu import ModbusRTU
        baud = self._setting("baud", 9600)
        kw = {"baudrate": baud, "bits": 8, "parity": _PARITY.get(self._setting("parity", "N")),
              "stop": self._setting("stop", 1), "timeout": 0, "rxbuf": 512}
        for k in ("tx", "rx"):
            pin = self._setting(k)
            if pin is not None:
                kw[k] = pin
        if self.cfg.get("port"):
            kw["port"] = self.cfg["port"]  # unix port only: a USB-RS485 adapter or a pty
        uart_id = self._setting("uart", 1)
        try:
            self.uart = machine.UART(uart_id, **kw)
        except Exception as e:
            raise SourceError("modbus: cannot open UART %s: %s" % (uart_id, e))
        self.bus = ModbusRTU(self.uart, baudrate=baud, de_pin=self._setting("de_pin"),
                             timeout_ms=self._setting("timeout_ms", 1000))

    async def start(self):
        if self.bus is None:
            self._open()
        try:
            for d in self.devices:
                try:
                    await d.start(self.bus, self.log)
                    d.up = True
                except SourceError as e:
                    if not d.optional:
                        raise
                    self._down(d, str(e))
            if not any(d.up for d in self.devices):
                raise SourceError("modbus: no device answered")
        except Exception:
            self.close()  # the app makes a new source to retry: free the port
            raise
        self.last_ms = ticks_ms()

    def _down(self, d, why):
        # an optional device that does not answer: its fields are left out until it does
        if d.up or d.retry_at == 0:
            self.log.warn("%s (optional): %s; left out, retrying every %d s" % (
                d.label, why, self.retry_ms // 1000))
        d.up = False
        d.retry_at = _ticks_add(ticks_ms(), self.retry_ms)

    async def _restart(self, d):
        try:
            d.reset()
            await d.start(self.bus, self.log)
        except SourceError:
            d.retry_at = _ticks_add(ticks_ms(), self.retry_ms)
            return False
        d.up = True
        self.log.info("%s answers again" % d.label)
        return True

    def close(self):
        if self.uart is not None:
            try:
                self.uart.deinit()
            except Exception:
                pass
            self.uart = None

    async def poll(self, site):
        # reads inline (no helper coroutines: each new coroutine allocates its frame); the rest
        # in plain methods, which keeps this coroutine's frame small
        for d in self.devices:
            if not d.up:
                if ticks_diff(ticks_ms(), d.retry_at) < 0 or not await self._restart(d):
                    continue
            for b in d.prof.blocks:
                try:
                    mv = await self.bus.read(d.slave, b.fc, b.start, b.count, d.timeout_ms)
                except Exception as e:  # the master's ModbusError family, OSError from the port
                    why = "%s: read FC%02d %d+%d failed: %s" % (d.label, b.fc, b.start, b.count, e)
                    if d.optional and getattr(e, "code", None) is None:  # silent: asleep
                        self._down(d, why)
                        break
                    raise SourceError(why)
                d.decode(b, mv)
        self._combine(site)

    def _combine(self, site):
        up = 0
        for d in self.devices:  # grid meters come first: they own the grid fields
            if not d.up:
                continue
            up += 1
            out = d.combine()
            for i in range(len(FIELDS)):
                v = out[i]
                if v is not None and getattr(site, FIELDS[i]) is None:
                    setattr(site, FIELDS[i], v)
        if not up:
            raise SourceError("modbus: no device answers (%s)" % ", ".join(
                d.label for d in self.devices))
        if (site.hw_import_wh is None) != (site.hw_export_wh is None):
            # one lifetime counter alone: count both from power, so the pair stays consistent
            if not self.lone_noted:
                self.lone_noted = True
                self.log.info("modbus: only one lifetime counter: counting import/export from power")
            site.hw_import_wh = site.hw_export_wh = None
        now = ticks_ms()
        dt = ticks_diff(now, self.last_ms)
        self.last_ms = now
        g = site.grid_w
        if site.hw_import_wh is None and g is not None:
            site.d_import_uwh = self._uwh(0, g * dt if g > 0 else 0)
            site.d_export_uwh = self._uwh(1, -g * dt if g < 0 else 0)
        site.t_ms = now
        site.t_s = int(time.time())

    def _uwh(self, i, w_ms):
        # uWh = W * ms / 3.6; the remainder is carried so nothing is lost over a run
        n = w_ms * 10 + self.rem[i]
        self.rem[i] = n % 36
        return n // 36
