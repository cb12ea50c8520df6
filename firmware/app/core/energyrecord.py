# The energy record persist.py keeps (app.core.persist): one fixed-size binary record, magic,
# version, sequence number, totals, last push, CRC-16; its layout, packing and checks.
import struct
from array import array
from micropython import const

_MAGIC = const(0x31475245)  # "ERG1" little-endian
_VERSION = const(1)
# magic, version, flags, seq, wh[2], uwh[2], hw_last[2], hw_offset[2], day_start[2], day,
# push_age_ms, push_s, checkpoint_age_ms; then the CRC-16 of everything before it
_FMT = "<IHHIqqIIqqqqqqiiIi"
_BODY = struct.calcsize(_FMT)
SIZE = _BODY + 2
NONE = const(-1)                # hw_last / push age not known
SLOTS = ("energy.0", "energy.1")


def _crc_table():
    t = array("H", bytes(512))  # 512 bytes (a list of ints would take 1-2 KB)
    for n in range(256):
        c = n << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t[n] = c & 0xFFFF
    return t


_TABLE = _crc_table()


def crc16(buf, n):
    """CRC-16/CCITT-FALSE of buf[:n] (small ints only: no allocation on the ESP32)."""
    c = 0xFFFF
    t = _TABLE
    for i in range(n):
        c = ((c << 8) & 0xFF00) ^ t[((c >> 8) ^ buf[i]) & 0xFF]
    return c


def parse(raw):
    """-> (record tuple, None) for a valid record, or (None, why) when it must be ignored."""
    if not raw:
        return None, "empty"
    if len(raw) != SIZE:
        return None, "length %d, want %d" % (len(raw), SIZE)
    rec = struct.unpack_from(_FMT, raw, 0)
    if rec[0] != _MAGIC:
        return None, "bad magic"
    if rec[1] != _VERSION:
        return None, "version %d" % rec[1]
    if crc16(raw, _BODY) != raw[_BODY] | raw[_BODY + 1] << 8:
        return None, "bad CRC"
    return rec, None


def pack(buf, seq, e, age, push_s, cp_age):
    """The record of energy `e` (app.core.energy.Energy) into buf, in place, CRC included (small
    ints only: no allocation; this runs after every poll)."""
    hl0 = e.hw_last[0]
    hl1 = e.hw_last[1]
    struct.pack_into(_FMT, buf, 0, _MAGIC, _VERSION, 0, seq, e.wh[0], e.wh[1],
                     e.uwh[0], e.uwh[1], NONE if hl0 is None else hl0,
                     NONE if hl1 is None else hl1, e.hw_offset[0], e.hw_offset[1],
                     e.day_start[0], e.day_start[1], e.day, age, push_s, cp_age)
    c = crc16(buf, _BODY)
    buf[_BODY] = c & 0xFF
    buf[_BODY + 1] = c >> 8


def record_key(buf):
    """key() of the record packed in buf."""
    return key(struct.unpack_from(_FMT, buf, 0))


def key(rec):
    # what a flash write would change: totals and meter offsets (not seq, not push age)
    return rec[4:15]


def total(rec):
    return rec[4] + rec[5]
