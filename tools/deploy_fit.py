"""Does the app as .mpy files fit this board's heap? tools/deploy.py refuses a board whose heap
cannot hold it (nothing written), naming the ways out: the firmware image with the app frozen in,
or a PSRAM board. A board with the app frozen in is not checked (it gets data files only)."""
from deploy_board import DeployError

# The heap the app as .mpy files needs (whole firmware in normal mode), by word size: `make bench`
# measured 199 KB on the 32-bit ESP32 shape and 295 KB on 64-bit (2026-12-07, after issue 20's
# package layout: "Smallest
# -X heapsize, whole firmware in normal mode", docs/benchmarks.md), plus headroom for
# fragmentation over days. A plain ESP32 has 111,936 B: it needs the frozen image; a PSRAM board
# has megabytes.
MPY_NEEDS = {32: 224 * 1024, 64: 352 * 1024}
IDF_RESERVE = 40 * 1024  # IDF heap an ESP32 must keep for Wi-Fi and mbedTLS (MicroPython PR #13219)


def heap_capacity(info):
    """The most GC heap the app can count on, in bytes: what the board has now, plus on an ESP32
    what the heap may still grow into while leaving the IDF heap its reserve for Wi-Fi and TLS."""
    heap = info.get("heap", 0)
    if info.get("idf_free", -1) > 0:
        heap += max(0, info["idf_free"] - IDF_RESERVE)
    return heap


def check_fits(info, force=False, log=print):
    """Refuse a .mpy deploy onto a board whose heap cannot hold the app (DeployError), naming the
    ways out; a board with the app frozen in gets data files only."""
    if info.get("frozen") or "heap" not in info:
        return
    need = MPY_NEEDS[info.get("bits", 32)]
    have = heap_capacity(info)
    if have >= need:
        return
    msg = ("this board's MicroPython heap holds %d KB; the app as .mpy files needs about %d KB "
           "(docs/benchmarks.md: whole firmware in normal mode). It would run out of memory (status page "
           "not started, meter errors, pushes lost). Two ways out:\n"
           "  1. flash the firmware image with the app frozen in (docs/deploy.md, 'Firmware image'); "
           "then `make deploy` copies only the data files\n"
           "  2. a board with PSRAM running ESP32_GENERIC-SPIRAM, where the .mpy files fit easily\n"
           "(--force deploys anyway)" % (have // 1024, need // 1024))
    if not force:
        raise DeployError(msg)
    log("deploy: WARNING (--force): " + msg.split("\n")[0])
