# The status LED: one pin from the board file ("status_led": {"pin": 2, "active_low": false}) or
# device.led_pin (an LED you wired yourself); none when neither names one or device.status_led
# is false. Each state has its own rhythm,
# told apart at a glance from across a garage:
#   setup        slow blink, 1 s on / 1 s off        (set-up network open: join it with a phone)
#   no_wifi      two short flashes every 2 s          (home network gone)
#   meter_error  fast blink, 5 per second             (the meter cannot be read)
#   push_error   three short flashes every 2 s        (Charge HQ / the network refuses the pushes)
#   starting     on, with a short gap every second    (booting, waiting for the first reading)
#   ok           steady on                            (readings and pushes fine)
# A change of state is logged ("led: ..."), so the simulator's output shows it too.
import asyncio
from micropython import const

_STEP_MS = const(50)
PATTERNS = {  # ms on, off, on, off ... (one cycle)
    "setup": (1000, 1000),
    "no_wifi": (150, 200, 150, 1500),
    "meter_error": (100, 100),
    "push_error": (150, 200, 150, 200, 150, 1150),
    "starting": (900, 100),
    "ok": (1000, 0),
}
WORDS = {"setup": "set-up mode (slow blink)", "no_wifi": "no Wi-Fi (double flash)",
         "meter_error": "meter error (fast blink)", "push_error": "pushes failing (triple flash)",
         "starting": "starting (on, short gaps)", "ok": "all fine (steady on)"}


def app_state(app):
    """The LED state of a running app (app.core.scheduler.App)."""
    sup = getattr(app, "wifi_sup", None)
    ap = getattr(sup, "setup", None)
    if ap is not None and ap.active:
        return "setup"
    if app.wifi is not None and not app.wifi.isconnected():
        return "no_wifi"
    if app.source_error == "not read yet":
        return "starting"
    if app.source_error is not None:
        return "meter_error"
    p = app.pusher
    if p.last_status is None:
        return "push_error" if p.fail_count else "ok"  # (none yet: the reading is fine)
    return "ok" if 200 <= p.last_status < 300 else "push_error"


def make(board, cfg, log):
    """-> a Led for the board's pin, or None (no LED on this board, or switched off)."""
    spec = board.get("status_led") if isinstance(board, dict) else None
    if cfg.get("device", "led_pin") >= 0:
        spec = {"pin": cfg.get("device", "led_pin"), "active_low": cfg.get("device", "led_active_low")}
    if not isinstance(spec, dict) or spec.get("pin") is None or not cfg.get("device", "status_led"):
        return None
    try:
        from machine import Pin
        return Led(Pin(spec["pin"], Pin.OUT), bool(spec.get("active_low")), log)
    except Exception as e:  # a bad pin number: the meter runs on without its LED
        log.warn("status LED on pin %s: %s" % (spec.get("pin"), e))
        return None


class Led:
    def __init__(self, pin, active_low, log):
        self.pin = pin
        self.low = active_low
        self.log = log
        self.state = None

    def _set(self, on):
        self.pin.value(0 if on == self.low else 1)

    async def run(self, state_fn):
        """Play the pattern of state_fn() for ever (asked again at the end of each cycle)."""
        while True:
            st = state_fn()
            if st != self.state:
                self.state = st
                self.log.info("led: " + WORDS.get(st, st))
            on = True
            for ms in PATTERNS.get(st, (100, 100)):
                if ms:
                    self._set(on)
                    await asyncio.sleep_ms(ms)
                on = not on
