# The ATM90E32 chip of the simulator's CT board, in a process of its own (host only; run by
# tools/atm90e32_peer.py under MicroPython with the stand-ins, for the model's ticks). It serves
# the device's SPI stand-in (host_tests/stubs/_espsim_chip.py) over two FIFOs in argv[1]; the
# working folder is the device's (board profile, atm90e32_fault). It outlives the device's resets,
# as the chip does; a power-on of the device ("P") powers the chip on again.
import sys
import atm90e32_model

folder = sys.argv[1]


class _Spi:
    polarity = 1
    phase = 1


def new_chip():
    holder = []
    atm90e32_model.attach_from_env(lambda cs, m: holder.append(m))
    return holder[0]


def serve(chip):
    req = open(folder + "/req", "rb")
    resp = open(folder + "/resp", "wb")
    spi = _Spi()
    miso = bytearray(64)
    while True:
        op = req.read(1)
        if not op:
            break  # the device is gone (reset or power cut): wait for the next one
        if op == b"C":
            chip.cs(req.read(1) == b"1")
        elif op == b"X":
            h = req.read(3)
            spi.polarity, spi.phase, n = h[0], h[1], h[2]
            out = req.read(n)
            view = memoryview(miso)[:n]
            chip.xfer(spi, out, view)
            resp.write(view)
        elif op == b"P":
            chip = new_chip()
            resp.write(b"p")
    req.close()
    resp.close()
    return chip


print("ATM90E32-PEER ready")
chip = new_chip()
while True:
    chip = serve(chip)
