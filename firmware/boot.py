# Runs first on every boot. Keep it tiny: a fault here would stop the REPL from coming up.
import gc
import os

try:
    os.stat("ota")  # over-the-air updates were used (docs/ota.md); else otaboot stays unloaded (RAM)
    _ota = True
except OSError:
    _ota = False
if _ota:
    try:  # the app version to run, and rollback: before anything imports the app
        import otaboot
        otaboot.select()
    except Exception as e:  # never block the boot: the base version runs
        print("ota: version selection failed:", e)
del _ota
gc.collect()
gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())  # collect before the heap fragments
