# MicroPython manifest: freeze the meter firmware into a custom ESP32 firmware image.
#
# Frozen modules run from flash: they take no filesystem space and almost no RAM to import, and
# a user cannot break them by deleting a file. Build (MicroPython source tree, ESP-IDF set up):
#
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/this/repo/firmware/manifest.py
#
# then flash build-ESP32_GENERIC/firmware.bin like stock MicroPython (docs/deploy.md). The board's
# filesystem still holds boot.py, main.py, config.json and the data files (ca/, boards/,
# profiles/, web/): deploy those with `make deploy` and remove app/ and lib/ from the board,
# because '' comes before '.frozen' on sys.path and a copy on the filesystem would win.
# Not built by this repo's tooling (no ESP-IDF here); host_tests/firmware/test_manifest.py checks that
# it names every module `make build` compiles.

# the port's own frozen modules (asyncio, ntptime, network helpers, ...)
include("$(PORT_DIR)/boards/manifest.py")

# the app package (firmware/app)
package("app")

# the over-the-air update's version selection and rollback (boot.py imports it)
module("otaboot.py")

# lib/: drivers and protocols, frozen as top-level modules as they are in /lib on the board
freeze("../lib")

# Microdot from the pinned PyPI package (make setup installs it into .venv, whatever the Python
# version); the modules that run on MicroPython (the same list as tools/build.py MICRODOT_MODULES)
import glob as _glob  # (a manifest is Python run by makemanifest.py on the build machine)
_md = sorted(_glob.glob("../.venv/lib/python3*/site-packages/microdot"))
if not _md:
    raise SystemExit("firmware/manifest.py: Microdot not found in .venv: run `make setup` first")
package("microdot", files=("__init__.py", "microdot.py", "helpers.py", "auth.py", "cors.py", "csrf.py",
                           "login.py", "multipart.py", "sse.py", "websocket.py"),
        base_path=_md[-1][:-len("/microdot")])
