# Driver for the random power-cut test (host_tests/core/test_persist.py kills it with SIGKILL at
# random moments, or it resets itself): the energy store as the firmware uses it, with a real
# clock, real RTC memory and flash files, polls every few ms and a push whenever the 30 s floor
# allows. Prints what the harness checks:
#   BOOT <cause> <restored uWh> <source>
#   P <total uWh> <uptime before> <uptime after> <flash writes>
#                              after each poll (RTC record written, flash checked in between)
#   PUSH <uptime ms>                          a push starts
# usage: fx_persist_power.py EVERY_MS RESET_AFTER_POLLS(-1: never) RESET_KIND(soft|wdt)
import sys
import time
import _espsim
import machine
from app.core import clock
from app.core import config
from app.core.energy import Energy
from app.outputs.pusher import Pusher
from app.core.persist import Store

STEP_UWH = 1000003  # a bit over 1 Wh per poll, so the remainders matter too
every_ms, reset_after, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class Log:
    secrets = []

    def info(self, msg):
        print("LOG", msg)

    warn = error = info


cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k", "push_interval_s": 30},
                       "source": {"type": "simulated"}})


class App:
    pass


app = App()
app.cfg = cfg
app.energy = Energy()
app.pusher = Pusher(cfg, Log())
st = Store(Log())
st.restore(app)
st.every_ms = every_ms   # the test compresses time: checkpoints every few polls
e = app.energy


def total():
    return e.wh[0] * 1000000 + e.uwh[0]


print("BOOT", _espsim.RESET_CAUSE, total(), st.source)
n = 0
while True:
    e.add(STEP_UWH, 0)
    before = clock.uptime_ms()
    st.on_poll(app)
    print("P", total(), before, clock.uptime_ms(), st.flash_writes)
    p = app.pusher
    if p.due_in_ms() <= 0 and p.floor_in_ms() <= 0:
        p.last_attempt_up = clock.uptime_ms()   # what Pusher.send does as a request starts
        p.last_attempt_s = time.time()
        p.on_attempt()
        print("PUSH", clock.uptime_ms())
        p._done_ok(200)
        st.on_push(app)
    n += 1
    if n == reset_after:
        _espsim.die(kind)   # machine.reset() / watchdog: RTC memory kept
    time.sleep_ms(4)
