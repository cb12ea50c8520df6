# The console's parts under MicroPython, fed a scripted keystroke file: line editing (backspace,
# arrow keys, CR/LF, Ctrl-C, Ctrl-U, over-long lines), secrets echoed as *, `set` on every kind
# of setting incl. the source section, live vs reboot settings, energy reset of a meter-counted
# total, a failing command, the log redraw while typing, and end of input.
import asyncio
import json
from app.core import config
from app.console.shell import Console
from app.console.words import secret_from, spans, words
from app.console.settings import parse_value
from app.core.log import Log
from app.outputs.chargehq import ChargeHQApp as App
from mptest import check, eq, raises, done

KEY = "console-KEY-0123456789-WXYZ"
RAW = {"wifi": {"ssid": "HomeNet", "password": "pw-HomeNet-1"}, "chargehq": {"api_key": KEY},
       "source": {"type": "simulated", "battery": False}}

# --- words and secrets ---
eq(words(b'wifi "My Net" pw'), ["wifi", "My Net", "pw"], "quoted word")
eq(words(b'set  device.board ""'), ["set", "device.board", ""], "empty quoted value")
eq(spans(b"  a bc "), [(2, 3), (4, 6)], "spans")
eq(secret_from(b"set chargehq.api_key abc"), 21, "api_key value is secret")
eq(secret_from(b"set wifi.password x y"), 18, "password value is secret")
eq(secret_from(b"set device.report_s 5"), -1, "not a secret")
eq(secret_from(b"set chargehq.api_key"), -1, "no value yet")
eq(secret_from(b'wifi "My Net" pw'), 14, "wifi password")
eq(secret_from(b"wifi Net"), -1, "open network")
eq(secret_from(b"set \xff.api_key x"), 14, "junk in the name: no exception")
eq(secret_from(b"set \xff\xfe x"), -1, "junk name: not a secret")
eq(parse_value("i", "45"), 45, "int")
eq(parse_value("b", "Off"), False, "bool")
raises(ValueError, parse_value, "i", "4x")
raises(ValueError, parse_value, "b", "maybe")


class Out:
    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s if isinstance(s, str) else "".join(chr(c) for c in s))  # raw echo

    def text(self):
        return "".join(self.parts)


def console(keys, raw=RAW):
    with open(config.PATH, "w") as f:
        json.dump(raw, f)
    log = Log(echo=False)
    app = App(config.load(), log)
    with open("keys.bin", "wb") as f:
        f.write(keys)
    out = Out()
    con = Console(app, inp=open("keys.bin", "rb"), out=out)
    return app, con, out


def run(keys, raw=RAW):
    app, con, out = console(keys, raw)
    asyncio.run(con.run())
    check(not app.log.echo, "log echo as it was before the console (off here)")
    return app, con, out.text()


# --- line editing ---
app, con, out = run(b"helq\x7fp\r\x1b[Astatus\r\nstat\x03log 1\r\x15" + b"x" * 300 + b"\r")
check("helq\b \bp\n" in out, "backspace erases on screen")
check("commands:" in out and "  repl " in out, "help after a backspace")
check("meter      simulated: waiting for the first reading" in out, "arrow key ignored, status ran")
check("(no events yet)" in out, "empty log")
check("^C\n" in out and "unknown command 'stat'" not in out, "Ctrl-C drops the line")
eq(out.count("unknown command"), 1, "CR LF is one Enter")
check("unknown command 'xxxxxxxxxxxxxxxxxxxx'" in out, "over-long line cut, then refused")
check("x" * 161 not in out, "line capped at 160")

# --- secrets never echoed, and settings ---
app, con, out = run(b"set chargehq.api_key NEWKEY-abcdef-9876\x7f5\r"
                    b"wifi \"Cafe Net\" hunter2-secret\r"
                    b"set chargehq.push_interval_s 20\r"
                    b"set chargehq.push_interval_s 120\r"
                    b"set validation.tolerance_pct 9\r"
                    b"set source.speed 0\r"
                    b"set source.speed 30\r"
                    b"set console.echo off\r"
                    b"config\r")
for secret in (KEY, "NEWKEY", "hunter2"):
    check(secret not in out, "secret %s not in the output" % secret[:6])
