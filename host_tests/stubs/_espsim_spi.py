# machine.SPI stand-in (host only), loaded by machine.py on first use: it forwards each
# chip-select cycle to the device model attached with machine.attach_spi_device().
from _espsim_bus import _devices, _sel


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
