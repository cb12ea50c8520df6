"""Modbus RTU master (FC03/FC04) for MicroPython and CPython, asyncio, on any UART-like object.

    import modbus_rtu, modbus_decode
    bus = modbus_rtu.ModbusRTU(uart, baudrate=9600, de_pin=None, timeout_ms=1000, retries=2)
    regs = await bus.read(slave=1, fc=4, addr=0x0034, count=2)      # memoryview, 2*count bytes
    watts = modbus_decode.f32(regs, 0)                                # register 0 and 1, high word first
    kwh = modbus_decode.u32(regs, 0, "le")                            # low word first

The UART: anything with any() -> bytes waiting, readinto(buf, n) -> bytes read (or None),
write(buf), flush() (blocks until the bytes left the wire). machine.UART on the ESP32 (create it
with timeout=0 so reads never block), the host stand-in (host_tests/stubs/_espsim_uart.py) on a
pseudo-terminal or a real /dev/ttyUSB0 under the unix port.

read(slave, fc, addr, count, timeout_ms=None) -> memoryview of the 2*count register bytes as on
the wire (big-endian within each register). The view points into the master's own buffer: it is
valid until the next call on the same bus. Addresses are 0-based wire addresses. count 1..125.

Per request:
- waits for 3.5 character times of line silence (1.75 ms above 19200 baud), discarding whatever
  arrives meanwhile (late replies, noise); after a failed attempt (timeout, bad frame) for
  drain_us (100 ms) of silence, as the slave may still be answering: this is how the master
  resynchronises;
- with a DE/RE pin: pin high, write, uart.flush(), one character time, pin low. The flush blocks
  on purpose: yielding to other tasks here could keep the driver on while the slave answers.
  de_pin: a machine.Pin or a pin number; auto-direction transceivers: None;
- waits up to timeout_ms (per call, else the bus default) for the first reply byte; a frame that
  stops arriving for about 10 character times (at least 50 ms: USB adapters deliver in bursts) is short.
- checks CRC, slave id, function, byte count. Failures raise (after `retries` more attempts):
    ModbusTimeout     no reply at all
    ModbusCRCError    CRC mismatch
    ModbusError       exception reply (.code = the exception code; 06 busy is retried after
                      busy_pause_ms), wrong slave, wrong function, wrong length, garbage
  Exception replies other than 06 are not retried: the device answered and will answer the same.
  An OSError of the port (USB adapter unplugged) becomes a ModbusError at once.
- Several tasks may share one bus: requests are serialised.

Tolerated without an error: a 0x00/0xFF glitch byte before the reply (an unbiased line turning
around); with bus.local_echo = True, the adapter's echo of our own 8-byte request.

Counters for status pages: ok, timeouts, bad_frames, exceptions.

This module moves bytes (line timing, direction pin, retries); what the frames are is in
modbus_frame.py (CRC, request, reply checks; its errors are re-exported here), and what the
register bytes mean in modbus_decode.py: u16, s16, u32, s32, f32 (not imported here: the firmware
does not use them).
"""
import asyncio

from micropython import const

from modbus_frame import (ModbusError, ModbusTimeout, ModbusCRCError,  # noqa: F401 (re-exported)
                          encode_read, reply_length, describe, check_reply)

try:
    from time import ticks_us, ticks_ms, ticks_diff, sleep_us
