#!/usr/bin/env python3
"""Put stock MicroPython on an ESP32 (once per board, before the first `make deploy`).

    make flash-micropython PORT=/dev/ttyUSB0 [FIRMWARE=ESP32_GENERIC-<date>-v1.xx.x.bin] [CHIP=esp32] [FLASH=yes]

Prints the esptool commands it would run. With FLASH=yes (and FIRMWARE= pointing at the .bin from
https://micropython.org/download/ESP32_GENERIC/) it runs them: erase the whole flash (the old
filesystem, config.json included, is wiped), then write MicroPython at the chip's bootloader offset.
Needs esptool (`pip install esptool`, not pinned here: only this step uses it). This cannot be
exercised without a board; docs/deploy.md describes the procedure and the mpflash alternative.
"""
import argparse
import importlib.util
import subprocess
import sys

# Where the image starts: the classic ESP32 and the S2 have their bootloader at 0x1000, newer chips at 0.
OFFSETS = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0", "esp32c6": "0x0"}


def commands(port, firmware, chip="esp32", baud=460800):
    esptool = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port]
    return [esptool + ["erase_flash"],
            esptool + ["--baud", str(baud), "write_flash", "-z", OFFSETS[chip], firmware]]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", required=True)
    ap.add_argument("--firmware", default="ESP32_GENERIC-<date>-v<version>.bin")
    ap.add_argument("--chip", default="esp32", choices=sorted(OFFSETS))
    ap.add_argument("--baud", type=int, default=460800)
    ap.add_argument("--run", action="store_true", help="run the commands (FLASH=yes)")
    args = ap.parse_args(argv)
    cmds = commands(args.port, args.firmware, args.chip, args.baud)
    print("Stock MicroPython onto the %s on %s: these commands%s" % (args.chip, args.port, "" if args.run else " (not run)"))
    for c in cmds:
        print("  " + " ".join(c))
    print("Then: make deploy PORT=%s BOARD=<your board>  (see docs/deploy.md)" % args.port)
    if not args.run:
        print("Run them with FLASH=yes FIRMWARE=<the .bin from https://micropython.org/download/ESP32_GENERIC/>")
        return 0
    if "<" in args.firmware:
        print("FIRMWARE= must name the downloaded .bin", file=sys.stderr)
        return 2
    if importlib.util.find_spec("esptool") is None:
        print("esptool is not installed: %s -m pip install esptool" % sys.executable, file=sys.stderr)
        return 2
    for c in cmds:
        if subprocess.call(c):
            print("failed: %s (hold BOOT while it connects if the board does not enter its bootloader)"
                  % " ".join(c), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
