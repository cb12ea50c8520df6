# The 24 h history (app.history) across a clean restart: written to flash once at shutdown, put
# back at the next start moved by the time the restart took (the RTC keeps the clock across a
# soft or watchdog reset). Loaded only for those two moments.
import struct
from array import array
from micropython import const
from app.core.history import NONE, UNIT_W

FILE = "history.bin"
_N = const(4)
_MAGIC = const(0x31545348)  # "HST1"
_HEAD = "<IiII"             # magic, wall clock (2000 epoch s) at the newest point, points, step ms


def save(h, up_ms, wall_s, path=FILE):
    """Write the day (oldest first, the step in progress last) with the wall clock's time."""
    now = h.now_slot(up_ms)
    buf = array("h", bytes(2 * _N * h.points))
    for k in range(h.points):
        for i in range(_N):
            v = h.value(k, i, now)
            buf[k * _N + i] = NONE if v is None else v // UNIT_W
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack(_HEAD, _MAGIC, wall_s, h.points, h.step_ms))
        f.write(buf)
    import os
    os.rename(path + ".tmp", path)


def load(h, wall_s, path=FILE):
    """Put a saved day back, moved by the time since it was saved. -> points restored (0:
    none, too old, from another clock or shape). Call before the first add()."""
    import os
    try:
        with open(path, "rb") as f:
            head = f.read(struct.calcsize(_HEAD))
            magic, saved_s, points, step = struct.unpack(_HEAD, head)
            if magic != _MAGIC or points != h.points or step != h.step_ms:
                return 0
            raw = array("h", f.read(2 * _N * points))
    except (OSError, ValueError):
        return 0
    finally:
        try:
            os.remove(path)  # used once: a later crash must not bring back an old day
        except OSError:
            pass
    shift = (wall_s - saved_s + h.step_ms // 2000) * 1000 // h.step_ms  # steps since then
    if len(raw) != _N * points or not 0 <= shift < points:
        return 0
    h.base = h.points + 1  # the restored day lies before this start's first step
    h.slot = h.base
    n = 0
    for k in range(points):
        s = h.base - shift - (points - 1 - k)  # the saved point's step now
        if s <= h.base - h.points:
            continue
        has = False
        for i in range(_N):
            v = raw[k * _N + i]
            h.ring[(s % h.points) * _N + i] = v
            has = has or v != NONE
        n += has
    return n
