"""The RTU line as tools/modbus_peer.py sees it: the CRC, the length of a reply from its first
bytes, and raw pseudo-terminals (no line discipline: bytes pass as on a wire)."""
import os
import tty


def crc16(data):
    """Modbus RTU CRC-16 (polynomial 0xA001, start 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body):
    c = crc16(body)
    return bytes(body) + bytes([c & 0xFF, c >> 8])


def raw_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    return master, slave, os.ttyname(slave)


def reply_len(buf):
    """Bytes of the whole reply whose first bytes are buf (0: not known yet)."""
    if len(buf) < 3:
        return 0
    if buf[1] & 0x80:
        return 5
    if buf[1] in (1, 2, 3, 4):
        return 5 + buf[2]
    return 8  # FC05/06/15/16 echo 8 bytes
