# Pin, SPI and UART stand-ins (host only), loaded by machine.py on first use of any of them or
# of the test helpers attach_spi_device / detach_all. SPI forwards each chip-select cycle to a
# device model attached with machine.attach_spi_device(); UART opens a serial device or
# pseudo-terminal.
import os
import time

# Device models attached to the simulated buses: ("cs", pin) -> model with cs(level) and
# xfer(out_bytes) -> in_bytes. Attach with machine.attach_spi_device(cs_pin, model).
_devices = {}
_cs_models = {}  # the same models by pin number, and the last one selected: a frame then
_sel = [None]    # allocates nothing here (drivers measure their allocation per poll through it)


def attach_spi_device(cs_pin, model):
    _devices[("cs", cs_pin)] = model
    _cs_models[cs_pin] = model


def detach_all():
    _devices.clear()
    _cs_models.clear()
    _sel[0] = None


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self._v = 0 if value is None else value
        self.history = []  # (ticks_us, value) of writes, for bus-timing tests

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        if len(self.history) < 64:
            self.history.append((time.ticks_us(), self._v))
        dev = _cs_models.get(self.id)
        if dev is not None:
            if not self._v:
                _sel[0] = dev
            dev.cs(self._v)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=0):
        return None


class SPI:
    MSB = 0
    LSB = 1

    def __init__(self, id=1, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        self.init(baudrate, polarity, phase, bits, firstbit)

    def init(self, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0, sck=None,
             mosi=None, miso=None):
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase
        self.firstbit = firstbit

    def deinit(self):
        pass

    def _active(self):
        dev = _sel[0]
        if dev is not None and getattr(dev, "selected", False):
            return dev
        for key, dev in _devices.items():
            if key[0] == "cs" and getattr(dev, "selected", False):
                return dev
        return None

    def write_readinto(self, out, into):
        dev = self._active()
        if dev is None:
            for i in range(len(into)):
                into[i] = 0xFF  # nothing drives MISO: it floats high
            return
        dev.xfer(self, out, into)

    def write(self, buf):
        scratch = bytearray(len(buf))
        self.write_readinto(buf, scratch)

    def readinto(self, buf, write=0):
        self.write_readinto(bytes([write]) * len(buf), buf)

    def read(self, n, write=0):
        buf = bytearray(n)
        self.readinto(buf, write)
        return buf


class UART:
    # Opens a serial device or pseudo-terminal. `port=` names it (host-only keyword); else
    # ESPSIM_UART<id> from the environment.
    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, tx=None, rx=None,
                 timeout=0, timeout_char=0, rxbuf=256, port=None):
        self.id = id
        self._f = None
        self._port = port or os.getenv("ESPSIM_UART%d" % id)
        self._tx_end = time.ticks_us()
        self._poll = None
        self.init(baudrate, bits, parity, stop, timeout=timeout, timeout_char=timeout_char)

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, tx=None, rx=None, timeout=0,
             timeout_char=0, rxbuf=256):
        self.baudrate = baudrate
        self.bits = bits
        self.parity = parity
        self.stop = stop
        if self._f is None and self._port:
            self._f = open(self._port, "r+b")
            _set_raw(self._f, baudrate, parity, stop)

    def deinit(self):
        if self._f:
            self._f.close()
            self._f = None
            self._poll = None

    def fileno(self):
        return self._f.fileno()

    def any(self):
        # 1 when bytes wait (a pty cannot tell how many); one poll object, ipoll: no allocation
        if self._poll is None:
            import select
            self._poll = select.poll()
            self._poll.register(self._f, select.POLLIN)
        for _ in self._poll.ipoll(0):
            return 1
        return 0

    def read(self, n=-1):
        if not self.any():
            return None
        return self._f.read(n if n > 0 else 256)

    def readinto(self, buf, n=-1):
        if not self.any():
            return None
        # straight into the caller's buffer: no allocation here (the drivers' per-poll figures
        # measure through this stand-in)
        got = self._f.readinto(buf, len(buf) if n < 0 else min(n, len(buf)))
        return got or None

    def write(self, buf):
        n = self._f.write(buf)  # unbuffered: no file flush (fsync on a tty is EINVAL)
        # The bytes leave the wire at the baud rate (10 bits each, 8N1): flush()/txdone() model
        # that, so bus-direction (DE pin) timing can be checked as on the chip.
        now = time.ticks_us()
        start = self._tx_end if time.ticks_diff(self._tx_end, now) > 0 else now
        self._tx_end = time.ticks_add(start, len(buf) * 10000000 // self.baudrate)
        return n

    def flush(self):
        left = time.ticks_diff(self._tx_end, time.ticks_us())
        if left > 0:
            time.sleep_us(left)

    def txdone(self):
        return time.ticks_diff(self._tx_end, time.ticks_us()) <= 0

    # asyncio.StreamReader/Writer need these
    def ioctl(self, req, arg):
        return self._f.ioctl(req, arg) if hasattr(self._f, "ioctl") else 0


# Linux termios values: the unix port's termios module has only B9600 and up, and no flag names
_BAUD = {1200: 0o11, 2400: 0o13, 4800: 0o14, 9600: 0o15, 19200: 0o16, 38400: 0o17,
         57600: 0o10001, 115200: 0o10002}
_CS8, _CSTOPB, _CREAD, _PARENB, _PARODD, _CLOCAL = 0o60, 0o100, 0o200, 0o400, 0o1000, 0o4000
_VTIME, _VMIN = 5, 6


def _set_raw(f, baud, parity=None, stop=1):
    # Raw 8-bit line at `baud`, parity None/0 (even)/1 (odd), reads that never block (VMIN=0):
    # what a real USB-RS485 adapter needs; a pseudo-terminal takes it too.
    try:
        import termios
        fd = f.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        cflag = (attrs[2] & ~(0o60 | _CSTOPB | _PARENB | _PARODD | 0o10017)) | _CS8 | _CREAD | _CLOCAL
        if parity is not None:
            cflag |= _PARENB | (_PARODD if parity == 1 else 0)
        if stop == 2:
            cflag |= _CSTOPB
        rate = _BAUD.get(baud, attrs[4])
        attrs[0] = 0
        attrs[1] = 0
        attrs[2] = cflag | rate
        attrs[3] = 0
        attrs[4] = rate
        attrs[5] = rate
        attrs[6][_VMIN] = 0
        attrs[6][_VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except (ImportError, OSError) as e:  # not a terminal: a plain file or pipe works as it is
        print("[espsim] UART: could not set the line up (%s)" % e)


# The simulator's CT board: ESPSIM_ATM90E32=day attaches a CircuitSetup split-phase board model
# (grid CT on phase A, solar CT on phase C, a day profile) to the board profile's CS pin. The
# firmware reaches it through machine.Pin / machine.SPI, which load this module first.
if os.getenv("ESPSIM_ATM90E32") == "day":
    import atm90e32_model
    atm90e32_model.attach_from_env(attach_spi_device)
