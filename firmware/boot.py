# Runs first on every boot. Keep it tiny: a fault here would stop the REPL from coming up.
import gc

gc.collect()
gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())  # collect before the heap fragments
