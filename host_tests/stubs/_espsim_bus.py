# machine.Pin and the device models on chip selects (host only), loaded by machine.py on first
# use of Pin or of the test helpers attach_spi_device / detach_all. SPI is in _espsim_spi.py and
# UART in _espsim_uart.py: a device has a CT board on SPI or a Modbus meter on a UART (with a
# direction pin), so each loads only what it drives.
import os
import time

# Device models attached to the simulated buses: ("cs", pin) -> model with cs(level) and
# xfer(out_bytes) -> in_bytes. Attach with machine.attach_spi_device(cs_pin, model).
_devices = {}
_cs_models = {}  # the same models by pin number, and the last one selected: a frame then
_sel = [None]    # allocates nothing here (drivers measure their allocation per poll through it)
# Pin.history is kept only when a test of bus timing sets this: on a chip Pin is C and keeps
# nothing in the heap, and 64 (ticks, value) tuples per written pin (the CT board's chip select,
# the status LED) took ~1.3 KB each of the heap the firmware is measured against
RECORD = False


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
        self.history = []  # (ticks_us, value) of writes, for bus-timing tests (RECORD)

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        if RECORD and len(self.history) < 64:
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


# The simulator's CT board: ESPSIM_ATM90E32=day attaches a CircuitSetup split-phase board model
# (grid CT on phase A, solar CT on phase C, a day profile) to the board profile's CS pin. The
# firmware reaches it through machine.Pin / machine.SPI, which load this module first.
# With ESPSIM_ATM90E32_PEER the model runs in a process of its own, as the chip is not in the
# ESP32's RAM (_espsim_chip; the simulator does this); without it, in this interpreter.
if os.getenv("ESPSIM_ATM90E32") == "day":
    if os.getenv("ESPSIM_ATM90E32_PEER"):
        import _espsim_chip
        attach_spi_device(_espsim_chip.board_cs(), _espsim_chip.RemoteChip(os.getenv("ESPSIM_ATM90E32_PEER")))
    else:
        import atm90e32_model
        atm90e32_model.attach_from_env(attach_spi_device)
