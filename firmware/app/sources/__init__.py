"""Where readings come from: CT clamps on ATM90E32 chips (ct, ct_board, ct_check, calibrate), Modbus
meters and inverters (modbus, modbus_check, modbus_profile, profile_file), a simulated site.
May import: app.sources, lib."""
from app.sources.base import SourceError  # noqa: F401  (the one error every source raises)

# Sources of site readings. Every source has the same small interface:
#
#   class XxxSource:
#       name = "xxx"                          # short, for logs and status
#       def __init__(self, cfg, board, log)   # cfg: the "source" dict of the config (validated)
#                                             # board: the board profile dict (or None)
#                                             # log: app.log.Log (log.info/warn/error(msg))
#       async def start(self)                 # open the hardware; raise SourceError if absent
#       async def poll(self, site)            # fill app.site.Site in place (integers only);
#                                             # raise SourceError(msg) when the meter cannot be
#                                             # read: never report zeros for a failure
#       def close(self)
#
# Energy: either count it (d_import_uwh / d_export_uwh: this poll's share, integer uWh) or
# report the meter's lifetime counters (hw_import_wh / hw_export_wh): the energy store keeps the
# device's totals monotonic and never counts twice.


def make_source(cfg, board, log):
    """Build the source named by cfg["type"] (imported lazily: only one is ever in RAM)."""
    kind = cfg.get("type")
    if kind == "simulated":
        from app.sources.simulated import SimulatedSource
        return SimulatedSource(cfg, board, log)
    if kind == "atm90e32":
        from app.sources.ct import CTSource
        return CTSource(cfg, board, log)
    if kind == "modbus":
        from app.sources.modbus import ModbusSource
        return ModbusSource(cfg, board, log)
    raise SourceError("unknown source type %r" % (kind,))
