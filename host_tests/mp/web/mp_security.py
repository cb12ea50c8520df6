# Issue 19 under MicroPython: secrets out of every log line and push result (findings 2 and 3),
# http:// endpoints refused for the key unless allowed (finding 7), one list of secret settings.
import asyncio
import json
import https_post
from app.core import config
from app.core.config import mask
from app.core.log import scrub
from app.core.log import Log
from app.outputs.pusher import Pusher
from app.outputs.chargehq import ChargeHQApp as App
from mptest import check, eq, done

KEY = "chq-SECRET-KEY-0123456789abcdef"

# --- scrub: the key whole, and cut short at the end of a text (a server's answer is kept short)
eq(scrub("invalid apiKey %s, sorry" % KEY, [KEY]), "invalid apiKey %s, sorry" % mask(KEY), "whole key masked")
eq(scrub("invalid apiKey " + KEY[:20], [KEY]), "invalid apiKey ****", "a truncated key masked too")
eq(scrub("nothing here", [KEY, ""]), "nothing here", "other text untouched")
eq(scrub("ends in chq-SEC.", [KEY]), "ends in chq-SEC.", "a few letters alike are not the key")
eq(scrub("(apiKey=%s)" % KEY[:12], [KEY]), "(apiKey=****)", "a key's start inside a text")
eq(scrub("wrong password", ["password1"]), "wrong password", "a short secret is matched whole only")

# --- finding 2: a hostile endpoint echoes the key in its error; nothing keeps it in clear
answers = []


async def fake_post(url, body, ctx=None, headers=(), timeout_ms=0, dns_ttl_ms=0):
    return answers.pop(0)

https_post.post = fake_post
https_post.tls_context = lambda der: object()
with open("ca.der", "wb") as f:
    f.write(b"\x30\x00")  # read, then handed to the stand-in tls_context above
raw = {"wifi": {"ssid": "x", "password": "wifi-pass-9876"}, "chargehq": {"api_key": KEY, "ca_file": "ca.der"},
       "device": {"admin_password": "admin-pass-5432"}, "portal": {"ap_password": "ap-pass-1357"},
       "source": {"type": "simulated"}}
cfg = config.validate(raw)
log = Log(echo=False)
app = App(cfg, log)
for echoed in (b'{"error":"invalid apiKey ' + KEY.encode() + b'"}',
               b'{"message":"Invalid API key: ' + KEY.encode() + b' is not registered for this site, please check'
               b' the key in the app and try again"}',  # the key inside the first 80 bytes, the tail cut
               b'apiKey=' + KEY[:12].encode()):
    answers.append((401, echoed))
    app.pusher.last_attempt_up = None  # no 30 s floor in this test
    app.pusher._first_wait_ms = -10 ** 6
    asyncio.run(app.pusher.send('{"apiKey":"%s"}' % KEY))
    st = json.dumps(app.status())
    res = app.pusher.last_result
    check(res.startswith("HTTP 401"), res)
    for part in (KEY, KEY[:12]):
        check(part not in res, "key part %r not in the push result %r" % (part, res))
        check(part not in st, "key part not in /api/status")
        check(all(part not in e[2] for e in log.recent()), "key part not in the log ring")

# --- finding 3: every secret setting is masked in the log (the set-up network's password too)
for secret in ("wifi-pass-9876", "admin-pass-5432", "ap-pass-1357", KEY):
    log.info("a line that mentions %s by mistake" % secret)
    check(secret not in log.recent(1)[0][2], "%s masked in the log" % secret[:6])
eq(config.SECRET_KEYS.count("ap_password"), 1, "ap_password is a secret setting")
shown = json.dumps(config.masked(raw))
check("ap-pass-1357" not in shown and "wifi-pass-9876" not in shown, shown)

# --- finding 7: http:// is refused for the key unless chargehq.allow_http is set, then warned
plain = dict(raw, chargehq={"api_key": KEY, "endpoint": "http://192.0.2.1/push", "ca_file": "ca.der"})
c = config.validate(plain)
check(any("http:// would send the API key unencrypted" in e for e in c.errors), c.errors)
eq(c.get("chargehq", "endpoint"), config.DEFAULT_ENDPOINT, "the refused endpoint is not used")
eq(c.warnings, [], "no warning: it is not used")
c = config.validate(dict(raw, chargehq={"api_key": KEY, "endpoint": "http://192.0.2.1/push", "allow_http": True}))
eq(c.errors, [], "allowed explicitly")
eq(c.get("chargehq", "endpoint"), "http://192.0.2.1/push", "used when allowed")
check(c.warnings and "unencrypted" in c.warnings[0], c.warnings)
a2 = App(c, Log(echo=False))
check(a2.status()["warnings"], "the warning is in the status (page and /api/status)")
# the pusher itself refuses when the setting is off, whatever put the URL there
c.data["chargehq"]["allow_http"] = False
p = Pusher(c, Log(echo=False))
p._first_wait_ms = -10 ** 6
answers.append((200, b""))
check(not asyncio.run(p.send("{}")), "not sent over http:// without allow_http")
check("allow_http" in p.last_result, p.last_result)
eq(len(answers), 1, "no request went out")

# --- finding 3 through the console: `set portal.ap_password ...` wrote it to the log in clear
from app.console.shell import Console


class Out:
    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s if isinstance(s, str) else "".join(chr(c) for c in s))


with open(config.PATH, "w") as f:
    json.dump(raw, f)
clog = Log(echo=False)
capp = App(config.load(), clog)
with open("keys.bin", "wb") as f:
    f.write(b"set portal.ap_password New-AP-pass-2468\rset device.admin_password New-admin-pass-1357\rlog\r")
out = Out()
asyncio.run(Console(capp, inp=open("keys.bin", "rb"), out=out).run())
text = "".join(out.parts)
for secret in ("New-AP-pass-2468", "New-admin-pass-1357"):
    check(secret not in text, "%s not on the console: %s" % (secret, text[-300:]))
    check(all(secret not in e[2] for e in clog.recent()), "%s not in the log ring" % secret)
check("portal.ap_password set to (hidden)" in text, text[-400:])
eq(json.load(open(config.PATH))["portal"]["ap_password"], "New-AP-pass-2468", "saved all the same")
done()
