# Fault driver (host only, MicroPython unix port): the CT source (ATM90E32 driver) against the
# register-level chip model with faults: absent chip, MISO stuck low, garbage on MISO, a chip
# reset (brown-out: MeterEn back to 0), an over-range current. After each fault clears, the
# source must read good values again within a few polls.
#
#   micropython espsim_run.py bench/fault_ct.py COUNT SEED     (cwd: a device folder with boards/)
import sys
import json
import random
import asyncio
import machine
from atm90e32_model import split_board_model
from app.core.log import Log
from app.core.site import Site
from app.sources import SourceError, make_source

count, seed = int(sys.argv[1]), int(sys.argv[2])
random.seed(seed)
with open("boards/circuitsetup_split.json") as f:
    board = json.load(f)
model = split_board_model(50, 12, 1)
machine.attach_spi_device(board["chips"][0]["cs"], model)
cfg = {"type": "atm90e32", "line_hz": 50, "ct_model": "SCT-013-000",
       "channels": [{"chip": 0, "phase": "A", "role": "grid"},
                    {"chip": 0, "phase": "C", "role": "solar"}]}
KINDS = ("absent", "stuck_low", "garbage", "reset", "overrange")


async def main():
    src = make_source(cfg, board, Log(echo=False))
    await src.start()
    site = Site()
    n = errors = unhandled = recovered = silent = 0
    worst = 0
    for i in range(count):
        kind = KINDS[i] if i < len(KINDS) else KINDS[random.getrandbits(8) % len(KINDS)]
        n += 1
        if kind == "reset":
            model.reset()
        elif kind == "overrange":
            model.set_load(0, 0.0, amps=80.0)
        else:
            model.fault = kind
        try:
            site.clear()
            await src.poll(site)
            silent += 1  # read through the fault (a reset re-initialises; garbage may pass checks)
        except SourceError as e:
            errors += 1
            if n <= 10:
                print("FAULT", kind, "->", e)
        except Exception as e:
            unhandled += 1
            print("FAULT", kind, "UNHANDLED %s: %s" % (type(e).__name__, e))
        model.fault = None
        model.amps_override[0] = None
        for tries in range(1, 20):
            try:
                site.clear()
                await src.poll(site)
                if site.grid_w is not None and site.solar_w is not None:
                    recovered += 1
                    worst = max(worst, tries)
                    break
            except SourceError:
                await asyncio.sleep_ms(50)
            except Exception as e:
                unhandled += 1
                print("FAULT", kind, "UNHANDLED on recovery %s: %s" % (type(e).__name__, e))
        else:
            print("FAULT", kind, "NOT RECOVERED")
    src.close()
    print("FAULTS n=%d handled=%d unhandled=%d recovered=%d read_through=%d worst_polls=%d" % (
        n, errors + silent, unhandled, recovered, silent, worst))


asyncio.run(main())
