# Fault driver (host only, MicroPython unix port): the Modbus source (RTU master + SDM630
# profile) against a real pymodbus peer on a pseudo-terminal whose bridge injects each fault:
# no reply, CRC errors, exception replies (02, 04, 06 busy), garbage, short frames, replies from
# the wrong slave or function, noise bursts, a slow device. The harness writes the fault's name
# to FAULT_FILE; the peer (tools/faults.py) applies it to every request until it reads "none".
#
#   micropython espsim_run.py bench/fault_modbus.py FAULT_FILE COUNT SEED   (ESPSIM_UART1 = pty)
import sys
import random
import asyncio
from app.core.log import Log
from app.core.site import Site
from app.sources import SourceError, make_source

fault_file, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(seed)
cfg = {"type": "modbus", "uart": 1, "devices": [{"profile": "sdm630", "slave": 1, "timeout_ms": 250}]}
KINDS = ("silent", "crc", "exc02", "exc04", "busy", "busy_once", "garbage", "short",
         "wrong_slave", "wrong_fc", "noise", "slow:600")


def set_fault(kind):
    with open(fault_file, "w") as f:
        f.write(kind)


async def main():
    src = make_source(cfg, None, Log(echo=False))
    await src.start()
    site = Site()
    n = errors = unhandled = recovered = through = 0
    worst = 0
    for i in range(count):
        kind = KINDS[i] if i < len(KINDS) else KINDS[random.getrandbits(8) % len(KINDS)]
        set_fault(kind)
        n += 1
        try:
            site.clear()
            await src.poll(site)
            through += 1  # e.g. busy_once: retried and read
        except SourceError as e:
            errors += 1
            if n <= len(KINDS):
                print("FAULT", kind, "->", e)
        except Exception as e:
            unhandled += 1
            print("FAULT", kind, "UNHANDLED %s: %s" % (type(e).__name__, e))
        set_fault("none")
        for tries in range(1, 10):
            try:
                site.clear()
                await src.poll(site)
                if site.grid_w is not None:
                    recovered += 1
                    worst = max(worst, tries)
                    break
            except SourceError:
                pass
            except Exception as e:
                unhandled += 1
                print("FAULT", kind, "UNHANDLED on recovery %s: %s" % (type(e).__name__, e))
        else:
            print("FAULT", kind, "NOT RECOVERED")
    src.close()
    print("FAULTS n=%d handled=%d unhandled=%d recovered=%d read_through=%d worst_polls=%d" % (
        n, errors + through, unhandled, recovered, through, worst))


asyncio.run(main())