check("set chargehq.api_key " + "*" * len("NEWKEY-abcdef-9876") + "\b \b*" in out, "api key echoed as stars")
saved = json.load(open(config.PATH))
eq(saved["chargehq"]["api_key"], "NEWKEY-abcdef-9875", "edited key saved")
eq(saved["wifi"], {"ssid": "Cafe Net", "password": "hunter2-secret"}, "wifi saved")
check("must be at least 30 (got 20)" in out, "range refused")
eq(saved["chargehq"]["push_interval_s"], 120, "in range saved")
eq(app.cfg.get("validation", "tolerance_pct"), 9, "validation setting applied at once")
eq(app.cfg.get("chargehq", "push_interval_s"), 60, "push interval waits for the reboot")
check("source.speed: must be a whole number 1..3600" in out, "source checked by its module")
eq(saved["source"]["speed"], 30, "source setting saved")
eq(saved["console"]["echo"], False, "echo off saved")
check("\nconfig\n" not in out and 'chargehq.api_key = "(set, hidden)"' in out and "9875" not in out,
      "echo off, key hidden")
check("NEWKEY-abcdef-9875" in app.log.secrets, "new key masked in the log too")
check(all("NEWKEY" not in e[2] for e in app.log.recent()), "log has no key")

import sys
check(not [m for m in sys.modules if m.startswith("app.console_")], "command modules dropped after use")

# --- a file that cannot be read: the running settings are the base ---
with open("keys.bin", "wb") as f:
    f.write(b"")
app, con, out = console(b"set device.report_s 7\r")
with open(config.PATH, "w") as f:
    f.write("{broken")
asyncio.run(con.run())
eq(json.load(open(config.PATH))["device"]["report_s"], 7, "saved over a broken file")
eq(json.load(open(config.PATH))["chargehq"]["api_key"], KEY, "running settings kept")

# --- energy reset (a meter's own counters), push, portal, failing command ---
app, con, out = console(b"energy reset\rno\renergy reset\ryes\rpush\rportal\rstatus\rlog 3\r")
e = app.energy
e.meter(1000, 500)
check(e.wh == [1000, 500], "meter totals")
app.open_portal = asyncio.Event()


def broken():
    raise ValueError("status broke")


app.status = broken
asyncio.run(con.run())
out = out.text()
check("cancelled" in out and "energy totals reset to 0" in out, "asked, then reset")
eq(e.wh, [0, 0], "reset")
e.meter(1010, 505)
eq(e.wh, [10, 5], "counts on from the meter's counter")
check(app.push_now.is_set(), "push now requested")
check(app.open_portal.is_set(), "portal hook called")
check("error: ValueError: status broke" in out, "failing command reported")
check("W console: energy totals reset to 0" in out, "the console kept going after it")

# --- backup and restore: one long line each way, secrets out, this device's kept ---
raw_b = {"wifi": {"ssid": "HomeNet", "password": "pw-HomeNet-1"}, "chargehq": {"api_key": KEY},
         "device": {"admin_password": "admin-pw-123"},
         "source": {"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000", "channels": [
             {"chip": 0, "phase": "A", "role": "grid", "igain": 25498, "invert": True, "label": "mains, left cable"},
             {"chip": 0, "phase": "C", "role": "solar", "igain": 25498, "label": "inverter output"}]}}
app, con, out = run(b"backup\r", raw_b)
line = [x for x in out.split("\n") if x.startswith("{")][0]
back = json.loads(line)
check(KEY not in out and "pw-HomeNet-1" not in out and "admin-pw-123" not in out, "no secret in a backup")
eq(back["source"]["channels"][0]["label"], "mains, left cable", "the whole config")
back["validation"] = {"tolerance_w": 250}
text = json.dumps(back)
check(len(text) > 160, "a backup is longer than an ordinary console line (%d)" % len(text))
app, con, out = run(b"restore " + text.encode() + b"\r", raw_b)
check("restored; reboot to apply" in out, out[-300:])
saved = json.load(open(config.PATH))
eq(saved["validation"], {"tolerance_w": 250}, "the restored change")
eq((saved["chargehq"]["api_key"], saved["wifi"]["password"], saved["device"]["admin_password"]),
   (KEY, "pw-HomeNet-1", "admin-pw-123"), "this device's secrets kept")
