# Runs a test script and reports the tick counter at its first line and at its end, so the
# near-wrap run (host_tests/firmware/test_tick_wrap.py) can show the 2**30 ms wrap happened during it.
# Usage (host only): micropython espsim_run.py tickwrap.py SCRIPT [ARGS...]
import sys
import time

_t0 = time.ticks_ms()
_script = sys.argv[1]
sys.argv.pop(0)
try:
    with open(_script) as _f:
        _src = _f.read()
    exec(compile(_src, _script, "exec"), {"__name__": "__main__", "__file__": _script})
finally:
    print("ESPSIM-TICKS", _t0, time.ticks_ms())
