# A retiring Charge HQ endpoint (app.retire through app.pusher): "gone" answers (name not found,
# 404/410, a certificate for another name) for 24 h -> said once, one try an hour, kept across a
# reboot; busy answers (5xx, timeouts) neither start nor end it; a delivered push ends it.
# The clock, time and the network are replaced by fakes so the test runs in no time.
import asyncio
import os
import https_post
from app.core import clock
from app.core import config
from app.outputs import retire
from app.outputs.pusher import Pusher
from mptest import ListLog, check, eq, done

now_ms = [0]
wall = [800000000]  # seconds since 2000 (2025)
clock.uptime_ms = lambda: now_ms[0]
clock.is_synced = lambda: True


class FakeTime:
    @staticmethod
    def time():
        return wall[0]

    gmtime = staticmethod(__import__("time").gmtime)


retire.time = FakeTime
clock.time = FakeTime
answers = []


async def fake_post(url, body, ctx=None, headers=(), timeout_ms=0, dns_ttl_ms=0):
    a = answers.pop(0)
    if isinstance(a, Exception):
        raise a
    return a, b"{}"

https_post.post = fake_post
https_post.tls_context = lambda der: object()
try:
    os.remove(retire.FILE)
except OSError:
    pass
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "retire-test-key-0123456789", "push_interval_s": 60,
                       "endpoint": "http://127.0.0.1:1/x", "allow_http": True}, "source": {"type": "simulated"}})


def push(p, result, advance_s):
    now_ms[0] += advance_s * 1000
    wall[0] += advance_s
    answers.append(result)
    return asyncio.run(p.send('{"apiKey":"k"}'))


from app.outputs import pusher
eq(pusher._GONE_FILE, retire.FILE, "the pusher looks for app.retire's file")
eq(retire.gone_reason(404, "HTTP 404"), "HTTP 404", "404")
eq(retire.gone_reason(410, "HTTP 410"), "HTTP 410", "410")
eq(retire.gone_reason(None, "DNS lookup of api.chargehq.net failed ([addrinfo error -2])"), "name not found", "NXDOMAIN")
eq(retire.gone_reason(None, "DNS lookup of api.chargehq.net failed ([addrinfo error -3])"), None, "EAI_AGAIN")
eq(retire.gone_reason(None, "TLS with api.chargehq.net failed: The certificate Common Name (CN) does not "
                            "match with the expected CN"), "certificate for another name", "CN mismatch")
eq(retire.gone_reason(503, "HTTP 503"), None, "5xx is busy, not gone")
eq(retire.gone_reason(None, "no answer from x within 20 s"), None, "timeout")
eq(retire.gone_reason(429, "HTTP 429"), None, "429")

log = ListLog()
p = Pusher(cfg, log)
nx = https_post.HttpError("DNS lookup of api.chargehq.net failed ([addrinfo error -2])")
push(p, 200, 0)
push(p, 503, 60)
check(p.retire is None, "app.outputs.retire is not loaded for a failure that is not 'gone'")
push(p, 200, 60)
# gone answers for most of a day, with a network outage and a 503 in between: backoff as usual
t0 = wall[0] + 60
push(p, nx, 60)
check(retire.FILE in os.listdir(), "the start is kept on flash: %s" % p.last_result)
for i in range(100):
    push(p, nx if i % 10 else https_post.HttpError("no answer from x within 20 s"), 600)
check(p.delay_s <= 300, "the usual backoff before 24 h (%d)" % p.delay_s)
check(p.retire.text() is None, "not said before 24 h")
push(p, 503, 600)
check(not p.retire.retired, "a 503 does not end or start it")
# a reboot (a new Pusher reads the start from flash); at 24 h: said once, hourly tries
p = Pusher(cfg, log)
wall[0] = t0 + 86400 - 10
push(p, 404, 0)
check(not p.retire.retired, "not yet")
push(p, 410, 30)
check(p.retire.retired, "24 h of gone answers: retired")
eq(p.delay_s, 3600, "one try an hour")
said = [l for l in log.lines if "Charge HQ not answering since" in l]
eq(len(said), 1, "said once")
check(clock.fmt_time(t0) in said[0] and "trying once an hour" in said[0], said[0])
check(p.retire.text().startswith("Charge HQ not answering since"), p.retire.text())
push(p, https_post.HttpError("no answer"), 3600)
eq(p.delay_s, 3600, "still once an hour whatever the failure")
eq(len([l for l in log.lines if "Charge HQ not answering since" in l]), 1, "still said once")
# it answers again: back to normal, the mark removed
push(p, 200, 3600)
check(p.retire is None, "a delivered push ends it")
eq(p.delay_s, 60, "back to the push interval")
check(retire.FILE not in os.listdir(), "mark removed")
check(any("answers again" in l for l in log.lines), "said")
done()
