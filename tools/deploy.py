#!/usr/bin/env python3
"""Copy build/ onto a board running stock MicroPython, with mpremote; only files that changed.

    tools/deploy.py --port /dev/ttyUSB0 [--board NAME] [--build build] [--dry-run]

1. One `mpremote exec` on the board makes the folders and prints the sha256 of every file the build
   would write (plus stale modules under app/ and .py files that would shadow a new .mpy).
2. One more mpremote run copies the files whose hash differs (`fs cp -f`), removes the stale ones,
   re-hashes what it copied to check it arrived whole, and resets the board so the new code runs.

config.json (the device's settings: Wi-Fi, API key) is never written or removed. With --board only
that board profile is copied (boards/NAME.json), otherwise all of them.

Works the same against the virtual board (tools/vboard.py): the MicroPython unix port cannot
soft-reset or machine.reset(), so every mpremote call uses `resume` (no soft reset on connect; the
board's running app is stopped by the Ctrl-C mpremote sends) and the final reset is skipped when
the board says sys.platform == "linux".
"""
import argparse
import hashlib
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MPREMOTE = str(ROOT / ".venv" / "bin" / "mpremote")
KEEP = ("config.json",)  # the device's own settings: never touched
PRUNE_DIRS = ("app",)    # ours alone: a module there that the build no longer has is removed
WDT_STRETCH_MS = 30 * 60 * 1000  # an armed ESP32 watchdog cannot be stopped, only re-armed longer

_HASH_FN = r"""
import sys, os, hashlib, binascii
_b = bytearray(512)
_m = memoryview(_b)
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return '-'
    h = hashlib.sha256()
    while True:
        n = f.readinto(_b)
        if not n:
            break
        h.update(_m[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
"""

_PROBE = _HASH_FN + r"""
print('DEPLOY-PLATFORM', sys.platform)
if sys.platform == 'esp32' or %(as_esp32)r:
    import machine
    machine.WDT(timeout=%(wdt)d).feed()
for d in %(dirs)r:
    try:
        os.mkdir(d)
    except OSError:
        pass
for p in %(files)r:
    print('DEPLOY-H', _h(p), p)
def _walk(d):
    try:
        for e in os.ilistdir(d):
            p = d + '/' + e[0]
            if e[1] & 0x4000:
                _walk(p)
            else:
                print('DEPLOY-F', p)
    except OSError:
        pass
for d in %(prune)r:
    _walk(d)
for p in %(mpy)r:
    try:
        os.stat(p[:-4] + '.py')
        print('DEPLOY-F', p[:-4] + '.py')
    except OSError:
        pass
"""

_REMOVE = r"""
import os
for p in %r:
    try:
        os.remove(p)
        print('DEPLOY-RM', p)
    except OSError as e:
        print('DEPLOY-RMFAIL', p, e)
"""

_VERIFY = _HASH_FN + r"""
for p in %r:
    print('DEPLOY-H', _h(p), p)
"""


class DeployError(Exception):
    pass


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


def mpremote(port, *args, timeout=120):
    cmd = [MPREMOTE, "connect", port, "resume"] + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode:
        raise DeployError("mpremote failed (exit %d): %s\n%s%s" % (
            res.returncode, " ".join(cmd[:6]) + " ...", res.stdout[-2000:], res.stderr[-2000:]))
    return res.stdout


def parse(out):
    """-> (platform, {path: hash or '-'}, [files listed], [removed])"""
    platform, hashes, listed, removed = None, {}, [], []
    for line in out.splitlines():
        parts = line.strip().split(" ", 2)
        if parts[0] == "DEPLOY-PLATFORM":
            platform = parts[1]
        elif parts[0] == "DEPLOY-H" and len(parts) == 3:
            hashes[parts[2]] = parts[1]
        elif parts[0] == "DEPLOY-F" and len(parts) == 2:
            listed.append(parts[1])
        elif parts[0] == "DEPLOY-RM" and len(parts) == 2:
            removed.append(parts[1])
        elif parts[0] == "DEPLOY-RMFAIL":
            raise DeployError("could not remove %s on the board" % line.split(" ", 2)[1:])
    return platform, hashes, listed, removed


def folders(paths):
    out = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return sorted(out, key=lambda d: (d.count("/"), d))


def deploy(port, build="build", board=None, dry_run=False, log=print, as_esp32=False):
    """-> dict(platform, copied, unchanged, removed, reset). as_esp32: treat a virtual board that runs
    the ESP32 stand-ins (tools/vboard.py --esp32-stand-ins) as a chip: stretch its watchdog, reset it."""
    files = local_files(build, board)
    want = {rel: sha256(p) for rel, p in files.items()}
    probe = _PROBE % {"wdt": WDT_STRETCH_MS, "as_esp32": bool(as_esp32), "dirs": [] if dry_run else folders(files), "files": sorted(files),
                      "prune": list(PRUNE_DIRS), "mpy": sorted(r for r in files if r.endswith(".mpy"))}
    platform, have, listed, _ = parse(mpremote(port, "exec", probe))
    if platform is None:
        raise DeployError("the board did not answer the probe (is it running MicroPython?)")
    changed = [r for r in sorted(files) if have.get(r) != want[r]]
    stale = sorted(set(p for p in listed if p not in files and p not in KEEP))
    log("board: %s, %d files in the build, %d changed, %d stale to remove"
        % (platform, len(files), len(changed), len(stale)))
    for r in changed:
        log("  copy   %s (%d bytes)%s" % (r, files[r].stat().st_size, "" if have.get(r) != "-" else " new"))
    for r in stale:
        log("  remove %s" % r)
    result = {"platform": platform, "copied": changed, "unchanged": len(files) - len(changed),
              "removed": [], "reset": False}
    if dry_run:
        return result
    virtual = platform == "linux" and not as_esp32  # the unix port (tools/vboard.py): no machine.reset()
    args = []
    if stale:
        args += ["exec", _REMOVE % stale, "+"]
    for r in changed:
        args += ["fs", "cp", "-f", str(files[r]), ":" + r, "+"]
    if changed:
        args += ["exec", _VERIFY % changed]
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
    ap.add_argument("--as-esp32", action="store_true",
                    help="a virtual board with the ESP32 stand-ins: stretch the watchdog and reset at the end")
    args = ap.parse_args(argv)
    try:
        deploy(args.port, args.build, args.board, args.dry_run, as_esp32=args.as_esp32)
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
