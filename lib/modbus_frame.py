"""Modbus RTU frames, without I/O: CRC-16, the FC03/FC04 read request, the checks of a reply and
the errors they raise. Pure functions on caller-owned buffers (the request and the checks of a
good reply allocate nothing), used by the UART master (modbus_rtu.py, which re-exports the
errors) and usable alone by a tool or a test that holds bytes from elsewhere. What the register
bytes mean is modbus_decode.py's.

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
describe(slave, fc, addr, count) -> "slave 1 FC04 @30 x2", how error messages name a request.
"""
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
