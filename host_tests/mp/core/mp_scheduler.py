# What the app pushes in each situation: fresh data, a failed meter, a stale reading, a delayed
# reading with a synced clock (tsms), non-numeric data. Clock and source are driven directly.
import asyncio
import json
import ntptime
from app.core import clock
from app.core import config
from app.outputs.chargehq import ChargeHQApp as App
from app.core.site import Site
from mptest import ListLog, check, eq, done


now = [1000]
clock.uptime_ms = lambda: now[0]
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "KEY-123456789"},
                       "source": {"type": "simulated", "battery": False}})
log = ListLog()
app = App(cfg, log)
check("KEY-123456789" in log.secrets, "API key registered as a secret")

# no reading yet: an error body
body, summary = app.build_body()
eq(json.loads(body), {"apiKey": "KEY-123456789", "error": "not read yet"}, "nothing read")

# a good reading
s = Site()
s.grid_w, s.solar_w, s.load_w, s.d_import_uwh = 1200, 800, 2000, 3600000
s.t_s = 5
app._accept(s)
eq(app.energy.wh[0], 3, "3.6 Wh counted as 3 Wh + remainder")
body, summary = app.build_body()
d = json.loads(body)
eq(d["siteMeters"]["net_import_kw"], 1.2, "grid")
eq(d["siteMeters"]["consumption_kw"], 2.0, "measured consumption kept")
eq(d["siteMeters"]["imported_kwh"], 0.003, "lifetime import")
check("tsms" not in d, "fresh reading: no tsms")
check(app.validation.ok, "balanced")
check("solar 0.800" in summary, summary)

# the meter fails: error, not zeros
app._source_failed("modbus: no reply from slave 1")
body, _ = app.build_body()
eq(json.loads(body).get("error"), "modbus: no reply from slave 1", "meter error pushed")
check("siteMeters" not in body, "no siteMeters with error")
app._accept(s)
check(any("meter read again" in l for l in log.lines), "recovery logged")

# stale reading (no poll for 25 s): error
now[0] += 25000
body, _ = app.build_body()
check("no meter reading for 25 s" in body, body)

# delayed but usable reading (older than 5 s): tsms only once the clock is synced
now[0] = 100000
s.t_s = 848847552
app._accept(s)
now[0] += 4900
check("tsms" not in app.build_body()[0], "4.9 s old: not delayed")
now[0] += 1100
clock.ntp_synced = False
check(not clock.is_synced(), "clock starts unset")
check("tsms" not in app.build_body()[0], "delayed, clock not synced: no tsms")
ntptime.settime()
clock.ntp_synced = True
d = json.loads(app.build_body()[0])
eq(d.get("tsms"), (848847552 + 946684800) * 1000, "delayed + synced: tsms in ms since 1970")
check("siteMeters" in d, "delayed data still pushed")

# imbalance: logged, still pushed
s.load_w = 9000
app._accept(s)
body, summary = app.build_body()
check("siteMeters" in body and "[check failed]" in summary, summary)
check(any(l.startswith("check: balance off") for l in log.lines), "check logged")

# non-numeric: an error instead of garbage
s.load_w = None
s.grid_w = 1.5
app._accept(s)
body, _ = app.build_body()
eq(json.loads(body).get("error"), "meter gave non-numeric data", "non-numeric")

# status snapshot for console and status page
st = app.status()
for k in ("production_kw", "imported_kwh", "today_imported_kwh", "last_push", "next_push_s",
          "free_heap", "uptime_s", "validation", "meter_ok"):
    check(k in st, "status has " + k)
check("KEY-123456789" not in json.dumps(st), "no key in status")

# a push that carried `error` is an error report, not an ok push (the pages said "ok, HTTP 200")
sent = []
due = [0]


async def send(body):
    sent.append(body)
    app.pusher.last_status, app.pusher.last_result = 200, "HTTP 200"
    app.pusher.ok_count += 1
    due[0] = 60000  # the next one only when the test says
    return True

app.pusher.send = send
app.pusher.due_in_ms = lambda: due[0]
app.pusher.floor_in_ms = lambda: 0
app.wifi = None
app._source_failed("modbus: no reply from slave 1")


async def two_pushes():
    t = asyncio.create_task(app.push_loop())
    while len(sent) < 1:
        await asyncio.sleep_ms(1)
    await asyncio.sleep_ms(20)
    st1 = app.status()
    s.grid_w = 1500  # the meter is back
    app._accept(s)
    due[0] = 0
    app.push_now.set()
    while len(sent) < 2:
        await asyncio.sleep_ms(1)
    await asyncio.sleep_ms(20)
    t.cancel()
    return st1, app.status()

st1, st2 = asyncio.run(two_pushes())
check('"error"' in sent[0], sent[0])
eq((st1["pushes_ok"], st1["pushes_error"]), (0, 1), "an error push counted as an error report")
check("sent as an error report (modbus: no reply from slave 1): no data" in st1["last_push_result"],
      st1["last_push_result"])
check("siteMeters" in sent[1], sent[1])
eq((st2["pushes_ok"], st2["pushes_error"]), (1, 1), "then a push with data")
eq(st2["last_push_result"], "HTTP 200", "and the result is plain again")
eq(st2["warnings"], [], "config errors and warnings listed (none here)")
done()
