# The Push API body, built from integers so every number is exact to 3 decimals (the ESP32's
# 32-bit floats would print 17511.878 kWh as 17511.88).
import json
from app.core.clock import unix_ms
from app.core.site import kilo


def body(api_key, site=None, consumption_w=None, energy_wh=None, error=None, tsms_s=None):
    """-> JSON text.

    site: app.site.Site, or None with error set. energy_wh: [import, export] lifetime Wh when a
    grid meter exists. tsms_s: the reading's time (2000-epoch seconds) when delayed and the clock
    is synced, else None.
    """
    parts = ['{"apiKey":', json.dumps(api_key)]
    if tsms_s is not None:
        parts.append(',"tsms":%d' % unix_ms(tsms_s))
    if error is not None:
        parts.append(',"error":')
        parts.append(json.dumps(error[:100]))
        parts.append("}")
        return "".join(parts)
    fields = []
    if site.solar_w is not None:
        fields.append('"production_kw":' + kilo(site.solar_w))
    if site.grid_w is not None:
        fields.append('"net_import_kw":' + kilo(site.grid_w))
        if consumption_w is not None:
            fields.append('"consumption_kw":' + kilo(consumption_w))
        if energy_wh is not None:
            fields.append('"imported_kwh":' + kilo(energy_wh[0]))
            fields.append('"exported_kwh":' + kilo(energy_wh[1]))
    elif consumption_w is not None and site.load_w is not None:
        fields.append('"consumption_kw":' + kilo(consumption_w))
    if site.battery_w is not None:
        fields.append('"battery_discharge_kw":' + kilo(site.battery_w))
    if site.soc_pm is not None:
        fields.append('"battery_soc":' + kilo(site.soc_pm))
    if site.battery_wh is not None:
        fields.append('"battery_energy_kwh":' + kilo(site.battery_wh))
    parts.append(',"siteMeters":{')
    parts.append(",".join(fields))
    parts.append("}}")
    return "".join(parts)