eq(saved["source"]["channels"][1]["label"], "inverter output", "nothing cut off")
app, con, out = run(b'restore {"chargehq": {"push_interval_s": 5}}\r', raw_b)
check("not restored: chargehq.push_interval_s: must be at least 30 (got 5)" in out, out[-300:])

# --- set-up mode (no config, no App): the settings commands provision the device ---
import os
os.remove(config.PATH)
cfg = config.load()
check(cfg.needs_setup, "no file: set-up needed")
with open("keys.bin", "wb") as f:
    f.write(b'status\rwifi HomeNet pw-12345678\rset source [1]\rset source {"type": "nosuch"}\r'
            b'set source {"type": "simulated", "battery": false}\r'
            b'set chargehq.api_key SETUP-KEY-555-WXYZ\rconfig\r')
out = Out()
con = Console(None, inp=open("keys.bin", "rb"), out=out, cfg=cfg, log=Log(echo=False))
asyncio.run(con.run())
out = out.text()
check("not while the device needs set-up" in out, "status needs the app")
check("still to do: no meter (source) chosen" in out, "saved step by step")
check("not saved: source must be a JSON object" in out, "source must be an object")
check("not saved: source.type: unknown source 'nosuch'" in out, out)
check("SETUP-KEY" not in out and "pw-1234" not in out, "secrets hidden in set-up mode")
cfg = config.load()
check(not cfg.needs_setup, "provisioned from the console: %s" % cfg.problem)
eq(cfg.get("wifi", "ssid"), "HomeNet", "ssid")
eq(cfg.section("source"), {"type": "simulated", "battery": False}, "source")
eq(cfg.get("chargehq", "api_key"), "SETUP-KEY-555-WXYZ", "key")

# --- line noise: random bytes never stop the console (a command typed after them runs) ---
seed = 12345
junk = bytearray(1500)
for i in range(len(junk)):
    seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
    junk[i] = (seed >> 16) & 0xFF
app, con, out = run(bytes(junk) + b"\x1b\x1b\rstatus\r")
check(out.endswith("\n> ") and "meter      simulated" in out[-1500:], "status after the noise")
check(out.count("unknown command") + out.count("not UTF-8") > 3, "noise lines refused")

# --- little free memory: the command is refused with a message, the console carries on ---
import gc
app, con, out = console(b"status\rlog 1\r")
gc.collect()
filler = [None] * 5000
n = 0
for size in (4000, 400, 48):  # fill the heap, then give back about 4 KB in small pieces
    while n < len(filler):
        try:
            filler[n] = bytearray(size)
        except MemoryError:
            break
        n += 1
while gc.mem_free() < 4000 and n:
    n -= 1
    filler[n] = None
    gc.collect()
asyncio.run(con.run())
filler = None
gc.collect()
t = out.text()
check("not enough memory for this command now" in t, "refused for memory: %r" % t[-300:])
check(not [m for m in sys.modules if m.startswith("app.console_")], "nothing half-loaded kept")
app, con, out = run(b"status\r")
check("meter      simulated" in out, "works again once memory is free")

# --- update: the versions; a pull needs https:// (app.ota_pull) ---
app, con, out = run(b"update\rupdate http://example.org/rel/manifest.txt\rhelp\r")
check("version    1.0.0 (base)" in out and "previous   -" in out, "update shows the versions: %r" % out[-400:])
check("update failed: the update URL must start with https://" in out, "http:// refused")
check("update [URL]" in out, "help lists update")

# --- log lines arriving while typing: printed above, the typed line redrawn ---
app, con, out = console(b"")
con.prompt()
con._key(ord("s"))
con._key(ord("t"))
app.log.info("pushed (HTTP 200)")
con.show_log()
con.buf = bytearray(b"ab\xff\xfe")  # not UTF-8: redrawn with ? (never an exception)
app.log.info("another event")
con.show_log()
check(out.text().endswith("another event\n> ab??"), repr(out.text()[-60:]))
t = out.text()
check(t.startswith("> st\r\x1b[K[0:00:0") and " I] pushed (HTTP 200)\n> st\r" in t, repr(t))
done()
