#!/usr/bin/env python3
"""Copy build/ onto a board running stock MicroPython, with mpremote; only files that changed.

    tools/deploy.py --port /dev/ttyUSB0 [--board NAME] [--build build] [--dry-run]

1. One `mpremote exec` on the board prints the sha256 of every file the build would write (plus
   stale modules under app/ and .py files that would shadow a new .mpy), its heap, and whether the
   app is frozen into its firmware.
2. A board whose heap cannot hold the app as .mpy files is refused (nothing written), naming the
   ways out: the firmware image with the app frozen in, or a PSRAM board. A board with the app
   frozen in gets only boot.py, main.py and the data files; app .mpy files on it are removed.
3. One more mpremote run makes the folders, copies the files whose hash differs (`fs cp -f`),
   removes the stale ones, re-hashes what it copied to check it arrived whole, and resets the board
   so the new code runs.

config.json (the device's settings: Wi-Fi, API key) is never written or removed. With --board only
that board profile is copied (boards/NAME.json), otherwise all of them.

Works the same against the virtual board (tools/vboard.py): the MicroPython unix port cannot
soft-reset or machine.reset(), so every mpremote call uses `resume` (no soft reset on connect; the
board's running app is stopped by the Ctrl-C mpremote sends) and the final reset is skipped when
the board says sys.platform == "linux".

What runs on the board and mpremote itself are in tools/deploy_board.py; the heap check of step 2
in tools/deploy_fit.py.
"""
import argparse
import hashlib
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from deploy_board import MKDIRS, PROBE, REMOVE, VERIFY, DeployError, mpremote, parse  # noqa: E402
from deploy_fit import check_fits  # noqa: E402  (does the app as .mpy fit the board's heap?)

KEEP = ("config.json",)  # the device's own settings: never touched
# ours alone: a module there that the build no longer has is removed; ota/ (over-the-air update
# slots and their pointer, docs/ota.md) goes whole, so the version deployed here is the one that runs
PRUNE_DIRS = ("app", "ota")
WDT_STRETCH_MS = 30 * 60 * 1000  # an armed ESP32 watchdog cannot be stopped, only re-armed longer


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def local_files(build, board=None):
    """-> {device path: local Path} for everything in the build (one board profile if `board`)."""
    build = pathlib.Path(build)
    listing = build / ".files"  # written by tools/build.py: exactly the device image
    if not listing.exists():
        raise DeployError("no build in %s: run `make build` first" % build)
    files = {}
    for rel in sorted(listing.read_text().split()):
        if rel in KEEP:
            continue  # never ship settings
        if not (build / rel).is_file():
            raise DeployError("%s is missing from the build: run `make build` again" % rel)
        files[rel] = build / rel
    if board:
        want = "boards/%s.json" % board
        if want not in files:
            have = sorted(r[7:-5] for r in files if r.startswith("boards/"))
            raise DeployError("no board profile %s in the build (have: %s)" % (want, ", ".join(have) or "none"))
        files = {r: p for r, p in files.items() if not r.startswith("boards/") or r == want}
    return files


def serial_ports():
    """The serial devices a board shows up as on Linux and macOS."""
    import glob
    return sorted(glob.glob("/dev/ttyUSB*") + glob.glob("/dev/ttyACM*") + glob.glob("/dev/cu.usbserial*")
                  + glob.glob("/dev/cu.SLAB*") + glob.glob("/dev/cu.wchusbserial*"))


def check_port(port):
    """A port given as a path must exist: say so (and what is plugged in) before mpremote,
    whose message for a missing device is "may be in use by another program"."""
    if not port.startswith("/") or pathlib.Path(port).exists():
        return
    found = serial_ports()
    raise DeployError("there is no serial port %s. %s" % (
        port, "Plugged in now: %s (PORT=...)" % ", ".join(found) if found else
        "No board is plugged in (no /dev/ttyUSB* or /dev/ttyACM*): connect it with a data USB cable"))


def folders(paths):
    out = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return sorted(out, key=lambda d: (d.count("/"), d))


def code_dirs(paths):
    """The folders that hold only compiled modules (app/, lib/microdot/, ...)."""
    dirs = folders(paths)
    return [d for d in dirs if all(p.endswith(".mpy") for p in paths if p.startswith(d + "/"))]