except ImportError:  # CPython
    from time import monotonic, sleep

    def ticks_us():
        return int(monotonic() * 1000000)

    def ticks_ms():
        return int(monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def sleep_us(us):
        sleep(us / 1000000)

_sleep_ms = getattr(asyncio, "sleep_ms", None)
if _sleep_ms is None:  # CPython
    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

_RX_MAX = const(256)  # largest RTU frame
_CHUNK = const(64)
_MAX_REGS = const(125)
_POLL_MS = const(1)  # while a frame arrives, and while waiting for silence
_WAIT_MS = const(5)  # while waiting for a reply to start (slow devices: seconds)

class ModbusRTU:
    def __init__(self, uart, baudrate=9600, de_pin=None, timeout_ms=1000, retries=2):
        self.uart = uart
        if isinstance(de_pin, int):
            import machine
            de_pin = machine.Pin(de_pin, machine.Pin.OUT, value=0)
        self.de = de_pin
        if de_pin is not None:
            de_pin.value(0)
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.busy_pause_ms = 250
        self.local_echo = False  # True for adapters that echo what they send (drops 8 bytes)
        # 11 bits per character (start, 8 data, parity or 2nd stop, stop): the spec's worst case
        self.char_us = (11000000 + baudrate - 1) // baudrate
        self.gap_us = 1750 if baudrate > 19200 else (self.char_us * 35 + 9) // 10
        self.idle_us = max(50000, 10 * self.char_us)  # a frame that stops this long is short
        # after a failed attempt the slave may still be answering (late, or behind garbage): the
        # next request waits for this much silence instead of 3.5 characters
        self.drain_us = max(100000, self.idle_us)
        self._dirty = False
        self._tx = bytearray(8)
        self._rx = bytearray(_RX_MAX)
        self._rxmv = memoryview(self._rx)
        self._chunk = bytearray(_CHUNK)
        self._views = {}  # count -> view into _rx: one memoryview per size, made once
        self._busy = False
        self._t_last = ticks_us()  # last time the line carried bytes (ours or anyone's)
        self.ok = 0
        self.timeouts = 0
        self.bad_frames = 0
        self.exceptions = 0

    async def read(self, slave, fc, addr, count, timeout_ms=None):
        if fc != 3 and fc != 4:
            raise ValueError("only FC03 and FC04")
        if not 1 <= count <= _MAX_REGS or not 0 <= addr or addr + count > 0x10000:
            raise ValueError("bad register range")
        if not 0 <= slave <= 247:
            raise ValueError("bad slave id")
        tmo = self.timeout_ms if timeout_ms is None else timeout_ms
        # one request on the line at a time (a flag, not asyncio.Lock: that allocates per use)
        while self._busy:
            await _sleep_ms(_POLL_MS)
        self._busy = True
        try:
            last = None
            for attempt in range(self.retries + 1):
                if last is not None and last.code == 6:
                    await _sleep_ms(self.busy_pause_ms)
                try:
                    await self._transact(slave, fc, addr, count, tmo)
                    self.ok += 1
                    v = self._views.get(count)
                    if v is None:
                        v = self._rxmv[3:3 + 2 * count]
                        self._views[count] = v
                    return v
                except OSError as e:  # the port itself failed (a USB adapter unplugged)
                    self.bad_frames += 1
                    self._dirty = True
                    raise ModbusError("%s: serial port error: %s"
                                      % (describe(slave, fc, addr, count), e))
                except ModbusError as e:
                    if isinstance(e, ModbusTimeout):
                        self.timeouts += 1
                    elif e.code is not None:
                        self.exceptions += 1
                    else:
                        self.bad_frames += 1
                    if e.code is None:
                        self._dirty = True  # drain longer before the next request
                    if e.code is not None and e.code != 6:
                        raise
                    last = e
            raise last
        finally:
            self._busy = False

    def _send(self, slave, fc, addr, count):
        tx = self._tx
        encode_read(tx, slave, fc, addr, count)
        de = self.de
        if de is not None:
            de.value(1)
            try:
                self.uart.write(tx)
                self.uart.flush()  # blocks until the last stop bit left
                sleep_us(self.char_us)
            finally:
                de.value(0)
        else:
            self.uart.write(tx)
        self._t_last = ticks_us()

    async def _transact(self, slave, fc, addr, count, tmo):
        uart = self.uart
        rx = self._rx
        chunk = self._chunk
        # 3.5 characters of silence first (drain_us after a failure), throwing away whatever
        # arrives (late replies, noise): this is how the master resynchronises
        quiet_us = self.drain_us if self._dirty else self.gap_us
        t0 = ticks_ms()
        while True:
            k = uart.any()
            if k and uart.readinto(chunk, min(k, _CHUNK)):
                self._t_last = ticks_us()
                if ticks_diff(ticks_ms(), t0) > tmo:
                    raise ModbusError("%s: the bus never went quiet (noise or another master)"
                                      % describe(slave, fc, addr, count))
            elif ticks_diff(ticks_us(), self._t_last) >= quiet_us:
                break
            await _sleep_ms(_POLL_MS)
        self._dirty = False
        self._send(slave, fc, addr, count)
        pos = 0
        need = 0  # frame length once known
        skip = 8 if self.local_echo else 0
        t0 = ticks_ms()
        while True:
            k = uart.any()
            n = 0
            if k:
                room = _RX_MAX - pos
                if room <= 0:
                    break
                # a hung-up tty (adapter unplugged) says "readable" and gives nothing: n = 0
                n = uart.readinto(chunk, min(k, room, _CHUNK)) or 0
            if n:
                for i in range(n):
                    b = chunk[i]
                    if skip:
                        skip -= 1  # our own request, echoed by the adapter
                    elif pos == 0 and (b == 0 or b == 0xFF) and b != slave:
                        pass  # a glitch as the line turns around (no bias resistors): not a frame
                    else:
                        rx[pos] = b
                        pos += 1
                self._t_last = ticks_us()
                if need == 0 and pos >= 3:
                    need = reply_length(rx, fc)
                    if need < 0:
                        break  # not a reply to this request: garbage
                if need > 0 and pos >= need:
                    break
                continue
            if pos == 0:
                if ticks_diff(ticks_ms(), t0) >= tmo:
                    raise ModbusTimeout("%s: no reply within %d ms"
                                        % (describe(slave, fc, addr, count), tmo))
            elif ticks_diff(ticks_us(), self._t_last) >= self.idle_us:
                break
            await _sleep_ms(_POLL_MS if pos else _WAIT_MS)
        check_reply(rx, pos, need, slave, fc, addr, count)
