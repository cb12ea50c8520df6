# For screenshots and the browser test (fx_portal.py's "day" argument): a running meter that has
# been up a day, its clock set, its 24 h history filled from the simulated site's model (one
# reading per 5 minutes, through App.history.add as the sampling loop does).
import time
import ntptime
from app.core import clock
from app.core import localtime
from app.core.site import Site
from app.sources.simulated import SimulatedSource


def fill(app, log):
    ntptime.settime()  # the stand-in's SNTP: the host's clock
    clock.ntp_synced = True
    clock._up_ms += 86400000  # up for a day
    now_s = time.time()
    up = clock.uptime_ms()
    src = SimulatedSource({"peak_solar_w": 6500, "base_load_w": 400}, None, log)
    src.sim_s = (now_s + localtime.offset(now_s)) % 86400  # local time of day, a day ago
    src.speed = 60
    site = Site()
    for k in range(288):
        src.last_ms = time.ticks_add(time.ticks_ms(), -5000)  # 5 s x speed 60: 5 minutes
        site.clear()
        _run(src.poll(site))
        app.history.add(site, up - (287 - k) * 300000)


def _run(coro):
    try:
        coro.send(None)
    except StopIteration:
        pass
