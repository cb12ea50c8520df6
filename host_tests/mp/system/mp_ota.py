# Over-the-air update staging (app.ota) and version selection (otaboot) under MicroPython, on
# the stand-ins' flash (this folder) and RTC memory: a whole update, then every kind of bad input
# (paths outside the app folders, wrong hash, truncated data, wrong size, full flash before and
# while writing, a second update while one runs, an update while one is on trial), the RTC boot
# counter and power-on counter rolling a version back, the energy record in RTC memory untouched
# by the counter and the counter kept by app.persist.
import asyncio
import binascii
import hashlib
import json
import os
import sys
import _espsim
import otaboot
from app.system import ota
from mptest import ListLog, check, eq, raises, done


class Body:
    """An HTTP body as app.ota reads it: async read(n); `cut` stops it early."""

    def __init__(self, data, cut=None):
        self.data = data if cut is None else data[:cut]
        self.pos = 0

    async def read(self, n):
        c = self.data[self.pos:self.pos + n]
        self.pos += len(c)
        return c


def sha(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()


FILES = {"app/main.mpy": b"M" * 3000, "app/__init__.mpy": b"", "lib/drv.mpy": b"D" * 1500,
         "web/head.html": b"<head>", "ca/extra.der": b"\x30\x03abc", "profiles/new.json": b'{"x": 1}'}


def manifest(files=FILES, version="2.0.0", extra=""):
    lines = [ota.MAGIC, "version " + version] if version else [ota.MAGIC]
    for p, b in files.items():
        lines.append("file %s %d %s" % (sha(b), len(b), p))
    return ("\n".join(lines) + "\n" + extra).encode()


def run(coro):
    return asyncio.run(coro)


log = ListLog()


def fresh():
    """A device with no update state: base running."""
    for name in ("ota/state", "ota/state.tmp"):
        try:
            os.remove(name)
        except OSError:
            pass
    ota._rmtree("ota/a")
    ota._rmtree("ota/b")
    ota._active = None
    otaboot.state = {}
    otaboot.slot = ""
    otaboot.note = None


async def begin(s, m):
    await s.begin(len(m), Body(m))


def start(now=0):
    return ota.start("test", log, now_ms=now)


# --- paths --------------------------------------------------------------------------------------
for p in ("../config.json", "/config.json", "config.json", "app/../../config.json", "app/./x.mpy",
          "app//x.mpy", "app/.hidden", "boot.py", "otaboot.mpy", "ota/state", "app/x y.mpy", "app",
          "app/" + "x" * 100, "energy.0", "lib/../../config.json", "app/a/b/c/d/e/f.mpy"):
    check(ota.bad_path(p) is not None, "path refused: %r" % p)
for p in ("app/main.mpy", "lib/microdot/microdot.mpy", "web/form.html", "ca/roots.der",
          "profiles/sdm630.json", "boards/circuitsetup_split.json"):
    eq(ota.bad_path(p), None, "path taken: %r" % p)

# --- a whole update -------------------------------------------------------------------------------
fresh()
with open("config.json", "w") as f:
    f.write('{"mine": 1}')
s = start()
eq(s.slot, "a", "the base runs: the update goes into slot a")
run(begin(s, manifest()))
eq(s.count, len(FILES), "every file wanted (app not frozen here)")
eq(sorted(s.want_list()), sorted(FILES), "the want list")
e = raises(ota.Busy, start, 1000)
check("running" in str(e), "a second update while one runs: refused (%s)" % e)
for p, b in FILES.items():
    run(s.put(p, len(b), Body(b)))
eq(s.done, len(FILES), "all received")
msg = s.commit("1.0.0")
check("2.0.0" in msg, msg)
st = otaboot.read_state()
eq((st["cur"], st["cur_v"], st["prev"], st["prev_v"], st["trial"]), ("a", "2.0.0", "", "1.0.0", True),
   "pointer: slot a on trial, base to go back to")
for p, b in FILES.items():
    where = p if p.split("/")[0] in ("ca", "profiles", "boards") else "ota/a/" + p
    with open(where, "rb") as f:
        eq(f.read(), b, "installed: " + where)
check(otaboot.usable("a"), "slot a is a whole version (manifest.txt + app/)")
with open("config.json") as f:
    eq(f.read(), '{"mine": 1}', "config.json untouched")
eq(ota.active(), None, "no update running after commit")

# --- the boot after it: trial, boot counter in RTC memory, rollback -------------------------------
import machine
rtc = machine.RTC()
record = bytes(range(98))  # stands for app.persist's energy record
rtc.memory(record)
_espsim.RESET_CAUSE = "soft"
path0 = list(sys.path)
for n in range(1, otaboot.MAX_BOOTS + 1):
    otaboot.select()
    eq(otaboot.slot, "a", "boot %d on trial runs slot a" % n)
    check("boot %d of" % n in otaboot.note, otaboot.note)
    raw = rtc.memory()
    eq(raw[:98], record, "boot %d: the energy record in RTC memory is untouched" % n)
    eq(len(raw), otaboot.RTC_END, "the counter ends at RTC_END")
    sys.path[:] = path0
    if otaboot._timer:
        otaboot._timer.deinit()
check(sys.path[0] != "ota/a", "(path restored)")
otaboot.select()
eq(otaboot.slot, "", "boot %d: rolled back to the base" % (otaboot.MAX_BOOTS + 1))
check("rolled back from 2.0.0" in otaboot.note and "resets" in otaboot.note, otaboot.note)
st = otaboot.read_state()
eq((st["cur"], st["prev_v"], st["trial"]), ("", "2.0.0", False), "pointer back to the base")
eq(ota.status()["version"], "1.0.0", "status: running the base again")
eq(ota.status()["previous"], "2.0.0", "status: previous = the version rolled back")
check(sys.path[0] != "ota/a", "slot a no longer on the path")

# app.persist keeps the counter: a record + counter in RTC memory, Store writes both back
from app.core import persist
from app.core import config
from app.core.energy import Energy
from app.outputs.pusher import Pusher


class FakeApp:
    def __init__(self):
        self.cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k"},
                                    "source": {"type": "simulated"}})
        self.log = ListLog()
        self.energy = Energy()
        self.pusher = Pusher(self.cfg, self.log)


