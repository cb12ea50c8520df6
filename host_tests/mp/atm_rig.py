# Test rig (host only): an ATM90E32 chip model on the SPI stand-in and a driver talking to it.
import machine
import atm90e32
from atm90e32_model import ATM90E32Model


def no_sleep(ms):
    pass


def rig(cs=5, line_hz=50, phases="ABC", pga=1, ugain=7305, igain=27961, model=None,
        events=None, begin=True, mains_v=230, **model_kw):
    machine.detach_all()
    if model is None:
        model = ATM90E32Model(line_hz=line_hz, ugain_true=ugain,
                              igain_true_1x=(igain if isinstance(igain, int) else igain[0]) * (
                                  pga if isinstance(pga, int) else 1), **model_kw)
    machine.attach_spi_device(cs, model)
    spi = machine.SPI(2, baudrate=1000000, polarity=1, phase=1)
    pin = machine.Pin(cs, machine.Pin.OUT, value=1)
    d = atm90e32.ATM90E32(spi, pin, line_hz=line_hz, phases=phases, pga=pga, ugain=ugain,
                          igain=igain, on_event=(events.append if events is not None else None),
                          sleep_ms=no_sleep, mains_v=mains_v)
    if begin:
        d.begin()
    return model, d, spi, pin


def frame(spi, pin, data):
    """One raw chip-select cycle: -> the bytes read."""
    rx = bytearray(len(data))
    pin.value(0)
    spi.write_readinto(bytes(data), rx)
    pin.value(1)
    return rx
