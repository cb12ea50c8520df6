#!/usr/bin/env python3
"""`make unix32`: the yardstick for memory. Builds MicroPython's unix port as a 32-bit (i686)
binary whose GC heap is two equal areas, the shape of an ESP32_GENERIC heap after its one growth
(56 KB + 56 KB: `-X heapsize=114688` gives `GC: total: 111936`, as on a plain ESP32-WROOM-32).

The 64-bit unix port has 8-byte words and 63-bit small ints; an ESP32 has 4-byte words and 31-bit
small ints. Heap figures taken on 64-bit cannot be scaled to the chip (measured: 32-bit needs
0.64-0.71x, not 0.5x), and an allocation-free path on 64-bit can allocate on 32-bit.

Two flavours, each cached (a rebuild only when its inputs change). Both have the ESP32 stand-ins
(machine, network, esp32, time... from host_tests/stubs) frozen in: on a chip those are C modules
in flash and take no heap, so they must not take heap here either.
  plain   the firmware runs from .mpy files, as `make deploy` puts them on stock MicroPython
  frozen  firmware/manifest.py frozen in as well (the app, lib/, Microdot: the ESP32 image built
          with that manifest)

    tools/unix32.py [--flavour plain|frozen|both] [--source TARBALL|URL] [--print]

Source: `--source`, else $MICROPYTHON_SRC, else ../shared/micropython/micropython-src.tar.xz beside
the repo, or beside the local checkout a clone was made from (the project's minimal tarball), else an official release tarball (micropython.org's
micropython-1.2x.y.tar.xz, by path or URL). Needs Debian's gcc-i686-linux-gnu, libc6-i386 and lib32gcc-s1:
installed here with apt-get when run as root, otherwise it stops with the exact command.
Cache: $UNIX32_CACHE or ~/.cache/esp32-meter/unix32 (outside the clone, so CI reuses it).
Prints the binaries' paths; host_tests and tools call `ensure(flavour)`.
"""
import argparse
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = pathlib.Path(os.environ.get("UNIX32_CACHE") or pathlib.Path.home() / ".cache" / "esp32-meter" / "unix32")
STUBS = ROOT / "host_tests" / "stubs"
CROSS = "i686-linux-gnu-"
JOBS = str(os.cpu_count() or 2)
# libc6-i386: the loader and libc to run the binary; lib32gcc-s1: pthread_cancel at exit needs it
DEBIAN = ("make", "gcc", "gcc-i686-linux-gnu", "libc6-i386", "lib32gcc-s1")
# the unix "standard" variant less btree and ffi (their sources are not in the minimal tarball),
# cross-compiled for i686, with the GC heap split in two equal areas like the ESP32's after growth
MAKE_ARGS = ("VARIANT=standard", "MICROPY_PY_BTREE=0", "MICROPY_PY_FFI=0", "CROSS_COMPILE=" + CROSS,
             "CFLAGS_EXTRA=-DMICROPY_GC_SPLIT_HEAP=1 -DMICROPY_GC_SPLIT_HEAP_N_HEAPS=2")
ESP32_HEAP = 114688  # -X heapsize giving ESP32_GENERIC's 111,936 B GC pool
FLAVOURS = ("plain", "frozen")
KEEP = 12  # binaries kept per flavour in the cache
BUILD_ID = "unix32-v2"  # bump when the build recipe changes: the cache key includes it


def log(msg):
    print("[unix32] " + msg, file=sys.stderr, flush=True)


def find_source(arg=None):
    src = arg or os.environ.get("MICROPYTHON_SRC")
    if src:
        return src
    ups = [ROOT.parent, ROOT.parent.parent]  # shared/ beside the clone (or a worktree's repo)
    origin = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                            capture_output=True, text=True).stdout.strip()
    if origin and "://" not in origin and os.path.isdir(origin):  # a clone of a local checkout
        ups.append(pathlib.Path(origin).resolve().parent)
    for up in ups:
        tarball = up / "shared" / "micropython" / "micropython-src.tar.xz"
        if tarball.exists():
            return str(tarball)
    raise SystemExit("unix32: no MicroPython source. Give one: tools/unix32.py --source "
                     "micropython-1.2x.y.tar.xz (a release tarball from micropython.org, path or URL)")


