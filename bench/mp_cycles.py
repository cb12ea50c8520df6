# Benchmark driver (host only): the push loop's work, cycle after cycle, on the MicroPython unix
# port - a poll of the source, energy, validation, the JSON body and a real HTTPS push to the
# local fake Charge HQ - without the 60 s waits in between (the fake server allows any gap).
#
#   micropython [-X heapsize=N] espsim_run.py bench/mp_cycles.py ENDPOINT CA_FILE CYCLES PUSH_EVERY
#                                                               [SOURCE_JSON [BOARD_NAME|-]]
# Prints "BENCH key value" lines; exits 1 when a cycle fails (MemoryError included).
import sys
import gc
gc.collect()
_start = gc.mem_alloc()  # the interpreter, asyncio and the time stand-in
import machine  # noqa: F401  (host stand-ins: built into the ESP32's firmware, no heap there)
import network  # noqa: F401
gc.collect()
_stubs = gc.mem_alloc()
import asyncio
import json
from app.core import config
from app.core.log import Log
from app.outputs.chargehq import ChargeHQApp as App

endpoint, ca_file, cycles, push_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
source = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {"type": "simulated", "speed": 60}
board = None
if len(sys.argv) > 6 and sys.argv[6] != "-":  # a board name: boards/<name>.json in the cwd
    with open("boards/%s.json" % sys.argv[6]) as f:
        board = json.load(f)
raw = {"wifi": {"ssid": "bench"}, "source": source,
       "chargehq": {"api_key": "bench-key-0123456789", "endpoint": endpoint, "ca_file": ca_file,
                    "allow_http": endpoint.startswith("http://")},
       "device": {"watchdog_s": 0}}
cfg = config.validate(raw)
if cfg.errors or cfg.problem:
    print("BENCH config", cfg.errors, cfg.problem)
    sys.exit(2)
log = Log(echo=False)
store = None
try:
    from app.core.persist import Store
    store = Store(log)
except ImportError:
    pass
app = App(cfg, log, board, store)
import https_post  # noqa: F401,E402  (the push loop imports it at the first push)
gc.collect()
_modules = gc.mem_alloc()


async def main():
    if store:
        store.restore(app)
    if not await app._start_source():
        print("BENCH source failed:", app.source_error)
        return False
    scratch = app._scratch
    pushes = fails = 0
    base = None
    for i in range(cycles):
        scratch.clear()
        await app.source.poll(scratch)
        app._accept(scratch)
        if push_every and i % push_every == 0:
            body, _ = app.build_body()
            app.pusher.last_attempt_up = None   # bench only: the fake server allows any gap
            app.pusher._first_wait_ms = -(1 << 29)
            app.pusher.last_end_up = None
            ok = await app.pusher.send(body)
            body = None
            pushes += 1
            if not ok:
                fails += 1
                print("BENCH push failed:", app.pusher.last_result)
        gc.collect()
        if i == min(100, cycles - 1):
            base = gc.mem_alloc()
    gc.collect()
    print("BENCH heap_start", _start)
    print("BENCH heap_stubs", _stubs - _start)
    print("BENCH heap_app_loaded", _modules - _stubs)
    print("BENCH cycles", cycles)
    print("BENCH pushes", pushes)
    print("BENCH push_failures", fails)
    print("BENCH heap_after_100", base)
    print("BENCH heap_end", gc.mem_alloc())
    print("BENCH heap_total", gc.mem_alloc() + gc.mem_free())
    print("BENCH wh", app.energy.wh[0], app.energy.wh[1])
    return fails == 0 and app.source_error is None


try:
    ok = asyncio.run(main())
except MemoryError as e:
    print("BENCH MemoryError", e)
    ok = False
sys.exit(0 if ok else 1)
