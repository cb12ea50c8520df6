# The device's log line for a push shows the kWh the body carried (with a store: the totals on
# flash), not the live ones, and says so when the live totals are ahead. Driven through push_loop
# with the request replaced, so the line checked is the one the device writes.
import asyncio
import json
from app.core import clock
from app.core import config
from app.core.persist import Store
from app.outputs.chargehq import ChargeHQApp as App
from app.core.site import Site
from mptest import ListLog, MemRTC, check, eq, done

now = [1000]
clock.uptime_ms = lambda: now[0]
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "logline-key-0123456789"},
                       "source": {"type": "simulated", "battery": False},
                       "device": {"watchdog_s": 0}})
log = ListLog()
app = App(cfg, log)
store = Store(log, rtc=MemRTC())
app.store = store
store.restore(app)
sent = []


async def send(body):
    sent.append(json.loads(body))
    app.pusher.last_result = "HTTP 200"
    return True


app.pusher.send = send


def push_once():
    """Run push_loop until it has pushed once and logged it -> (body, log line)."""
    n = len(sent)
    app.pusher.due_in_ms = lambda: 0 if len(sent) == n else 60000

    async def run():
        t = asyncio.create_task(app.push_loop())
        while len(sent) == n:
            await asyncio.sleep_ms(1)
        await asyncio.sleep_ms(10)  # the line is logged once send() has returned
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    eq(len(sent), n + 1, "one push")
    lines = [l for l in log.lines if "pushed (" in l]
    check(lines, "a push line was logged")
    return sent[-1], lines[-1]


def poll(uwh):
    s = Site()
    s.grid_w, s.solar_w, s.load_w, s.d_import_uwh, s.d_export_uwh = 1500, 0, 1500, uwh, 0
    s.t_s = 5
    app._accept(s)  # counts the energy and calls store.on_poll like the sample loop


poll(12345 * 1000000)  # 12.345 kWh in
store.checkpoint(app, "test")  # on flash: what the next push carries
poll(56 * 1000000)  # 56 Wh more, not on flash yet
eq(app.energy.wh, [12401, 0], "live totals")
body, line = push_once()
eq(body["siteMeters"]["imported_kwh"], 12.345, "the body carries the totals on flash")
check("pushed (HTTP 200)" in line, line)
check("import 12.345 export 0.000 kWh" in line, "the line shows what was sent: " + line)
check("live 12.401/0.000" in line, "and mentions the live totals ahead of it: " + line)
check("\n" not in line and len(line) < 200, "one short line: %d chars" % len(line))

# after a checkpoint the sent totals are the live ones: no mention of live
now[0] += 31000
store.checkpoint(app, "test")
poll(0)
body, line = push_once()
eq(body["siteMeters"]["imported_kwh"], 12.401, "the body carries the checkpointed totals")
check("import 12.401 export 0.000 kWh" in line, line)
check("live" not in line, "live equal to sent: not mentioned: " + line)

# no grid reading: the body carries no kWh, and the line does not claim any
now[0] += 31000
s = Site()
s.solar_w, s.t_s = 800, 5
app._accept(s)
body, line = push_once()
check("imported_kwh" not in body["siteMeters"], "no kWh without a grid reading")
check("kWh" not in line.replace("no kWh", ""), "the line shows no totals: " + line)
done()