def deploy(port, build="build", board=None, dry_run=False, log=print, as_esp32=False, force=False):
    """-> dict(platform, copied, unchanged, removed, reset, frozen). as_esp32: treat a virtual board
    that runs the ESP32 stand-ins (tools/vboard.py --esp32-stand-ins) as a chip: stretch its
    watchdog, reset it. A board with the app frozen in gets only the data files (the app and lib
    .mpy files, which would shadow the frozen ones, are removed from it)."""
    files = local_files(build, board)
    probe = PROBE % {"wdt": WDT_STRETCH_MS, "as_esp32": bool(as_esp32), "files": sorted(files),
                      "prune": list(PRUNE_DIRS), "mpy": sorted(r for r in files if r.endswith(".mpy"))}
    info = {}
    platform, have, listed, _ = parse(mpremote(port, "exec", probe), info)
    if platform is None:
        raise DeployError("the board did not answer the probe (is it running MicroPython?)")
    check_fits(info, force, log)
    frozen = bool(info.get("frozen"))
    if frozen:  # the app is in the firmware: a copy on the filesystem would win ('' leads sys.path)
        log("board: the app is frozen into its firmware: copying data files only")
        code = [r for r in files if r.endswith(".mpy")]
        listed = listed + [r for r in code if have.get(r, "-") != "-"]
        files = {r: p for r, p in files.items() if not r.endswith(".mpy")}
    want = {rel: sha256(p) for rel, p in files.items()}
    changed = [r for r in sorted(files) if have.get(r) != want[r]]
    stale = sorted(set(p for p in listed if p not in files and p not in KEEP))
    stale.sort(key=lambda p: p != "ota/state")  # the pointer first: never a pointer to a half-removed slot
    log("board: %s, %d files in the build, %d changed, %d stale to remove"
        % (platform, len(files), len(changed), len(stale)))
    for r in changed:
        log("  copy   %s (%d bytes)%s" % (r, files[r].stat().st_size, "" if have.get(r) != "-" else " new"))
    for r in stale:
        log("  remove %s" % r)
    result = {"platform": platform, "copied": changed, "unchanged": len(files) - len(changed),
              "removed": [], "reset": False, "frozen": frozen, "heap": info.get("heap")}
    if dry_run:
        return result
    virtual = platform == "linux" and not as_esp32  # the unix port (tools/vboard.py): no machine.reset()
    args = []
    if stale:
        # a frozen board: the emptied code folders go too (an empty app/ would shadow the frozen one)
        empty = sorted(code_dirs(stale), key=lambda d: -d.count("/")) if frozen else []
        args += ["exec", REMOVE % (stale, empty), "+"]
    if changed:  # (only now: nothing is written on a board that the checks above refused)
        args += ["exec", MKDIRS % folders(changed), "+"]
    for r in changed:
        args += ["fs", "cp", "-f", str(files[r]), ":" + r, "+"]
    if changed:
        args += ["exec", VERIFY % changed]
    if not virtual:
        args += (["+"] if args else []) + ["reset"]
    if args:
        size = sum(files[r].stat().st_size for r in changed)
        out = mpremote(port, *args, timeout=120 + size // 2000)  # ~11 KB/s at 115200 baud, with margin
        _, after, _, removed = parse(out)
        bad = [r for r in changed if after.get(r) != want[r]]
        if bad:
            raise DeployError("copied but the board's copy differs (run deploy again): %s" % ", ".join(bad))
        result["removed"] = removed
        result["reset"] = not virtual
    if virtual:
        log("virtual board: not reset (the unix port cannot); the files are in place")
    elif result["reset"]:
        log("board reset: the new firmware is starting")
    log("deploy done: %d copied, %d unchanged, %d removed; config.json left as it was"
        % (len(changed), result["unchanged"], len(result["removed"])))
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", required=True, help="serial port of the board (or the virtual board's link)")
    ap.add_argument("--board", help="board profile name: copy only boards/NAME.json")
    ap.add_argument("--build", default=str(ROOT / "build"), help="folder made by tools/build.py")
    ap.add_argument("--dry-run", action="store_true", help="only say what would be copied")
    ap.add_argument("--force", action="store_true",
                    help="deploy .mpy files even onto a board whose heap is too small for them")
    ap.add_argument("--as-esp32", action="store_true",
                    help="a virtual board with the ESP32 stand-ins: stretch the watchdog and reset at the end")
    args = ap.parse_args(argv)
    try:
        check_port(args.port)
        deploy(args.port, args.build, args.board, args.dry_run, as_esp32=args.as_esp32, force=args.force)
    except DeployError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired:
        print("deploy: the board stopped answering (run deploy again: it copies only what is missing)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