def fetch_source(src, dest_dir):
    """A local tarball path for `src` (downloaded once into the cache when it is a URL)."""
    if "://" not in src:
        if not os.path.exists(src):
            raise SystemExit("unix32: source tarball %s not found" % src)
        return pathlib.Path(src)
    dest = dest_dir / ("download-" + hashlib.sha256(src.encode()).hexdigest()[:16] + ".tar.xz")
    if not dest.exists():
        log("downloading %s" % src)
        tmp = dest.with_suffix(".part")
        with urllib.request.urlopen(src, timeout=120) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        os.replace(tmp, dest)
    return dest


def _has_lib32gcc():
    return any(os.path.exists(p) for p in ("/usr/lib32/libgcc_s.so.1", "/lib32/libgcc_s.so.1",
                                           "/usr/lib/i386-linux-gnu/libgcc_s.so.1"))


def ensure_toolchain():
    """The i686 cross compiler and the i386 loader: apt-get them as root, else say how."""
    missing = [t for t in ("make", "gcc", CROSS + "gcc") if not shutil.which(t)]
    if not missing and os.path.exists("/lib/ld-linux.so.2") and _has_lib32gcc():
        return
    cmd = "apt-get install -y " + " ".join(DEBIAN)
    if os.geteuid() != 0:
        raise SystemExit("unix32: the 32-bit build needs Debian packages. Install them with:\n"
                         "    sudo apt-get update && sudo " + cmd)
    log("installing " + " ".join(DEBIAN) + " (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q", "install"] + list(DEBIAN)
    if subprocess.run(apt, env=env, stdout=subprocess.DEVNULL).returncode:
        subprocess.run(["apt-get", "-q", "update"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(apt, env=env, stdout=subprocess.DEVNULL, check=True)


def _hash_files(h, paths):
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT) if ROOT in p.parents else p.name).encode())
        h.update(p.read_bytes())


def frozen_inputs():
    """Every file the frozen flavour freezes: a change to one of them means a rebuild."""
    sys.path.insert(0, str(ROOT / "tools"))
    import build  # tools/build.py: the same module list the board gets
    files = [ROOT / "firmware" / "manifest.py"]
    files += [p for p in (ROOT / "firmware" / "app").rglob("*.py")]
    files += [p for p in (ROOT / "lib").rglob("*.py")]
    md = build.microdot_dir()
    files += [md / (n + ".py") for n in build.MICRODOT_MODULES]
    files += stand_in_files()
    return [p for p in files if "__pycache__" not in p.parts]


def stand_in_files():
    return [p for p in STUBS.glob("*.py") if p.name != "espsim_run.py"]


