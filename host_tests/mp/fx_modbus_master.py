# lib/modbus_rtu.py under MicroPython against a real Modbus peer (pymodbus behind
# tools/modbus_peer.py) on a pseudo-terminal. argv[1] = the line. The peer's register map and
# faults are set by host_tests/lib/test_modbus_master.py; the values here must match it.
import sys
import gc
import time
import asyncio
import machine
import modbus_decode
import _espsim_bus
_espsim_bus.RECORD = True  # the DE pin's pulses are read below (Pin.history)
from modbus_rtu import ModbusRTU, ModbusError, ModbusTimeout, ModbusCRCError
from mptest import check, eq, near, done

PATH = sys.argv[1]


class TapUART:
    """A UART that timestamps its traffic: to check the silence before each request."""

    def __init__(self, uart):
        self.u = uart
        self.events = []  # (ticks_us, "tx"|"rx", nbytes)

    def any(self):
        return self.u.any()

    def readinto(self, buf, n=-1):
        got = self.u.readinto(buf, n)
        if got and self.events is not None:
            self.events.append((time.ticks_us(), "rx", got))
        return got

    def write(self, buf):
        if self.events is not None:
            self.events.append((time.ticks_us(), "tx", len(buf)))
        return self.u.write(buf)

    def flush(self):
        self.u.flush()


class CannedUART:
    """Answers every request with the same frame, from memory, allocating nothing."""

    def __init__(self, reply):
        self.reply = reply
        self.left = 0

    def any(self):
        return self.left

    def readinto(self, buf, n=-1):
        n = min(self.left, len(buf) if n < 0 else n)
        start = len(self.reply) - self.left
        for i in range(n):
            buf[i] = self.reply[start + i]
        self.left -= n
        return n

    def write(self, buf):
        self.left = len(self.reply)
        return len(buf)

    def flush(self):
        pass


class HungUpUART:
    """A tty whose adapter went away: always 'readable', never any bytes."""

    def any(self):
        return 1

    def readinto(self, buf, n=-1):
        return None

    def write(self, buf):
        return len(buf)

    def flush(self):
        pass


class NoisyUART(HungUpUART):
    """A line that never goes quiet."""

    def readinto(self, buf, n=-1):
        buf[0] = 0x55
        return 1


class BrokenUART(HungUpUART):
    def write(self, buf):
        raise OSError(5)  # EIO


async def expect_error(bus, exc, *args, **kw):
    try:
        await bus.read(*args, **kw)
    except exc as e:
        check(True)
        return e
    check(False, "%r did not raise %s" % (args, exc.__name__))


