# Energy store (app.persist) under MicroPython: soft / watchdog / power-on boots, corrupt RTC
# memory, corrupt and half-written flash slots, a power cut at every step of a checkpoint write,
# hardware meter counters, the day roll, the 30 s push floor across resets, no allocation per poll.
# Uptime is a fake clock so nothing waits; RTC memory and flash are the stand-ins' real files.
import gc
import os
import time
import _espsim
import machine
from app.core import clock
from app.core import config
from app.core import persist
from app.core.energy import Energy
from app.outputs.pusher import Pusher
from app.core.persist import Store, FileOps, SIZE
from mptest import ListLog, check, eq, done

now = [0]
clock.uptime_ms = lambda: now[0]
cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k"},
                       "energy": {"checkpoint_s": 300}, "source": {"type": "simulated"}})
eq(cfg.errors, [], "energy.checkpoint_s is a known setting")
eq(cfg.get("energy", "checkpoint_s"), 300, "checkpoint interval from config")
eq(config.validate({"energy": {"checkpoint_s": 5}}).get("energy", "checkpoint_s"), 300,
   "a too-short interval falls back to the default")


class FakeApp:
    def __init__(self):
        self.cfg = cfg
        self.log = ListLog()
        self.energy = Energy()
        self.pusher = Pusher(cfg, self.log)


def boot(cause, fs=None):
    """A new interpreter after a reset: fresh objects, uptime from 0; RTC memory and flash kept
    (a power-on wipes RTC memory as the chip does)."""
    _espsim.RESET_CAUSE = cause
    if cause == "power":
        _espsim.remove(".rtc_memory")
    now[0] = 0
    app = FakeApp()
    st = Store(app.log, fs=fs)
    app.store = st
    st.restore(app)
    return app, st


def poll(app, st, imp_uwh, exp_uwh=0, dt_ms=1000):
    now[0] += dt_ms
    app.energy.add(imp_uwh, exp_uwh)
    st.on_poll(app)


def rtc_raw():
    return _espsim.read_file(".rtc_memory")


def slots():
    return [_espsim.read_file(p) for p in persist.SLOTS]


def has(log, text):
    return any(text in line for line in log.lines)


# --- a new device -----------------------------------------------------------------------------
app, st = boot("power")
eq(app.energy.wh, [0, 0], "fresh device starts from zero")
eq(st.source, None, "nothing restored")
check(app.pusher.due_in_ms() <= 0, "a new device pushes at once")
eq(len(rtc_raw()), SIZE, "RTC record written at boot")
eq(st.flash_writes, 1, "first boot writes a flash checkpoint (a later power-on knows it ran)")
eq(persist.parse(rtc_raw())[1], None, "RTC record valid")
check(SIZE <= 2048, "fits RTC memory")

# energy flows: 1.5 Wh import per poll, 0.25 Wh export
for i in range(10):
    poll(app, st, 1500000, 250000)
eq(app.energy.wh, [15, 2], "counted")
eq(app.energy.uwh, [0, 500000], "remainder")
eq(st.flash_writes, 1, "no flash write before the interval")

# --- soft reset and watchdog reset: RTC memory holds everything, to the uWh ------------------
for cause in ("soft", "wdt"):
    wh, uwh = list(app.energy.wh), list(app.energy.uwh)
    app, st = boot(cause)
    eq(app.energy.wh, wh, cause + ": totals from RTC memory")
    eq(app.energy.uwh, uwh, cause + ": remainders too")
    eq(st.source, "RTC memory", cause + ": source")
    check(app.pusher.due_in_ms() <= 0, cause + ": no push yet, no wait")
    poll(app, st, 1000000)
eq(app.energy.wh, [17, 2], "counting goes on after resets")

# --- checkpoint interval: flash written only when changed, at most every checkpoint_s -------
w0 = st.flash_writes
# 12 s of running since the first-boot checkpoint (10 polls, a soft and a watchdog reset): the
# interval runs on across resets
for i in range(287):
    poll(app, st, 0)
