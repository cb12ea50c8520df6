# ticks_ms / ticks_diff / ticks_add: MicroPython's own, and on CPython (host tests) the same
# arithmetic with the ESP32's 2**30 ms wrap, so one source runs on both.
try:
    from time import ticks_ms, ticks_diff, ticks_add
except ImportError:
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000) & 0x3FFFFFFF

    def ticks_diff(a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000

    def ticks_add(t, d):
        return (t + d) & 0x3FFFFFFF
