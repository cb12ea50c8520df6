#!/bin/sh
# `make esp32-image`: the firmware image for a plain ESP32 (ESP32_GENERIC, no PSRAM), with the app,
# lib/ and Microdot frozen in by firmware/manifest.py. Frozen code runs from flash: the 112 KB
# MicroPython heap of a plain ESP32 then holds only the app's objects (docs/benchmarks.md), where
# the same app as .mpy files does not fit.
#
#   tools/esp32_image.sh                 build in ESP-IDF's official container image (needs docker)
#   IDF_PATH=... tools/esp32_image.sh    build with an ESP-IDF installed here (`. export.sh` done)
#
# Settings (environment):
#   MICROPYTHON_REF  MicroPython release tag to build (default below; the manifest uses only
#                    what every release since 1.23 has)
#   IDF_VERSION      ESP-IDF of the container image: the one that release's ports/esp32/README.md
#                    names (default below, for the default tag)
#   BOARD            ESP32_GENERIC (default), or ESP32_GENERIC-SPIRAM variant via BOARD_VARIANT=SPIRAM
#   MICROPYTHON_DIR  an existing MicroPython checkout to use instead of a fresh clone
# Output: build/esp32/firmware-<board>.bin, flashed like stock MicroPython at 0x1000
# (`make flash-micropython PORT=... FIRMWARE=build/esp32/firmware-ESP32_GENERIC.bin FLASH=yes`).
# Then `make deploy PORT=...` sees the frozen app and copies only boot.py, main.py and data files.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MICROPYTHON_REF=${MICROPYTHON_REF:-v1.26.1}
IDF_VERSION=${IDF_VERSION:-v5.4.2}
BOARD=${BOARD:-ESP32_GENERIC}
BOARD_VARIANT=${BOARD_VARIANT:-}
OUT="$ROOT/build/esp32"
NAME="$BOARD${BOARD_VARIANT:+-$BOARD_VARIANT}"

# the manifest takes Microdot from the project's .venv (pinned in requirements.txt)
if ! ls "$ROOT"/.venv/lib/python3*/site-packages/microdot/microdot.py >/dev/null 2>&1; then
    echo "esp32_image: Microdot is not in .venv: run 'make setup' first" >&2
    exit 2
fi
mkdir -p "$OUT"

# the build itself, run where ESP-IDF is set up; $1 = the project folder as that place sees it
build_in() {
    cat <<EOF
set -eu
if [ -n "\${MICROPYTHON_DIR:-}" ]; then mp="\$MICROPYTHON_DIR"; else
    mp=/tmp/micropython-$MICROPYTHON_REF
    [ -d "\$mp" ] || git clone --depth 1 --branch $MICROPYTHON_REF https://github.com/micropython/micropython "\$mp"
fi
make -C "\$mp/mpy-cross"
make -C "\$mp/ports/esp32" BOARD=$BOARD ${BOARD_VARIANT:+BOARD_VARIANT=$BOARD_VARIANT} submodules
make -C "\$mp/ports/esp32" BOARD=$BOARD ${BOARD_VARIANT:+BOARD_VARIANT=$BOARD_VARIANT} FROZEN_MANIFEST=$1/firmware/manifest.py
cp "\$mp/ports/esp32/build-$NAME/firmware.bin" "$1/build/esp32/firmware-$NAME.bin"
EOF
}

if [ -n "${IDF_PATH:-}" ]; then
    command -v idf.py >/dev/null || { echo "esp32_image: IDF_PATH is set but idf.py is not on PATH: run '. \$IDF_PATH/export.sh'" >&2; exit 2; }
    build_in "$ROOT" | sh
else
    command -v docker >/dev/null || { echo "esp32_image: needs docker (ESP-IDF's image espressif/idf:$IDF_VERSION) or an ESP-IDF install (IDF_PATH)" >&2; exit 2; }
    # (the container runs as root: hand the output back to the caller)
    build_in /project | docker run --rm -i -v "$ROOT":/project -w /project \
        ${MICROPYTHON_DIR:+-v "$MICROPYTHON_DIR":"$MICROPYTHON_DIR" -e MICROPYTHON_DIR="$MICROPYTHON_DIR"} \
        "espressif/idf:$IDF_VERSION" sh -c "sh; rc=\$?; chown -R $(id -u):$(id -g) /project/build/esp32; exit \$rc"
fi
echo "esp32_image: $OUT/firmware-$NAME.bin (MicroPython $MICROPYTHON_REF, ESP-IDF $IDF_VERSION, app frozen in)"