check(persist.SIZE <= otaboot.RTC_AT, "the energy record (%d B) ends before the counter" % persist.SIZE)
fa = FakeApp()
store = persist.Store(fa.log)
fa.store = store
store.restore(fa)          # writes a record of its own
fa.energy.add(1000000, 0)
store.on_poll(fa)          # (a poll: the RTC record is newer than the flash checkpoint)
rec = rtc.memory()[:persist.SIZE]
tail = bytearray(otaboot.RTC_END - persist.SIZE)
tail[otaboot.RTC_AT - persist.SIZE:] = b"OTA1" + bytes(8)
rtc.memory(rec + bytes(tail))
fa = FakeApp()
store = persist.Store(fa.log)
store.restore(fa)
fa.energy.add(5000000, 0)
store.on_poll(fa)
raw = rtc.memory()
eq(len(raw), otaboot.RTC_END, "persist writes the record and keeps the counter after it")
eq(raw[otaboot.RTC_AT:otaboot.RTC_AT + 4], b"OTA1", "the counter kept")
eq(persist.parse(raw[:persist.SIZE])[1], None, "and its own record is valid")
eq(store.source, "RTC memory", "the record before the counter was restored (not ignored)")

# power-ons count in the state file (RTC memory does not survive them)
fresh()
s = start()
run(begin(s, manifest(version="2.1.0")))
for p, b in FILES.items():
    run(s.put(p, len(b), Body(b)))
s.commit("1.0.0")
_espsim.RESET_CAUSE = "power"
for n in range(otaboot.MAX_POWER_ONS):
    otaboot.select()
    eq(otaboot.slot, "a", "power-on %d on trial" % (n + 1))
    sys.path[:] = path0
otaboot.select()
eq(otaboot.slot, "", "rolled back after %d power-ons" % otaboot.MAX_POWER_ONS)
check("power-ons" in otaboot.note, otaboot.note)
sys.path[:] = path0

# confirm: a version that proves itself stays; the next update goes to the other slot
fresh()
s = start()
run(begin(s, manifest(version="2.2.0")))
for p, b in FILES.items():
    run(s.put(p, len(b), Body(b)))
s.commit("1.0.0")
_espsim.RESET_CAUSE = "soft"
otaboot.select()
check(otaboot.on_trial(), "on trial after the switch")
e = raises(ota.OtaError, start, 0)
check("on trial" in str(e), "no update while the running version is on trial (%s)" % e)
check(otaboot.confirm(), "confirmed")
check(not otaboot.on_trial() and not otaboot.read_state()["trial"], "no longer on trial (flash too)")
otaboot.select()
eq(otaboot.slot, "a", "a confirmed version stays over reboots")
sys.path[:] = path0
for i in range(6):
    otaboot.select()
    sys.path[:] = path0
eq(otaboot.slot, "a", "... however many")
s = start()
eq(s.slot, "b", "the next update goes into the other slot")
s.abort("test")
eq(otaboot.read_state()["cur"], "a", "an aborted update leaves the pointer alone")
check(not otaboot.usable("b"), "and nothing in slot b")
# a slot that lost its files (or never finished) is never run
ota._rmtree("ota/a/app")
otaboot.select()
eq(otaboot.slot, "", "an incomplete slot: the base runs")
check("incomplete" in otaboot.note, otaboot.note)
sys.path[:] = path0


# --- bad input: each aborts the update, clears the slot, leaves the pointer -----------------------
def bad_update(what, m=None, files=None, body=None, free=None, opener=None, want_text=""):
    fresh()
    st0 = otaboot.read_state()
    s = start()
    if free is not None:
        s.free_fn = lambda: (free, 4096)
    if opener is not None:
        s.opener = opener
    try:
        run(begin(s, m or manifest()))
        for p, b in (files or FILES).items():
            src = body(p, b) if body else Body(b)
            run(s.put(p, len(b) if not hasattr(src, "length") else src.length, src))
        s.commit("1.0.0")
    except ota.OtaError as e:
        check(want_text in str(e), "%s: %s (want %r)" % (what, e, want_text))
    else:
        check(False, what + ": no error")
    eq(ota.active(), None, what + ": no update running after it")
    check(not otaboot.usable("a"), what + ": nothing usable staged")
    eq(otaboot.read_state(), st0, what + ": pointer unchanged")
    check(any("aborted" in l for l in log.lines[-3:]), what + ": logged")


