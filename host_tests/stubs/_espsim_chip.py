# The CT board's chip outside the device (host only): ESPSIM_ATM90E32_PEER names a folder with two
# FIFOs to a process that runs the ATM90E32 model (tools/atm90e32_peer.py starts it). On a board
# the chip is another piece of silicon: its registers, its day of simulated mains and the model's
# code must not sit in the ESP32's heap, where in-process they took ~12 KB of a 112 KB budget.
# Wire protocol, one byte stream each way, the device side's order kept:
#   b"C" + level            chip select edge (no answer)
#   b"X" + pol + pha + n + n bytes of MOSI    -> n bytes of MISO
#   b"P"                    the device powered on: the chip powers on too (answer b"p")
# Writes go straight to the FIFO (MicroPython files are unbuffered; flush() would fsync a pipe:
# EINVAL). Buffers are made once: a frame allocates nothing here, so the drivers' allocation per poll is
# still measured through it.
import os

_MAX = 64


def board_cs(default=5):
    """The first chip's CS pin of the split-phase board profile in the device's folder."""
    import json
    try:
        with open("boards/circuitsetup_split.json") as f:
            return json.load(f)["chips"][0]["cs"]
    except (OSError, ValueError, KeyError, IndexError):
        return default


class RemoteChip:
    def __init__(self, folder):
        self._req = open(folder + "/req", "wb")   # (opened in this order by both sides)
        self._resp = open(folder + "/resp", "rb")
        self._cs = bytearray(b"C0")
        self._hdr = bytearray(b"X\x00\x00\x00")
        self._miso = bytearray(_MAX)
        self._mv = memoryview(self._miso)
        self._views = {}
        self.selected = False
        if os.getenv("ESPSIM_RESET_CAUSE", "power") == "power":
            self._req.write(b"P")
            self._resp.read(1)

    def cs(self, level):
        self.selected = not level
        self._cs[1] = 0x31 if level else 0x30
        self._req.write(self._cs)

    def xfer(self, spi, out, into):
        n = len(out)
        h = self._hdr
        h[1] = spi.polarity
        h[2] = spi.phase
        h[3] = n
        self._req.write(h)
        self._req.write(out)
        # (MicroPython's readinto reads until the buffer is full: one view per frame length,
        # made the first time that length is seen, so no frame allocates after that)
        view = self._views.get(n)
        if view is None:
            view = self._views[n] = self._mv[:n]
        if self._resp.readinto(view) != n:
            raise OSError(5)  # the chip's process ended: as a board with its chip gone
        for i in range(n):
            into[i] = self._miso[i]