eq(st.flash_writes, w0, "no write before 300 s of running")
poll(app, st, 0)
eq(st.flash_writes, w0 + 1, "written 300 s after the last write, counted across resets")
for i in range(400):
    poll(app, st, 0)
eq(st.flash_writes, w0 + 1, "then none: nothing moved")
poll(app, st, 2000000)
for i in range(300):
    poll(app, st, 0)
eq(st.flash_writes, w0 + 2, "written again once the totals moved")
# a crash loop (a reset every 6 s of running, energy flowing) writes flash no more often
writes = 0
for n in range(100):
    app, st = boot("wdt" if n % 2 else "soft")
    for i in range(6):
        poll(app, st, 1000000)
    writes += st.flash_writes
check(1 <= writes <= 2, "600 s of crash loop: %d flash writes (one per 300 s)" % writes)
poll(app, st, 0, dt_ms=300000)
saved = list(app.energy.wh)
for i in range(30):
    poll(app, st, 1000000)   # +30 Wh after the checkpoint: what a power cut may lose

# --- power-on: RTC memory not trusted; the newest flash slot; the 30 s floor from boot -------
lost_rtc = rtc_raw()
app, st = boot("power")
eq(app.energy.wh, saved, "power-on: totals from the last flash checkpoint")
check(st.source.startswith("flash slot"), "source: " + str(st.source))
w = app.pusher.due_in_ms()
check(29000 < w <= 30000, "power-on after a run: first push 30 s after boot (%d)" % w)
# a valid record left in RTC memory (real RAM may keep it through a short dip) is still ignored
_espsim.write_file(".rtc_memory", lost_rtc)
_espsim.RESET_CAUSE = "power"
now[0] = 0
app = FakeApp()
st = Store(app.log)
st.restore(app)
eq(app.energy.wh, saved, "power-on ignores even a valid RTC record")
check(has(app.log, "RTC memory not trusted"), "and says so")

# --- corrupt RTC memory: every single-byte change is caught; flash used instead -----------
for i in range(5):
    poll(app, st, 1000000)
poll(app, st, 0, dt_ms=300000)   # forces a checkpoint
flash_wh = list(app.energy.wh)
poll(app, st, 7000000)           # +7 Wh only in RTC memory
good = rtc_raw()
for pos in range(len(good)):
    bad = bytearray(good)
    bad[pos] ^= 0x5A
    ok = persist.parse(bytes(bad))[0] is None
    if not ok:
        break
check(ok, "a byte changed at any position is detected (last tried %d)" % pos)
for what, data in (("flipped byte", bytes(bytearray(good[:40]) + bytes([good[40] ^ 1]) + good[41:])),
                   ("truncated", good[:50]), ("empty", b""), ("all zero", bytes(SIZE)),
                   ("garbage 2 KB", bytes((i * 37 + 11) & 0xFF for i in range(2048)))):
    _espsim.write_file(".rtc_memory", data)
    app2, st2 = boot("soft")
    eq(app2.energy.wh, flash_wh, "corrupt RTC (%s): flash totals used" % what)
    if data:
        check(has(app2.log, "RTC memory record ignored"), what + ": logged")
    w = app2.pusher.due_in_ms()
    check(w > 29000, "corrupt RTC (%s): the push floor counts from boot (%d)" % (what, w))
_espsim.write_file(".rtc_memory", good)
app, st = boot("soft")
eq(app.energy.wh, [flash_wh[0] + 7, flash_wh[1]], "the good record again: RTC wins (newer)")

