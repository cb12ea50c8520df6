# ESP32-like `machine` for the unix port (host only). Overrides the unix port's own module.
# SPI and UART live in _espsim_bus.py and load on first use (see __getattr__ below): SPI forwards
# each chip-select cycle to a device model attached by the test or simulator; UART opens a serial
# device or pseudo-terminal given as the `port` argument (or ESPSIM_UART<n>).
import os
import time
import _espsim

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_CAUSES = {"power": PWRON_RESET, "hard": HARD_RESET, "wdt": WDT_RESET,
           "deepsleep": DEEPSLEEP_RESET, "soft": SOFT_RESET}


def reset_cause():
    return _CAUSES.get(_espsim.RESET_CAUSE, PWRON_RESET)


def reset():
    _espsim.die("soft")


def soft_reset():
    _espsim.die("soft")


def unique_id():
    return b"\x24\x0a\xc4\x12\x34\x56"


def freq(hz=None):
    return 240000000


def idle():
    time.sleep_ms(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


_RTC_MEM_MAX = 2048


class RTC:
    def __init__(self, id=0):
        pass

    def memory(self, data=None):
        if data is None:
            return _espsim.read_file(".rtc_memory") or b""
        if len(data) > _RTC_MEM_MAX:
            raise ValueError("buffer too long")
        _espsim.write_file(".rtc_memory", bytes(data))

    def datetime(self, dt=None):
        if dt is None:
            tm = time.gmtime()
            # (year, month, day, weekday, hours, minutes, seconds, subseconds)
            return (tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0)
        secs = time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        time._set_wall(secs)

    def init(self, dt):
        self.datetime(dt)


class WDT:
    # The ESP32 task watchdog resets the chip when not fed in time. A thread checks the
    # deadline and kills the interpreter like the hardware would.
    _instance = None

    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("timeout")
        self.timeout = timeout
        self._last = time.ticks_ms()
        if WDT._instance is None:
            WDT._instance = self
            if (os.getenv("ESPSIM_WDT") or "1") != "0":
                import _thread
                _thread.start_new_thread(self._watch, ())
        else:  # the ESP32 has one watchdog: a second WDT() re-arms it
            WDT._instance.timeout = timeout
            WDT._instance.feed()

    def feed(self):
        self._last = time.ticks_ms()

    def _watch(self):
        while True:
            time.sleep_ms(100)
            if time.ticks_diff(time.ticks_ms(), self._last) > self.timeout:
                print("\n[espsim] watchdog timeout: resetting")
                _espsim.die("wdt")


class Timer:
    # ESP32 hardware timer: the callback runs every `period` ms (PERIODIC) or once (ONE_SHOT),
    # also while the REPL waits for input. Here a thread calls it.
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=0, **kw):
        self.id = id
        self._gen = 0
        if kw:
            self.init(**kw)

    def init(self, mode=PERIODIC, period=-1, callback=None, freq=None):
        if freq:
            period = 1000 // freq
        if period < 1:
            raise ValueError("period")
        self._gen += 1
        import _thread
        _thread.start_new_thread(self._run, (self._gen, mode, period, callback))

    def _run(self, gen, mode, period, callback):
        while True:
            time.sleep_ms(period)
            if gen != self._gen:
                return
            if callback:
                callback(self)
            if mode == Timer.ONE_SHOT:
                return

    def deinit(self):
        self._gen += 1


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self._v = 0 if value is None else value
        self.history = []  # (ticks_us, value) of writes, for bus-timing tests

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        if len(self.history) < 64:
            self.history.append((time.ticks_us(), self._v))
        dev = _cs_models.get(self.id)
        if dev is not None:
            if not self._v:
                _sel[0] = dev
            dev.cs(self._v)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=0):
        return None


# Device models attached to the simulated buses: ("cs", pin) -> model with cs(level) and
# xfer(out_bytes) -> in_bytes. Attach with machine.attach_spi_device(cs_pin, model).
_devices = {}
_cs_models = {}  # the same models by pin number, and the last one selected: a frame then
_sel = [None]    # allocates nothing here (drivers measure their allocation per poll through it)


def attach_spi_device(cs_pin, model):
    _devices[("cs", cs_pin)] = model
    _cs_models[cs_pin] = model


def detach_all():
    _devices.clear()
    _cs_models.clear()
    _sel[0] = None


def __getattr__(name):
    # SPI and UART load on first use (module __getattr__): on the chip they are built into the
    # firmware and cost no heap, so set-up mode, which never touches a bus, should not pay for
    # their code on the host either.
    if name in ("SPI", "UART"):
        import _espsim_bus
        return getattr(_espsim_bus, name)
    raise AttributeError(name)


# The simulator's CT board: ESPSIM_ATM90E32=day attaches a CircuitSetup split-phase board model
# (grid CT on phase A, solar CT on phase C, a day profile) to the board profile's CS pin.
if os.getenv("ESPSIM_ATM90E32") == "day":
    import atm90e32_model
    atm90e32_model.attach_from_env(attach_spi_device)