bad_update("path outside", manifest(extra="file %s 3 ../config.json\n" % sha(b"abc")), want_text="../config.json")
bad_update("root file", manifest(extra="file %s 3 boot.py\n" % sha(b"abc")), want_text="boot.py")
bad_update("no version", manifest(version=None), want_text="version")
bad_update("not a manifest", b"hello\nfile x 1 app/main.mpy\n", want_text="not an update manifest")
bad_update("bad hash text", manifest(extra="file zz 3 app/x.mpy\n"), want_text="SHA-256")
bad_update("file too big", manifest(extra="file %s %d app/x.mpy\n" % (sha(b""), ota.MAX_FILE + 1)),
           want_text="bad size")
bad_update("named twice", manifest(extra="file %s 3000 app/main.mpy\n" % sha(b"M" * 3000)), want_text="twice")
bad_update("no app/main", manifest(files={"app/x.mpy": b"x"}), files={}, want_text="not a whole app")
many = "".join("file %s 1 app/m%d.mpy\n" % (sha(b"x"), i) for i in range(ota.MAX_FILES + 1))
bad_update("too many files", manifest(extra=many), want_text="more than")
bad_update("wrong hash", body=lambda p, b: Body(b"X" * len(b)) if p == "lib/drv.mpy" else Body(b),
           want_text="SHA-256 does not match")


class Short(Body):
    def __init__(self, data):
        Body.__init__(self, data, cut=len(data) // 2)
        self.length = len(data)


bad_update("truncated", body=lambda p, b: Short(b) if p == "app/main.mpy" else Body(b), want_text="ended")


class Longer(Body):
    def __init__(self, data):
        Body.__init__(self, data)
        self.length = len(data) + 1


bad_update("wrong size", body=lambda p, b: Longer(b) if p == "lib/drv.mpy" else Body(b), want_text="bytes sent")
bad_update("full flash (checked first)", free=8 * 4096, want_text="not enough flash")


class FullFile:
    """A file on a flash that fills up after 2 KB (ENOSPC), as littlefs reports it."""
    total = [0]

    def __init__(self, name, mode):
        self.f = open(name, mode)

    def write(self, b):
        FullFile.total[0] += len(b)
        if FullFile.total[0] > 2048:
            raise OSError(28)
        return self.f.write(b)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()


bad_update("flash full while writing", opener=FullFile, want_text="flash is full")

# a file not in the manifest
fresh()
s = start()
run(begin(s, manifest()))
e = raises(ota.OtaError, run, s.put("app/other.mpy", 3, Body(b"abc")))
check("not in the manifest" in str(e), str(e))
eq(ota.active(), None, "aborted")

# a stale update (its client vanished) is replaced; a live one is not
fresh()
s = start(now=0)
run(begin(s, manifest()))
s.touched = 0
raises(ota.Busy, start, ota.STALE_MS - 1)
s2 = start(now=ota.STALE_MS + 1)
check(s2 is not s and ota.active() is s2, "a stale update is replaced")
s2.abort("test")

# commit before all files arrived
fresh()
s = start()
run(begin(s, manifest()))
run(s.put("app/main.mpy", 3000, Body(FILES["app/main.mpy"])))
e = raises(ota.OtaError, s.commit, "1.0.0")
check("of %d files" % len(FILES) in str(e), str(e))

# a file changed on the flash between receiving and commit
fresh()
s = start()
run(begin(s, manifest()))
for p, b in FILES.items():
    run(s.put(p, len(b), Body(b)))
with open("ota/a/lib/drv.mpy", "wb") as f:
    f.write(b"E" * 1500)
e = raises(ota.OtaError, s.commit, "1.0.0")
check("changed on the flash" in str(e), str(e))
check(not otaboot.usable("a") and not otaboot.read_state(), "nothing switched")

# a frozen app: only the data files are taken, the pointer is not touched
fresh()
ota.frozen = lambda: True
s = start()
run(begin(s, manifest(version="2.3.0")))
want = sorted(s.want_list())
eq(want, ["ca/extra.der", "profiles/new.json", "web/head.html"], "frozen: data files only")
raises(ota.OtaError, run, s.put("app/main.mpy", 3000, Body(FILES["app/main.mpy"])))
s = start()
run(begin(s, manifest(version="2.3.0")))
for p in want:
    run(s.put(p, len(FILES[p]), Body(FILES[p])))
msg = s.commit("1.0.0")
check("firmware image" in msg and "data files" in msg, msg)
with open("web/head.html", "rb") as f:
    eq(f.read(), b"<head>", "frozen: web/ installed at the root")
eq(otaboot.read_state(), {}, "frozen: the pointer untouched")
done()