# --- corrupt and half-written flash slots ------------------------------------------------
poll(app, st, 0, dt_ms=300000)  # checkpoint A (older) ...
older = list(app.energy.wh)
poll(app, st, 3000000)
poll(app, st, 0, dt_ms=300000)  # ... checkpoint B (newer), in the other slot
newer = list(app.energy.wh)
check(newer[0] == older[0] + 3, "two checkpoints")
raw = slots()
seqs = [persist.parse(r)[0][3] for r in raw]
newest = 0 if seqs[0] > seqs[1] else 1
for what, data in (("half-written", raw[newest][:SIZE // 2]), ("empty", b""),
                   ("flipped byte", raw[newest][:10] + bytes([raw[newest][10] ^ 0x80]) + raw[newest][11:]),
                   ("old version", raw[newest][:4] + b"\x09\x00" + raw[newest][6:])):
    _espsim.write_file(persist.SLOTS[newest], data)
    app2, st2 = boot("power")
    eq(app2.energy.wh, older, "newest slot %s: the other slot's totals" % what)
    check(has(app2.log, "flash slot %d ignored" % newest), what + ": logged")
    # the next checkpoint goes into the spoiled slot, never over the good one
    poll(app2, st2, 0, dt_ms=1000)
    st2.checkpoint(app2, "test")
    eq(persist.parse(_espsim.read_file(persist.SLOTS[1 - newest]))[0][4], older[0], "good slot kept")
_espsim.write_file(persist.SLOTS[newest], raw[newest])
_espsim.write_file(persist.SLOTS[1 - newest], raw[1 - newest])
app, st = boot("power")
eq(app.energy.wh, newer, "both slots good: the newer wins")


# --- a power cut at every step of a checkpoint write -------------------------------------
class PowerCut(BaseException):  # nothing in the firmware may catch it
    pass


class CutFS(FileOps):
    """Real files, but the power fails at step `at`: 0 before open, 1 after open (file
    truncated), 2+j after j bytes of the record reached flash, then before close."""

    def __init__(self, at):
        self.at = at
        self.step = 0

    def _tick(self):
        if self.step == self.at:
            raise PowerCut()
        self.step += 1

    def open(self, path):
        self._tick()
        f = open(path, "wb")
        self._tick()
        return f

    def write(self, f, data):
        for j in range(len(data)):
            f.write(bytes(data[j:j + 1]))
            f.flush()
            self._tick()

    def close(self, f):
        f.close()   # what landed stays; a cut before close loses nothing more


steps = 2 + SIZE + 1
before = list(app.energy.wh)
for at in range(steps):
    app, st = boot("power")
    check(app.energy.wh[0] >= before[0], "cut at step %d: never backwards" % at)
    before = list(app.energy.wh)
    for i in range(3):
        poll(app, st, 1000000)
    target = list(app.energy.wh)
    st.fs = CutFS(at)
    try:
        st.checkpoint(app, "cut test")
        cut = False
    except PowerCut:
        cut = True
    check(cut or at >= steps - 1, "the cut happened at step %d" % at)
    app2, st2 = boot("power")
    got = app2.energy.wh
    check(got == before or got == target,
          "cut at step %d: old or new checkpoint, nothing else (%r / %r / %r)" % (at, got, before, target))
    if at < 2 + SIZE - 1:
        eq(got, before, "cut at step %d (record incomplete): the previous checkpoint" % at)
    app, st = app2, st2
    before = list(app.energy.wh)
# two cuts in a row (the spoiled slot is written again, not the good one)
for at in (1, 40):
    st.fs = CutFS(at)
    poll(app, st, 1000000)
    try:
        st.checkpoint(app, "cut")
    except PowerCut:
        pass
    app, st = boot("power")
    eq(app.energy.wh, before, "repeated cut at %d: the last good checkpoint" % at)

# --- hardware counters (Modbus meters): restored, and monotonic through a meter swap -----
for name in persist.SLOTS:
    _espsim.remove(name)
app, st = boot("power")
app.energy.meter(120000, 3000)
st.on_poll(app)
poll(app, st, 0, dt_ms=300000)                   # checkpoint: hw_last 120000
app.energy.meter(120500, 3100)
st.on_poll(app)
app, st = boot("soft")
eq(app.energy.hw_last, [120500, 3100], "meter counters restored from RTC")
eq(app.energy.wh, [120500, 3100], "totals follow the meter")
app.energy.meter(120600, 3100)
eq(app.energy.wh, [120600, 3100], "no double count after a soft reset")
st.on_poll(app)
app, st = boot("power")                           # flash has hw_last 120000, wh 120000
app.energy.meter(120700, 3150)
eq(app.energy.wh, [120700, 3150], "power-on: the meter catches the totals up (nothing lost)")
st.on_poll(app)
note = app.energy.meter(15, 2)                    # meter replaced: counters start again
check(note is not None and "went back" in note, "drop noted")
eq(app.energy.wh, [120700, 3150], "meter swap: totals do not drop")
st.on_poll(app)
app.energy.meter(40, 5)
eq(app.energy.wh, [120725, 3153], "and keep counting from there")
st.on_poll(app)
app, st = boot("wdt")
app.energy.meter(50, 5)
eq(app.energy.wh, [120735, 3153], "offset survives a reset: no second jump, no drop")
st.on_poll(app)
poll(app, st, 0, dt_ms=300000)
app, st = boot("power")
app.energy.meter(60, 6)
eq(app.energy.wh, [120745, 3154], "and a power cut")

# --- the day: rolled when the clock is known, kept across resets --------------------------
app, st = boot("power")
eq(app.energy.today_wh(0), None, "no day before the clock is set")
day = 9800
time._set_wall(day * 86400 + 86398)               # 23:59:58 UTC
check(clock.is_synced(), "clock set")
poll(app, st, 2000000)
eq(app.energy.day, day, "day taken at the first poll with a clock")
eq(app.energy.today_wh(0), 0, "today starts at zero")
poll(app, st, 5000000)
eq(app.energy.today_wh(0), 5, "today counts")
app, st = boot("soft")
eq(app.energy.today_wh(0), 5, "today kept across a reset")
time._set_wall((day + 1) * 86400 + 5)
poll(app, st, 1000000)
eq(app.energy.day, day + 1, "the day rolled")
eq(app.energy.today_wh(0), 0, "a new day starts at zero (the Wh of that poll went to yesterday)")
check(app.energy.wh[0] > 120000, "lifetime untouched by the roll")

# the status snapshot (console, status page) shows lifetime and daily totals and the store
from app.outputs.chargehq import ChargeHQApp as App
_espsim.RESET_CAUSE = "soft"
now[0] = 0
full = App(cfg, ListLog(), None, None)
full.store = Store(full.log)
full.store.restore(full)
snap = full.status()
eq(snap["imported_kwh"], app.energy.wh[0] / 1000, "lifetime import in the status")
eq(snap["today_imported_kwh"], 0.0, "today's import in the status")
eq(snap["energy_store"]["restored_from"], "RTC memory", "where the totals came from")
eq(snap["energy_store"]["checkpoint_s"], 300, "checkpoint interval shown")

# --- the 30 s push floor across resets --------------------------------------------------
import asyncio
import https_post


class Crash(Exception):
    pass


async def crashing_post(url, body, ctx=None, headers=(), timeout_ms=0, dns_ttl_ms=0):
    raise Crash()  # the chip dies inside the request (watchdog, panic)


https_post.post = crashing_post
https_post.tls_context = lambda der: object()
app, st = boot("power")
now[0] = 40000
poll(app, st, 0)
try:
    asyncio.run(app.pusher.send("{}"))
except Crash:
    pass
now[0] += 4000                                     # no poll, no on_push: only the start was seen
app, st = boot("soft")
w = app.pusher.due_in_ms()
check(w >= 30000 - 1, "a reset during a push: the next waits the whole floor (%d)" % w)
check(app.pusher.floor_in_ms() > 0, "push now too")
# a crash loop: reset every 8 s of uptime, a push attempted whenever allowed
t_abs = 0            # time since the push above, as the chip would live it (boots add more)
pushes = [0]
for n in range(12):
    wait = app.pusher.due_in_ms()
    if wait <= 0:
        pushes.append(t_abs)
        app.pusher.last_attempt_up = now[0]
        app.pusher.last_attempt_s = time.time()
        st.on_push(app)
    now[0] += 8000
    t_abs += 8000
    poll(app, st, 0, dt_ms=0)
    app, st = boot("wdt")
gaps = [b - a for a, b in zip(pushes, pushes[1:])]
check(len(gaps) >= 2 and all(g >= 30000 for g in gaps), "crash loop: pushes >= 30 s apart %r" % gaps)
# age from a push seen at poll time, and the display time
app, st = boot("soft")
now[0] = 12000
app.pusher.last_attempt_up = 10000
app.pusher.last_attempt_s = 777
st.on_push(app)
now[0] = 15000
poll(app, st, 0)
app, st = boot("soft")
w = app.pusher.due_in_ms()
check(24000 <= w <= 24000, "last push 6 s before the record: 24 s to wait (%d)" % w)
eq(app.pusher.last_attempt_s, 777, "time of the last push shown after the reset")
now[0] = 40000
poll(app, st, 0)
app, st = boot("soft")
check(app.pusher.due_in_ms() <= 0, "push long ago: no wait")

# --- no allocation per poll (RTC record packed in place) -----------------------------------
def alloc_over_polls(step, n=200):
    """Bytes allocated by n polls (1 s apart, energy counted), each followed by step()."""
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for i in range(n):
        now[0] += 1000
        app.energy.add(1234567, 0)
        step()
    a1 = gc.mem_alloc()
    gc.enable()
    return a1 - a0


app, st = boot("soft")
app.pusher.last_attempt_up = 5
eq(alloc_over_polls(lambda: st._pack(app)), 0, "bytes allocated by 200 polls' energy + record packing")


# the whole on_poll hook, with an RTC that copies like the chip's (the stand-in's file writes and
# its float wall clock allocate; the ESP32's memcpy into RTC RAM and time.time() do not)
class ChipRTC:
    def __init__(self):
        self.mem = bytearray(SIZE)

    def memory(self, data=None):
        if data is None:
            return bytes(self.mem)
        self.mem[:] = data


class IntTime:
    t = 9800 * 86400 + 3600

    @staticmethod
    def time():
        return IntTime.t


st.rtc = ChipRTC()
real_time, real_synced = persist.time, clock.is_synced
persist.time = IntTime
clock.is_synced = lambda: True
st.on_poll(app)                       # the day is taken once (that logs)
allocated = alloc_over_polls(lambda: st.on_poll(app))
persist.time, clock.is_synced = real_time, real_synced
eq(allocated, 0, "bytes allocated by 200 on_poll calls (no checkpoint due)")
eq(persist.parse(bytes(st.rtc.mem))[0][4], app.energy.wh[0], "and the record holds the totals")

# --- stopped before the app started (Ctrl-C or a crash during Wi-Fi join): nothing written ---
raw_before = slots() + [rtc_raw()]
_espsim.RESET_CAUSE = "soft"
early = FakeApp()
st_early = Store(early.log)
check(st_early.checkpoint(early, "stop") is False, "checkpoint before restore refused")
st_early.on_poll(early)
st_early.on_push(early)
eq(slots() + [rtc_raw()], raw_before, "records untouched by a store that never restored")

# --- a storage fault never stops the sampling --------------------------------------------


class FullFS(FileOps):
    def open(self, path):
        raise OSError(28)


app, st = boot("soft")
st.fs = FullFS()
poll(app, st, 1000000)
st.checkpoint(app, "disk full")
check(has(app.log, "cannot save totals"), "flash fault logged")
eq(st.flash_errors, 1, "counted")


class NoRTC:
    def memory(self, data=None):
        raise OSError(19)


app = FakeApp()
st = Store(app.log, rtc=NoRTC())
_espsim.RESET_CAUSE = "soft"
st.restore(app)                                   # must not raise: flash alone
check(app.energy.wh[0] > 0, "restored from flash without RTC memory")
for i in range(5):
    poll(app, st, 1000000)
eq(sum(1 for line in app.log.lines if "RTC memory write failed" in line), 1, "logged once, not per poll")
eq(st.rtc_errors, 6, "counted")
done()
