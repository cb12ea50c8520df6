"""What tools/deploy.py runs on the board and how it talks to it: the MicroPython snippets sent
with `mpremote exec` (the probe: hashes of the build's files, stale modules, heap, whether the app
is frozen in; making folders, removing stale files, re-hashing what was copied), mpremote itself,
and the parsing of the DEPLOY-* lines they print."""
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
MPREMOTE = str(ROOT / ".venv" / "bin" / "mpremote")

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

PROBE = _HASH_FN + r"""
print('DEPLOY-PLATFORM', sys.platform)
import gc
gc.collect()
_idf = -1
try:
    import esp32
    _idf = sum(h[1] for h in esp32.idf_heap_info(esp32.HEAP_DATA))
except Exception:
    pass
print('DEPLOY-HEAP', gc.mem_free() + gc.mem_alloc(), _idf, sys.maxsize)
_app = sys.modules.pop('app', None)
_p = sys.path[:]
sys.path[:] = ['.frozen']
_frozen = 0
try:
    import app
    _frozen = 1
except ImportError:
    pass
sys.path[:] = _p
sys.modules.pop('app', None)
if _app:
    sys.modules['app'] = _app
print('DEPLOY-FROZEN', _frozen)
if sys.platform == 'esp32' or %(as_esp32)r:
    import machine
    machine.WDT(timeout=%(wdt)d).feed()
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

MKDIRS = r"""
import os
for d in %r:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""

REMOVE = r"""
import os
for p in %r:
    try:
        os.remove(p)
        print('DEPLOY-RM', p)
    except OSError as e:
        print('DEPLOY-RMFAIL', p, e)
for d in %r:
    try:
        os.rmdir(d)
    except OSError:
        pass
"""

VERIFY = _HASH_FN + r"""
for p in %r:
    print('DEPLOY-H', _h(p), p)
"""


class DeployError(Exception):
    pass


def mpremote(port, *args, timeout=120):
    cmd = [MPREMOTE, "connect", port, "resume"] + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode:
        # what mpremote said, not the script it was sending (tens of lines of internals)
        said = (res.stderr.strip() or res.stdout.strip()).splitlines()[-3:]
        raise DeployError("mpremote %s on %s failed (exit %d): %s" % (
            args[0] if args else "", port, res.returncode, " / ".join(said) or "no output"))
    return res.stdout


def parse(out, board=None):
    """-> (platform, {path: hash or '-'}, [files listed], [removed]); board (a dict) gets what the
    probe said of the heap ("heap", "idf_free", "bits") and the app ("frozen")."""
    platform, hashes, listed, removed = None, {}, [], []
    board = {} if board is None else board
    for line in out.splitlines():
        parts = line.strip().split(" ", 2)
        if parts[0] == "DEPLOY-PLATFORM":
            platform = parts[1]
        elif parts[0] == "DEPLOY-HEAP" and len(parts) == 3:
            idf, maxsize = parts[2].split()
            board.update(heap=int(parts[1]), idf_free=int(idf), bits=32 if int(maxsize) < 2 ** 32 else 64)
        elif parts[0] == "DEPLOY-FROZEN":
            board["frozen"] = parts[1] == "1"
        elif parts[0] == "DEPLOY-H" and len(parts) == 3:
            hashes[parts[2]] = parts[1]
        elif parts[0] == "DEPLOY-F" and len(parts) == 2:
            listed.append(parts[1])
        elif parts[0] == "DEPLOY-RM" and len(parts) == 2:
            removed.append(parts[1])
        elif parts[0] == "DEPLOY-RMFAIL":
            raise DeployError("could not remove %s on the board" % line.split(" ", 2)[1:])
    return platform, hashes, listed, removed

