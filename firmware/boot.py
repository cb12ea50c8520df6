# Runs first on every boot. Keep it tiny: a fault here would stop the REPL from coming up.
import gc

try:  # the app version to run (over-the-air updates, rollback): before anything imports the app
    import otaboot
    otaboot.select()
except Exception as e:  # never block the boot: the base version runs
    print("ota: version selection failed:", e)
gc.collect()
gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())  # collect before the heap fragments
