# machine.RTC, WDT, Timer and the IRQ switches (host only), loaded by machine.py on first use:
# set-up mode touches none of them.
import os
import time
import _espsim

def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class RTC:
    def __init__(self, id=0):
        pass

    def memory(self, data=None):
        if data is None:
            return _espsim.read_file(".rtc_memory") or b""
        if len(data) > 2048:  # the ESP32's RTC memory
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
