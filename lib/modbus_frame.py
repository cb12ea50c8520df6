"""Modbus RTU frames, without I/O: CRC-16, the FC03/FC04 read request, the checks of a reply, the
errors they raise, and the decoders of the register bytes a reply carries. Pure functions on
caller-owned buffers (the request and the checks of a good reply allocate nothing), shared by the
UART master (modbus_rtu.py, which re-exports the errors and decoders) and by tools or tests that
hold bytes from elsewhere.

crc16(buf, n=None) -> CRC-16/MODBUS of the first n bytes (init 0xFFFF, reflected poly 0xA001);
on the wire the low byte goes first.
encode_read(tx, slave, fc, addr, count): the 8-byte request into bytearray tx, CRC included.
reply_length(rx, fc) -> the whole reply's length once its first 3 bytes are in: 5 + byte count for
a normal reply, 5 for an exception reply, -1 when it answers another function (garbage).
check_reply(rx, pos, need, slave, fc, addr, count): raises unless rx holds a good reply to that
request (pos bytes received, need = reply_length or 0 when unknown):
    ModbusCRCError    CRC mismatch
    ModbusError       exception reply (.code = the exception code), wrong slave, wrong function,
                      wrong length, short frame, garbage
ModbusTimeout (a ModbusError) is the master's: no reply at all.

Decoders (`i` = register index within the view, word order "be" = high word first, "le" = low
word first; bytes within a register are always big-endian):
    u16(mv, i)  s16(mv, i)  u32(mv, i, wo="be")  s32(mv, i, wo="be")  f32(mv, i, wo="be")
"""
import struct

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge (still working)",
    6: "busy, retry later",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}


class ModbusError(Exception):
    """A failed request. `.code` is the Modbus exception code of an exception reply, else None."""

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


class ModbusTimeout(ModbusError):
    pass


class ModbusCRCError(ModbusError):
    pass


def crc16(buf, n=None):
    if n is None:
        n = len(buf)
    crc = 0xFFFF
    for i in range(n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def encode_read(tx, slave, fc, addr, count):
    tx[0] = slave
    tx[1] = fc
    tx[2] = addr >> 8
    tx[3] = addr & 0xFF
    tx[4] = count >> 8
    tx[5] = count & 0xFF
    crc = crc16(tx, 6)
    tx[6] = crc & 0xFF
    tx[7] = crc >> 8


def reply_length(rx, fc):
    f = rx[1]
    if f == fc:
        return 5 + rx[2]
    if f == fc | 0x80:
        return 5
    return -1  # not a reply to this request: garbage


def describe(slave, fc, addr, count):
    """The request in an error message."""
    return "slave %d FC%02d @%d x%d" % (slave, fc, addr, count)


def check_reply(rx, pos, need, slave, fc, addr, count):
    if need < 0:
        raise ModbusError("%s: garbage on the line (%s...)"
                          % (describe(slave, fc, addr, count), _hex(rx, min(pos, 8))))
    if need == 0 or pos < need:
        raise ModbusError("%s: short frame, %d bytes (%s)"
                          % (describe(slave, fc, addr, count), pos, _hex(rx, min(pos, 8))))
    crc = crc16(rx, need - 2)
    if rx[need - 2] != crc & 0xFF or rx[need - 1] != crc >> 8:
        raise ModbusCRCError("%s: bad CRC in a %d-byte reply"
                             % (describe(slave, fc, addr, count), need))
    if rx[0] != slave:
        raise ModbusError("%s: reply from slave %d" % (describe(slave, fc, addr, count), rx[0]))
    if rx[1] != fc:
        code = rx[2]
        raise ModbusError("%s: exception %02X (%s)"
                          % (describe(slave, fc, addr, count), code,
                             EXCEPTION_NAMES.get(code, "unknown")), code)
    if rx[2] != 2 * count:
        raise ModbusError("%s: reply carries %d bytes, want %d"
                          % (describe(slave, fc, addr, count), rx[2], 2 * count))


def _hex(buf, n):
    return " ".join("%02X" % buf[i] for i in range(n))


# --- register decoders ----------------------------------------------------------------------------
def u16(mv, i):
    return (mv[2 * i] << 8) | mv[2 * i + 1]


def s16(mv, i):
    v = (mv[2 * i] << 8) | mv[2 * i + 1]
    return v - 0x10000 if v & 0x8000 else v


def _le(wo):
    return wo == "le" or wo == "LE"


def u32(mv, i, wo="be"):
    if _le(wo):
        return (u16(mv, i + 1) << 16) | u16(mv, i)
    return (u16(mv, i) << 16) | u16(mv, i + 1)


def s32(mv, i, wo="be"):
    v = u32(mv, i, wo)
    return v - 0x100000000 if v & 0x80000000 else v


_f32_buf = bytearray(4)


def f32(mv, i, wo="be"):
    b = _f32_buf
    j = 2 * i
    if _le(wo):
        b[0] = mv[j + 2]
        b[1] = mv[j + 3]
        b[2] = mv[j]
        b[3] = mv[j + 1]
    else:
        b[0] = mv[j]
        b[1] = mv[j + 1]
        b[2] = mv[j + 2]
        b[3] = mv[j + 3]
    return struct.unpack(">f", b)[0]
