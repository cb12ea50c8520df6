# The MicroPython-side checks at the end of fx_portal.py (a module of its own so that the heap
# measured while serving does not include it).
import sys
from mptest import check, eq
from app.core import config


def run(mode, saved, lines):
    if "heaponly" in sys.argv:  # the heap test: it reports what worked itself
        check(True, "measured")
    elif mode == "setup":
        cfg = config.load()
        check(not cfg.needs_setup, "saved config is complete: %s" % cfg.problem)
        eq(cfg.errors, [], "saved config has no errors")
        eq(cfg.get("wifi", "ssid"), sys.argv[3] if len(sys.argv) > 3 else "HomeNet", "ssid saved")
        check(len(cfg.get("chargehq", "api_key")) > 10, "api key saved")
        check(saved and saved[-1][1], "on_saved called after joining: %r" % saved)
        check(any("joined" in l for l in lines), "join logged")
        check(not any("KEY" in l and "chq" in l for l in lines), "api key never logged")
    else:
        check(saved, "settings saved through the LAN page: %r" % saved)
        cfg = config.load()
        eq(cfg.get("chargehq", "push_interval_s"), 120, "new interval saved")
        eq(cfg.get("chargehq", "api_key"), "status-test-KEY-0123456789", "blank api key keeps the old one")