async def main():
    uart = machine.UART(1, baudrate=9600, port=PATH)
    tap = TapUART(uart)
    de = machine.Pin(4, machine.Pin.OUT, value=0)
    bus = ModbusRTU(tap, baudrate=9600, de_pin=de, timeout_ms=300, retries=2)
    bus.busy_pause_ms = 50

    # --- known values, FC04 and FC03, both word orders, both slaves
    mv = await bus.read(1, 4, 0, 4)
    eq(len(mv), 8, "4 registers = 8 bytes")
    near(modbus_decode.f32(mv, 0), 230.2, 0.001, "f32 BE 0x43663334")
    eq(modbus_decode.u32(mv, 2, "le"), 0x00012345, "u32 low word first")
    mv = await bus.read(1, 3, 100, 3)
    eq(modbus_decode.s16(mv, 0), -1234, "s16")
    eq(modbus_decode.u16(mv, 1), 65535, "u16")
    eq(modbus_decode.u16(mv, 2), 0, "a gap inside a group reads as 0")
    mv = await bus.read(1, 3, 40000, 2)
    eq(modbus_decode.s32(mv, 0), -20000, "s32 high word first")
    mv = await bus.read(2, 3, 0x2012, 2)  # the second slave on the same line
    near(modbus_decode.f32(mv, 0), -1500.5, 0.001, "slave 2 f32")
    mv = await bus.read(1, 4, 0, 125)
    eq(len(mv), 250, "125 registers, the largest read")
    eq(modbus_decode.u16(mv, 50), 50 * 7, "register 50 of 125")
    eq(bus.ok, 5, "five good reads")

    # --- frame silence: >= 3.5 characters between any received byte and the next request
    worst = None
    last_rx = None
    for t, kind, n in tap.events:
        if kind == "rx":
            last_rx = t
        elif last_rx is not None:
            gap = time.ticks_diff(t, last_rx)
            worst = gap if worst is None else min(worst, gap)
    check(worst is not None and worst >= bus.gap_us, "silence before requests: %r us" % worst)
    print("gap_us", bus.gap_us, "smallest silence seen", worst)
    tap.events = None  # stop recording
    eq(ModbusRTU(tap, 38400).gap_us, 1750, "fixed 1.75 ms above 19200")
    eq(ModbusRTU(tap, 9600).gap_us, 4011, "3.5 x 11 bits at 9600")

    # --- DE pin: one high pulse per request, long enough for the frame and one more character
    de.history.clear()
    await bus.read(1, 4, 0, 2)
    eq([v for _, v in de.history], [1, 0], "DE high then low around the one request")
    high_us = time.ticks_diff(de.history[1][0], de.history[0][0])
    frame_us = 8 * 10 * 1000000 // 9600
    check(high_us >= frame_us + bus.char_us, "DE held %d us, frame %d + char %d" % (high_us, frame_us, bus.char_us))
    print("DE high", high_us, "us for an 8-byte request")

    # --- faults (addresses chosen by the test's peer configuration)
    de.history.clear()
    e = await expect_error(bus, ModbusTimeout, 1, 4, 10, 2)  # "silent"
    check("no reply within 300 ms" in str(e), str(e))
    eq(e.code, None, "timeout has no exception code")
    eq([v for _, v in de.history], [1, 0] * 3, "a timeout is retried twice: three DE pulses")
    eq(de.value(), 0, "DE low after a failure")

    e = await expect_error(bus, ModbusCRCError, 1, 4, 20, 2)  # "crc"
    check("bad CRC" in str(e), str(e))
    mv = await bus.read(1, 4, 21, 2)  # "crc_once": the retry succeeds
    eq(modbus_decode.u16(mv, 0), 21 * 7, "value after a CRC retry")

    e = await expect_error(bus, ModbusError, 1, 4, 30, 2)  # "exc02"
    eq(e.code, 2, "exception code 02")
    check("illegal data address" in str(e) and "slave 1 FC04 @30 x2" in str(e), str(e))
    e = await expect_error(bus, ModbusError, 1, 3, 60000, 2)  # pymodbus itself: not mapped
    eq(e.code, 2, "pymodbus answers 02 for an unmapped address")

    n_before = bus.exceptions
    mv = await bus.read(1, 4, 40, 2)  # "busy_once": 06 then the value
    eq(modbus_decode.u16(mv, 0), 40 * 7, "value after busy")
    eq(bus.exceptions - n_before, 1, "one busy reply counted")
    e = await expect_error(bus, ModbusError, 1, 4, 41, 2)  # "busy" always
    eq(e.code, 6, "busy every time -> error code 06 after the retries")

    e = await expect_error(bus, ModbusError, 1, 4, 50, 2)  # "garbage"
    check("garbage" in str(e), str(e))
    mv = await bus.read(1, 4, 51, 2)  # "garbage_once"
    eq(modbus_decode.u16(mv, 0), 51 * 7, "value after garbage")

    e = await expect_error(bus, ModbusError, 1, 4, 80, 2)  # "wrong_slave"
    check("reply from slave 2" in str(e), str(e))
    e = await expect_error(bus, ModbusError, 1, 4, 90, 2)  # "short"
    check("short frame" in str(e), str(e))
    e = await expect_error(bus, ModbusError, 1, 4, 95, 2)  # "wrong_fc"
    check("garbage" in str(e), str(e))
    e = await expect_error(bus, ModbusError, 1, 4, 98, 2)  # "noise"
    check(e.code is None, "noise is not an exception reply")

    # a 0x00 glitch before the reply is skipped; an adapter's echo of the request is dropped
    # when the bus is told about it (and is an error when not)
    mv = await bus.read(1, 4, 70, 2)
    eq(modbus_decode.u16(mv, 0), 70 * 7, "value after a glitch byte")
    bus.retries = 0
    e = await expect_error(bus, ModbusError, 1, 4, 75, 2)
    bus.local_echo = True
    mv = await bus.read(1, 4, 75, 2)
    eq(modbus_decode.u16(mv, 0), 75 * 7, "value behind the echo")
    bus.local_echo = False
    bus.retries = 2

    # a pause inside the reply: 10 ms is tolerated (USB adapters deliver in bursts), 150 ms is a
    # broken frame (idle limit 50 ms); junk after a good reply is drained before the next request
    mv = await bus.read(1, 4, 71, 2)
    eq(modbus_decode.u16(mv, 0), 71 * 7, "value across a 10 ms pause")
    bus.retries = 0
    e = await expect_error(bus, ModbusError, 1, 4, 72, 2)
    check("short frame, 4 bytes" in str(e), str(e))
    bus.retries = 2  # the broken frame's tail arrives late, into the next request: one retry
    mv = await bus.read(1, 4, 0, 4)
    near(modbus_decode.f32(mv, 0), 230.2, 0.001, "right value after a broken frame")
    bus.retries = 0
    mv = await bus.read(1, 4, 73, 2)
    eq(modbus_decode.u16(mv, 0), 73 * 7, "value with junk after it")
    mv = await bus.read(1, 4, 74, 1)  # the junk must not spoil this one (no retries left)
    eq(modbus_decode.u16(mv, 0), 74 * 7, "next read after trailing junk")
    bus.retries = 2

    # slow device: 400 ms late; fine with a 1 s timeout, a timeout with 150 ms
    mv = await bus.read(1, 4, 60, 2, timeout_ms=1000)
    eq(modbus_decode.u16(mv, 0), 60 * 7, "slow reply within the timeout")
    bus.retries = 0
    e = await expect_error(bus, ModbusTimeout, 1, 4, 60, 2, timeout_ms=150)
    # the late reply arrives after the next request went out: it must not be taken for the
    # answer to that request (its length differs); the master drops it, drains the line, retries
    bus.retries = 2
    bad = bus.bad_frames
    mv = await bus.read(1, 4, 0, 4, timeout_ms=1000)
    near(modbus_decode.f32(mv, 0), 230.2, 0.001, "right value after a late reply")
    eq(bus.bad_frames - bad, 1, "the late reply was rejected once")

    # a slave that is not on the bus
    e = await expect_error(bus, ModbusTimeout, 3, 3, 0, 1, timeout_ms=100)
    check("slave 3" in str(e), str(e))

    # --- bad arguments are programming errors
    for args in ((1, 6, 0, 1), (1, 3, 0, 0), (1, 3, 0, 126), (1, 3, 65535, 2), (248, 3, 0, 1)):
        try:
            await bus.read(*args)
            check(False, "accepted %r" % (args,))
        except ValueError:
            check(True)

    # --- two tasks sharing the bus: requests are serialised, each gets its own answer
    async def reader(slave, fc, addr, want):
        for _ in range(3):
            mv = await bus.read(slave, fc, addr, 1)
            eq(modbus_decode.u16(mv, 0), want, "shared bus slave %d" % slave)
    await asyncio.gather(reader(1, 4, 7, 49), reader(2, 3, 0x2012, 0xC4BB))

    # --- memory per read on the happy path, the master's own share: a canned UART that
    # allocates nothing answers (the pty stand-in allocates for its file reads)
    canned = CannedUART(b"\x01\x04\x04\x43\x66\x33\x34\x1b\x38")
    cbus = ModbusRTU(canned, 115200, de_pin=machine.Pin(5, machine.Pin.OUT), timeout_ms=100)
    for _ in range(3):
        await cbus.read(1, 4, 0, 2)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for _ in range(10):
        mv = await cbus.read(1, 4, 0, 2)
    per = (gc.mem_alloc() - a0) // 10
    gc.enable()
    near(modbus_decode.f32(mv, 0), 230.2, 0.001, "canned reply")
    print("heap bytes allocated per read (master + asyncio):", per)
    # two coroutine frames (read, _transact); 64-bit pointers on the unix port, half on the ESP32
    check(per <= 1024, "allocation per read %d bytes" % per)

    # --- a port that misbehaves: the event loop keeps running, the error is a ModbusError
    ticks = [0]
    stop_ticker = [False]

    async def ticker():
        while not stop_ticker[0]:
            ticks[0] += 1
            await asyncio.sleep_ms(10)
    t = asyncio.create_task(ticker())
    dead = ModbusRTU(HungUpUART(), 9600, timeout_ms=200, retries=0)
    e = await expect_error(dead, ModbusTimeout, 1, 4, 0, 2)  # readable, yet gives nothing
    noisy = ModbusRTU(NoisyUART(), 9600, timeout_ms=200, retries=0)
    e = await expect_error(noisy, ModbusError, 1, 4, 0, 2)
    check("never went quiet" in str(e), str(e))
    broken = ModbusRTU(BrokenUART(), 9600, timeout_ms=200, retries=2)
    e = await expect_error(broken, ModbusError, 1, 4, 0, 2)
    check("serial port error" in str(e), str(e))
    stop_ticker[0] = True
    await t
    check(ticks[0] >= 10, "other tasks ran while the master waited (%d ticks in ~400 ms)" % ticks[0])

    # --- for the record (not asserted): wall time of a 2-register read at 9600 baud, DE pin,
    # through the pty and pymodbus (the wire itself needs ~23 ms: 8 + 9 bytes, DE hold, silence)
    t0 = time.ticks_ms()
    for _ in range(10):
        await bus.read(1, 4, 0, 2)
    print("ms per 2-register read at 9600 baud:", time.ticks_diff(time.ticks_ms(), t0) / 10)

    # --- no DE pin (auto-direction transceiver)
    bus2 = ModbusRTU(uart, 9600, de_pin=None, timeout_ms=500)
    mv = await bus2.read(2, 3, 0x2012, 2)
    near(modbus_decode.f32(mv, 0), -1500.5, 0.001, "no DE pin")
    uart.deinit()


asyncio.run(main())
done()
