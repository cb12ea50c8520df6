# ESP32-like `machine` for the unix port (host only). Overrides the unix port's own module.
# On the chip `machine` is C in flash and costs no heap; here its code does, so this file keeps
# only what every boot touches. The rest loads on first use (module __getattr__ below):
# _espsim_hw.py (RTC, WDT, Timer, IRQ switches), _espsim_bus.py (Pin and the test helpers
# attach_spi_device / detach_all that put a device model on a chip select), _espsim_spi.py,
# _espsim_uart.py.
import time
import _espsim

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset_cause():
    c = ("power", "hard", "wdt", "deepsleep", "soft")
    return c.index(_espsim.RESET_CAUSE) + 1 if _espsim.RESET_CAUSE in c else 1


def reset():
    _espsim.die("soft")


soft_reset = reset


def unique_id():
    return b"\x24\x0a\xc4\x12\x34\x56"


def freq(hz=None):
    return 240000000


def idle():
    time.sleep_ms(1)


def __getattr__(name):
    # first use of a host-only part: load its module and keep the name here
    m = __import__("_espsim_uart" if name == "UART" else "_espsim_spi" if name == "SPI" else
                   "_espsim_bus" if name in ("Pin", "attach_spi_device", "detach_all") else "_espsim_hw")
    v = getattr(m, name)
    globals()[name] = v
    return v
