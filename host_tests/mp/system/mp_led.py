# The status LED (app.led) under MicroPython: which state a running app shows, the pin following
# each pattern, the pin from the board file or device.led_pin, and the log line per change.
import asyncio
import time
from machine import Pin
from app.core import config
from app.system import led
from mptest import ListLog, check, eq, done

cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k"}, "source": {"type": "simulated"}})
log = ListLog()
eq(led.make(None, cfg, log), None, "no board, no pin: no LED")
eq(led.make({"status_led": None}, cfg, log), None, "a board without one")
lamp = led.make({"status_led": {"pin": 2, "active_low": True}}, cfg, log)
check(lamp is not None and lamp.pin.id == 2 and lamp.low, "the board's pin, active low")
off = config.validate({"device": {"status_led": False}, "source": {"type": "simulated"}})
eq(led.make({"status_led": {"pin": 2}}, off, log), None, "switched off")
own = config.validate({"device": {"led_pin": 13}, "source": {"type": "simulated"}})
eq(led.make(None, own, log).pin.id, 13, "device.led_pin: an LED wired by the owner")


class Wifi:
    up = True

    def isconnected(self):
        return Wifi.up


class Pusher:
    last_status = None
    fail_count = 0


class Sup:
    class setup:
        active = False


class App:
    wifi = Wifi()
    wifi_sup = Sup()
    source_error = "not read yet"
    pusher = Pusher()


app = App()
eq(led.app_state(app), "starting", "booting")
app.source_error = None
eq(led.app_state(app), "ok", "reading, no push yet")
app.pusher.fail_count, app.pusher.last_status = 1, None
eq(led.app_state(app), "push_error", "a push failed (no answer)")
app.pusher.last_status = 429
eq(led.app_state(app), "push_error", "refused")
app.pusher.last_status = 200
eq(led.app_state(app), "ok", "pushed")
app.source_error = "no reply"
eq(led.app_state(app), "meter_error", "meter fault")
Wifi.up = False
eq(led.app_state(app), "no_wifi", "Wi-Fi down wins over the meter")
Sup.setup.active = True
eq(led.app_state(app), "setup", "set-up network open wins")
check(len(set(led.PATTERNS[k] for k in ("setup", "no_wifi", "meter_error", "push_error", "starting", "ok"))) == 6,
      "six distinct patterns")


class RecPin:
    def __init__(self):
        self.writes = []

    def value(self, v):
        self.writes.append((time.ticks_ms(), v))


async def play(state, ms):
    pin = RecPin()
    lamp = led.Led(pin, False, log)
    t = asyncio.create_task(lamp.run(lambda: state))
    await asyncio.sleep_ms(ms)
    t.cancel()
    return pin.writes


async def main():
    w = await play("meter_error", 1000)
    eq([v for _, v in w[:4]], [1, 0, 1, 0], "fast blink alternates")
    check(8 <= len(w) <= 12, "about 5 blinks a second: %d writes" % len(w))
    w = await play("ok", 1500)
    check(all(v == 1 for _, v in w), "steady on")
    w = await play("setup", 2100)
    eq([v for _, v in w][:3], [1, 0, 1], "slow blink")
    check(3 <= len(w) <= 4, "1 s on, 1 s off: %d writes" % len(w))
    lows = await play("no_wifi", 2050)
    eq([v for _, v in lows][:4], [1, 0, 1, 0], "double flash")


asyncio.run(main())
check("led: meter error (fast blink)" in log.lines and "led: set-up mode (slow blink)" in log.lines,
      "each state change logged: %r" % log.lines)
done()
