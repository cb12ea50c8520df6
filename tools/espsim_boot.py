# Plays the ESP32's start-up under the unix port: boot.py, then main.py, from the firmware
# folder given as argv[1], with the working folder as the device's filesystem (host only).
import sys
import time  # noqa: F401  (the time stand-in must load before asyncio: see stubs/time.py)

_fw = sys.argv[1]
for _name in ("boot.py", "main.py"):
    with open(_fw + "/" + _name) as _f:
        _src = _f.read()
    exec(_src, {"__name__": "__main__"})
    _src = None
