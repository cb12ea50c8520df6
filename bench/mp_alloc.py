# Benchmark driver (host only): heap bytes allocated by one poll of a source, on the MicroPython
# unix port, with the garbage collector off so that nothing is hidden.
#
#   micropython espsim_run.py bench/mp_alloc.py SOURCE_JSON [BOARD_NAME|-] [POLLS]
# Prints "BENCH alloc_per_poll <bytes>" (the mean over POLLS polls after a warm-up of 20).
import sys
import gc
import asyncio
import json
from app.core.log import Log
from app.core.site import Site
from app.sources import make_source

source = json.loads(sys.argv[1])
board = None
if len(sys.argv) > 2 and sys.argv[2] != "-":  # a board name: boards/<name>.json in the cwd
    with open("boards/%s.json" % sys.argv[2]) as f:
        board = json.load(f)
polls = int(sys.argv[3]) if len(sys.argv) > 3 else 200
if source.get("type") == "atm90e32":
    # the chip model on the SPI bus, with its clock stopped: the model's own arithmetic runs in
    # this interpreter too, and must not be counted as the driver's allocation
    import machine
    from atm90e32_model import split_board_model
    model = split_board_model(50, profile=False, noise=False, clock="manual")
    model.set_load(0, -2345.0, pf=0.97)
    model.set_load(2, 4321.0, pf=0.99)
    machine.attach_spi_device(board["chips"][0]["cs"], model)


async def main():
    src = make_source(source, board, Log(echo=False))
    await src.start()
    site = Site()
    for _ in range(20):  # warm-up: first-poll caches, interned names
        site.clear()
        await src.poll(site)
    # an empty coroutine call costs what the scheduler pays anyway; subtract it
    async def nothing(s):
        pass
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(polls):
        await nothing(site)
    empty = gc.mem_alloc() - a
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(polls):
        site.clear()
        await src.poll(site)
    used = gc.mem_alloc() - a
    gc.enable()
    src.close()
    print("BENCH alloc_per_poll_raw", used // polls)
    print("BENCH alloc_coroutine", empty // polls)
    print("BENCH alloc_per_poll", max(0, used - empty) // polls)


asyncio.run(main())
