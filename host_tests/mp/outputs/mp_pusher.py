# Push timing: interval, backoff (to the period for network/5xx, to 300 s for 4xx) reset by success, the 30 s floor, the floor after a
# reset. The clock and the network are replaced by fakes so the test runs in no time.
import asyncio
import time
import https_post
from app.core import clock
from app.core import config
from app.outputs.pusher import Pusher
from mptest import ListLog, check, eq, done


now = [0]
clock.uptime_ms = lambda: now[0]
answers = []


slow_ms = [0]  # how long the next request takes (its TLS handshake, say)


async def fake_post(url, body, ctx=None, headers=(), timeout_ms=0, dns_ttl_ms=0):
    now[0] += slow_ms[0]
    slow_ms[0] = 0
    a = answers.pop(0)
    if isinstance(a, Exception):
        raise a
    return a, b"{}"

https_post.post = fake_post
https_post.tls_context = lambda der: object()

cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k", "push_interval_s": 60,
                       "endpoint": "http://127.0.0.1:1/x", "allow_http": True}, "source": {"type": "simulated"}})
log = ListLog()
p = Pusher(cfg, log)
check(p.due_in_ms() <= 0, "first push at once after power-on")


def push(result):
    answers.append(result)
    return asyncio.run(p.send('{"apiKey":"k"}'))


check(push(200), "2xx delivered")
eq(p.due_in_ms(), 60000, "next in 60 s")
now[0] += 10000
check(not push(200), "refused inside the floor")
check(any("30 s" in l for l in log.lines), "refusal logged")
eq(len(answers), 1, "no request sent inside the floor")
answers.clear()

# network failures back off 30 s, then once per push period (60 s): the site is back within
# one period of the fault clearing
now[0] = 60000
delays = []
for i in range(4):
    w = p.due_in_ms()
    if w > 0:
        now[0] += w
    push(https_post.HttpError("no answer"))
    delays.append(p.due_in_ms() // 1000)
eq(delays, [30, 60, 60, 60], "backoff for network errors")
eq(p.fail_count, 4, "failures counted")
check(p.last_status is None and "no answer" in p.last_result, p.last_result)
now[0] += p.due_in_ms()
push(503)
eq(p.last_status, 503, "status kept")
eq(p.due_in_ms() // 1000, 60, "5xx: once per period")
# the server asking us to slow down (429) or refusing the request: back off up to 300 s
delays = []
for i in range(5):
    now[0] += p.due_in_ms()
    push(429)
    delays.append(p.due_in_ms() // 1000)
eq(delays, [120, 240, 300, 300, 300], "backoff for 429")
now[0] += p.due_in_ms()
push(200)
eq(p.due_in_ms() // 1000, 60, "success resets the backoff")
eq(p.backoff_s, 0, "backoff cleared")

# a slow request: the server stamps it when it arrives, up to seconds after it began, so the
# floor counts from the end of the request (the period still from its start)
now[0] += p.due_in_ms()
slow_ms[0] = 5000
check(push(200), "slow request delivered")
eq(p.floor_in_ms(), 30000, "floor from the end of the slow request")
eq(p.due_in_ms(), 55000, "period from its start")
now[0] += 25000  # 30 s after the start, 25 s after the end
eq(p.due_in_ms(), 30000, "the period decides when to push")
check(not push(200) and p.floor_in_ms() == 5000, "a forced push 25 s after the end is refused")
answers.clear()
now[0] += 5000
check(push(200), "allowed 30 s after the end")

# after a reset: the floor counts from the last push before it (RTC clock kept counting)
p2 = Pusher(cfg, ListLog())
now[0] = 0
p2.restore(time.time() - 10)
w = p2.due_in_ms()
check(19000 <= w <= 20000, "first push 20 s after boot (last was 10 s before): %d" % w)
check(p2.floor_in_ms() > 0, "floor holds for push-now too")
p3 = Pusher(cfg, ListLog())
p3.restore(time.time() + 500)  # clock went back: keep the full floor
eq(p3.due_in_ms(), 30000, "unknown age -> full 30 s")
p4 = Pusher(cfg, ListLog())
p4.restore(time.time() - 3600)
check(p4.due_in_ms() <= 0, "old push: no wait")

# https: one TLS context for the device's life (a new one per push read the CA file into a fresh
# heap block every time); a changed CA file gets a new one
made = []
https_post.tls_context = lambda der: made.append(der) or object()
with open("ca-a.der", "wb") as f:
    f.write(b"A" * 700)
with open("ca-b.der", "wb") as f:
    f.write(b"B" * 700)
tcfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k", "push_interval_s": 60,
                        "endpoint": "https://127.0.0.1:1/x", "ca_file": "ca-a.der"}, "source": {"type": "simulated"}})
p5 = Pusher(tcfg, ListLog())
for _ in range(3):
    answers.append(200)
    check(asyncio.run(p5.send("{}")), "https push delivered")
    now[0] += 60000
eq(len(made), 1, "one TLS context for three pushes")
tcfg.section("chargehq")["ca_file"] = "ca-b.der"
answers.append(200)
asyncio.run(p5.send("{}"))
eq(len(made), 2, "a new CA file: a new context")
eq(made[-1][:1], b"B", "built from the new CA file")
done()
