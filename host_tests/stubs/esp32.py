# ESP32-like `esp32` for the unix port (host only). NVS and Partition live in _espsim_esp32.py
# and load on first use (module __getattr__): on the chip this module is C in flash and costs no
# heap, so the stand-in keeps its import small.
HEAP_DATA = 4
HEAP_EXEC = 1


def raw_temperature():
    return 120  # Fahrenheit, like the chip


def mcu_temperature():
    return 49


def idf_heap_info(flags):
    return [(113200, 61000, 55296, 40000)]


def wake_on_ext0(pin, level):
    pass


def __getattr__(name):
    import _espsim_esp32
    v = getattr(_espsim_esp32, name)
    globals()[name] = v
    return v
