# Issue 19, finding 5: state files that made every boot exit (MemoryError, UnicodeError) are now
# read defensively: size checked before reading, nesting depth before parsing, non-UTF-8 caught;
# the bad file is kept as .bad with a message, and the device goes on (set-up mode, a new
# set-up password, the network counted as not known yet).
import gc
import os
from app.core import config
from app.web import setup_mode
from app.system import wifi
from app.core import boards
from app.core import statefile
from app.core import persist
from mptest import check, eq, done, ListLog


def write(name, data):
    with open(name, "wb") as f:
        f.write(data)


def write_big(name, byte, n):
    chunk = bytes((byte,)) * 4096
    with open(name, "wb") as f:
        while n > 0:
            f.write(chunk[:min(n, 4096)])
            n -= 4096


def gone(name):
    try:
        os.stat(name)
        return False
    except OSError:
        return True


# config.json nested 15000 deep: MicroPython's json.loads ran out of memory (MemoryError at boot)
log = ListLog()
write_big("config.json", 0x5b, 15000)
c = config.load(log=log)
check(c.needs_setup and "nested deeper than" in c.problem, c.problem)
check(gone("config.json") and not gone("config.json.bad"), "the deep file is kept as config.json.bad")
check(any("config.json: nested deeper" in m and "kept as config.json.bad" in m for m in log.lines), log.lines)

# a config file larger than the whole heap: reading it raised MemoryError before parsing
free = gc.mem_free() + gc.mem_alloc()
write_big("config.json", 0x20, free + 8192)
c = config.load(log=log)
check(c.needs_setup and "larger than" in c.problem, c.problem)
check(gone("config.json"), "the huge file moved aside")

# a good config that is deep where it is allowed still loads
write("config.json", b'{"wifi": {"ssid": "Home"}, "chargehq": {"api_key": "k-123456"}, "source": '
      b'{"type": "simulated", "devices": [{"profile": "sdm630", "slave": 1}]}}')
c = config.load(log=log)
check(c.problem is None or "nested" not in c.problem, c.problem)
eq(c.data["wifi"]["ssid"], "Home", "a sane config loads")
eq(statefile.depth_problem('{"a": "[[[[[[[[[[[[[[[["}'), None, "brackets inside strings do not count")

# wifi_ok.txt that is not UTF-8: known() raised UnicodeError at boot
write("wifi_ok.txt", b"Home\n\xff\xfe\xfd\x80garbage")
eq(wifi.known("Home", "pw"), False, "a garbled wifi_ok.txt: the network is not known yet")
check(gone("wifi_ok.txt") and not gone("wifi_ok.txt.bad"), "kept as wifi_ok.txt.bad")
wifi.remember("Home", "pw")
eq(wifi.known("Home", "pw"), True, "written afresh after the bad one")

# ap_key.txt that is not UTF-8: ap_password() raised UnicodeError at boot
write("ap_key.txt", b"\xc3(\xff\xfe-not-text")
log = ListLog()
key = setup_mode.ap_password("", log)
check(8 <= len(key) <= 63, "a new set-up password: %r" % key)
check(not gone("ap_key.txt.bad"), "the garbled one kept as ap_key.txt.bad")
eq(setup_mode.ap_password("", log), key, "the new one is kept across boots")
check(any("not UTF-8" in m for m in log.lines), log.lines)
# too large, and control characters (not something a person can type from the console)
write_big("ap_key.txt", 0x78, 50000)
key2 = setup_mode.ap_password("", log)
check(key2[:4] != "xxxx" and 8 <= len(key2) <= 63, "a huge ap_key.txt: a new password")
write("ap_key.txt", b"abc\x00\x01defghij")
key3 = setup_mode.ap_password("", log)
check("\x00" not in key3 and len(key3) >= 8, "control characters: a new password")

# a board file: deep, not UTF-8, not an object -> ValueError with the reason (boot catches it)
os.mkdir("boards")
for junk in (b"{" * 5000, b"\xff\xfe", b"[1, 2]", b"big"):
    if junk == b"big":
        write_big("boards/junk.json", 0x78, 20000)
    else:
        write("boards/junk.json", junk)
    e = None
    try:
        boards.load("junk")
    except ValueError as ex:
        e = ex
    check(e is not None and "boards/junk.json" in str(e), "board %r: %s" % (junk[:8], e))

# an energy slot file far larger than a record: read bounded, ignored as a bad record

write_big("energy.0", 0, 200000)
raw = persist.FileOps().read("energy.0")
eq(len(raw), persist.SIZE + 1, "only a record's length (+1) is read")
eq(persist.parse(raw)[0], None, "and it is not a record")
done()
