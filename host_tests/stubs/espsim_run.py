# Runs a script the way the ESP32 would see it: the time stand-in is loaded before anything
# imports asyncio (see time.py). Usage: micropython espsim_run.py SCRIPT [ARGS...] (host only)
import sys
import time  # noqa: F401  (must come first)

_script = sys.argv[1]
sys.argv.pop(0)  # the script sees itself as argv[0], like a direct run
with open(_script) as _f:
    _src = _f.read()
_g = {"__name__": "__main__", "__file__": _script}
exec(compile(_src, _script, "exec"), _g)
