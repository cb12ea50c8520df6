# What a source reports about the site, in integers (the ESP32's floats are 32-bit and boxed:
# every float allocates, integers below 2**30 do not). None = the site cannot measure it.
from micropython import const

EPOCH_2000_MS = const(946684800000)


class Site:
    __slots__ = (
        "grid_w",        # net import, W; negative = export
        "solar_w",       # production, W
        "battery_w",     # battery discharge, W; negative = charging
        "load_w",        # consumption, W, when measured (else derived from the balance)
        "soc_pm",        # battery state of charge, per mille (0..1000)
        "battery_wh",    # energy held in the battery, Wh
        "d_import_uwh",  # grid energy imported since the previous poll, uWh (source counts it)
        "d_export_uwh",  # grid energy exported since the previous poll, uWh
        "hw_import_wh",  # the meter's own lifetime import counter, Wh (when it has one)
        "hw_export_wh",  # the meter's own lifetime export counter, Wh
        "t_ms",          # time.ticks_ms() of the reading
        "t_s",           # time.time() of the reading (seconds since 2000)
        "notes",         # None, or what is wrong with the reading (text: source, range screen)
        "dropped",       # bits of app.core.validate: values dropped as out of range (0: none)
    )

    def __init__(self):
        self.clear()

    def clear(self):
        self.grid_w = None
        self.solar_w = None
        self.battery_w = None
        self.load_w = None
        self.soc_pm = None
        self.battery_wh = None
        self.d_import_uwh = 0
        self.d_export_uwh = 0
        self.hw_import_wh = None
        self.hw_export_wh = None
        self.t_ms = 0
        self.t_s = 0
        self.notes = None
        self.dropped = 0

    def copy_into(self, other):
        for name in Site.__slots__:
            setattr(other, name, getattr(self, name))


# Integers as text: the ESP32's 32-bit floats would print 17511.878 kWh as 17511.88, so every power
# and energy leaves the device as an integer written with 3 decimals.
def kilo(v):
    """W -> "kW" text with 3 decimals (also Wh -> kWh, per mille -> fraction)."""
    sign = "-" if v < 0 else ""
    v = -v if v < 0 else v
    return "%s%d.%03d" % (sign, v // 1000, v % 1000)
