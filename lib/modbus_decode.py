"""Modbus register values from the bytes of a reply (a memoryview from modbus_rtu's read(), or
any bytes): pure functions, no I/O, nothing imported but struct. The master does not import this
module, so a caller that decodes with its own code does not load it.

`i` = register index within the view, word order "be" = high word first, "le" = low word first;
bytes within a register are always big-endian:
    u16(mv, i)  s16(mv, i)  u32(mv, i, wo="be")  s32(mv, i, wo="be")  f32(mv, i, wo="be")
"""
import struct


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
