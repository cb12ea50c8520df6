# machine.UART stand-in (host only), loaded by machine.py on first use: it opens a serial device
# or pseudo-terminal.
import os
import time
from micropython import const


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
_CS8 = const(0o60)
_CSTOPB = const(0o100)
_CREAD = const(0o200)
_PARENB = const(0o400)
_PARODD = const(0o1000)
_CLOCAL = const(0o4000)
_VTIME = const(5)
_VMIN = const(6)


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
