# Integer quantities as text: the ESP32's 32-bit floats would print 17511.878 kWh as 17511.88, so
# every power and energy leaves the device as an integer written with 3 decimals.


def kilo(v):
    """W -> "kW" text with 3 decimals (also Wh -> kWh, per mille -> fraction)."""
    sign = "-" if v < 0 else ""
    v = -v if v < 0 else v
    return "%s%d.%03d" % (sign, v // 1000, v % 1000)