def cache_key(tarball, flavour):
    h = hashlib.sha256()
    h.update(BUILD_ID.encode())
    h.update(" ".join(MAKE_ARGS).encode())
    with open(tarball, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    _hash_files(h, frozen_inputs() if flavour == "frozen" else stand_in_files())
    return h.hexdigest()[:16]


def write_manifest(path, flavour):
    """The build's manifest: the stand-ins (C modules on a chip) and the port's own frozen set;
    for `frozen` the project's manifest as well, unchanged, as the ESP32 image uses it."""
    head = ('include(%r)\n' % str(ROOT / "firmware" / "manifest.py") if flavour == "frozen"
            else 'include("$(PORT_DIR)/variants/standard/manifest.py")\n')
    path.write_text(
        "# written by tools/unix32.py\n" + head +
        "for _name in %r:\n"
        "    module(_name, base_path=%r)\n" % (sorted(p.name for p in stand_in_files()), str(STUBS)))


def build(tarball, flavour, out):
    """Unpack, build mpy-cross and the unix port; the binary -> out (atomically)."""
    ensure_toolchain()
    work = pathlib.Path(tempfile.mkdtemp(prefix="unix32-", dir=str(CACHE)))
    try:
        log("unpacking %s" % tarball)
        with tarfile.open(tarball) as t:
            t.extractall(work, filter="data")
        tops = [p for p in work.iterdir() if (p / "ports" / "unix").is_dir()]
        if not tops:
            raise SystemExit("unix32: %s holds no MicroPython source (ports/unix missing)" % tarball)
        mp = tops[0]
        # firmware/manifest.py includes $(PORT_DIR)/boards/manifest.py (the ESP32 port's frozen
        # set); on the unix port the standard variant's set stands in for it
        (mp / "ports" / "unix" / "boards").mkdir(exist_ok=True)
        (mp / "ports" / "unix" / "boards" / "manifest.py").write_text(
            'include("$(PORT_DIR)/variants/standard/manifest.py")\n')
        env = {k: v for k, v in os.environ.items()
               if k not in ("FROZEN_MANIFEST", "CFLAGS_EXTRA", "BUILD", "VARIANT", "CROSS_COMPILE")}
        logf = CACHE / ("build-%s.log" % flavour)
        with open(logf, "w") as lf:
            def make(*args):
                r = subprocess.run(["make", "-j" + JOBS] + list(args), cwd=mp, env=env, stdout=lf,
                                   stderr=subprocess.STDOUT)
                if r.returncode:
                    lf.flush()
                    tail = logf.read_text(errors="replace").splitlines()[-30:]
                    raise SystemExit("unix32: build failed (log %s):\n%s" % (logf, "\n".join(tail)))
            log("building mpy-cross")
            make("-C", "mpy-cross")
            manifest = work / "manifest.py"
            write_manifest(manifest, flavour)
            args = list(MAKE_ARGS) + ["FROZEN_MANIFEST=" + str(manifest)]
            log("building the %s 32-bit unix port (a few minutes)" % flavour)
            make("-C", "ports/unix", *args)
        binary = mp / "ports" / "unix" / "build-standard" / "micropython"
        r = subprocess.run([str(binary), "-X", "heapsize=%d" % ESP32_HEAP, "-c",
                            "import micropython, sys; micropython.mem_info(); print(sys.maxsize)"],
                           capture_output=True, text=True)
        if "GC: total: 111936" not in r.stdout or "\n2147483647" not in r.stdout:
            raise SystemExit("unix32: the binary is not ESP32-shaped (a 32-bit word, 111,936 B "
                             "heap at -X heapsize=%d):\n%s%s" % (ESP32_HEAP, r.stdout, r.stderr))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part")
        shutil.copy(binary, tmp)
        os.replace(tmp, out)
        log("built %s" % out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure(flavour="plain", source=None):
    """-> path of the cached binary of `flavour`, built first when missing or out of date."""
    if flavour not in FLAVOURS:
        raise ValueError(flavour)
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = fetch_source(find_source(source), CACHE)
    out = CACHE / ("micropython-32-%s-%s" % (flavour, cache_key(tarball, flavour)))
    if not out.exists():
        # one build at a time per cache (parallel test runs wait for each other's build)
        import fcntl
        with open(CACHE / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not out.exists():
                build(tarball, flavour, out)
                # keep the newest few of a flavour (other checkouts may be using theirs)
                olds = sorted(CACHE.glob("micropython-32-%s-*" % flavour), key=lambda p: p.stat().st_mtime)
                for old in olds[:-KEEP]:
                    old.unlink()
    return str(out)


VENV_MICROPYTHON = str(ROOT / ".venv" / "bin" / "micropython")  # PyPI's 64-bit unix port
NAMES = {"64": None, "32": "plain", "32-frozen": "frozen"}


def interpreter(spec=None):
    """--micropython's argument -> a binary: None or "64" the 64-bit PyPI build, "32" the 32-bit
    ESP32-shaped build, "32-frozen" the same with the firmware frozen in (both built on first use),
    anything else a path to a MicroPython binary."""
    if spec in (None, "", "64"):
        return VENV_MICROPYTHON
    if spec in NAMES:
        return ensure(NAMES[spec])
    if not os.access(spec, os.X_OK):
        raise SystemExit("--micropython: %s is not an executable (or one of %s)" % (spec, ", ".join(NAMES)))
    return os.path.abspath(spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flavour", choices=FLAVOURS + ("both",), default="both")
    ap.add_argument("--source", help="MicroPython source tarball (path or URL)")
    a = ap.parse_args(argv)
    for f in (FLAVOURS if a.flavour == "both" else (a.flavour,)):
        print("%-7s %s" % (f, ensure(f, a.source)))
    print("run as the ESP32: <binary> -X heapsize=%d ..." % ESP32_HEAP)


if __name__ == "__main__":
    sys.exit(main())
