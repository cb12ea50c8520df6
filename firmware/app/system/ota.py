# Over-the-air update: stage a version in the free slot, check it, switch to it (otaboot).
# Shared by the LAN endpoint (app.web.ota_web, fed by tools/ota.py) and the pull path (app.system.ota_pull).
#
# An update is a manifest (text, docs/ota.md) plus its files:
#   chargehq-meter-ota 1
#   version 1.0.0+g1234abc
#   file <sha256 hex> <size> <path>        one line per file: app/, lib/, web/, ca/, profiles/, boards/
# begin(): refused while another update runs or the running version is still on trial; the free
#   slot stops being a rollback target and is cleared; the manifest is streamed to flash and
#   checked line by line (paths inside the app folders, sizes), and the free flash against them.
# put(): one file streamed to the slot 1 KB at a time, SHA-256 on the way: a wrong size, a short
#   body or a wrong hash aborts the update (the slot is cleared).
# commit(): every file hashed again from flash, data files (ca/, profiles/, boards/) moved to
#   the root, then otaboot.switch(): one atomic write. The caller restarts the chip.
# A device with the app frozen into its firmware image takes only the data files (web/ too) and
# says that the app itself needs a new image.
import os
import hashlib
import binascii
from micropython import const
import otaboot
from app.system.ota_files import _free_bytes, _makedirs, _replace, _rmtree, bad_path  # noqa: F401

MAGIC = "chargehq-meter-ota 1"
MAX_MANIFEST = const(32768)    # streamed to flash, read a line at a time
MAX_FILES = const(200)
MAX_FILE = const(262144)      # one file (the largest module is ~20 KB compiled)
RESERVE = const(24576)        # flash kept free for config, energy checkpoints, logs
STALE_MS = const(120000)      # an update nobody fed for this long may be replaced
_CHUNK = const(1024)
_CODE = ("app", "lib")         # frozen into a firmware image on such a device
_ROOT_DATA = ("ca", "profiles", "boards")  # shared by every version, at the root


class OtaError(Exception):
    pass


class Busy(OtaError):
    pass


class NoRoom(OtaError):
    pass


def frozen():
    """True when the app runs frozen in the firmware image (not from a file)."""
    import app
    f = getattr(app, "__file__", None)
    if not f or f.startswith(".frozen"):
        return True
    try:
        os.stat(f)
        return False
    except OSError:
        return True


from app.system.ota_health import running_version, status  # noqa: E402,F401  (the light part)


_active = None


def start(who, log, now_ms=None):
    """A new update session, or Busy/OtaError with the reason."""
    global _active
    import time
    now = time.ticks_ms() if now_ms is None else now_ms
    s = _active
    if s is not None and time.ticks_diff(now, s.touched) < STALE_MS:
        raise Busy("an update from %s is running (%d of %d files)" % (s.who, s.done, s.count))
    if s is not None:
        s.abort("replaced: nothing received for %d s" % (STALE_MS // 1000))
    if otaboot.on_trial():
        raise OtaError("version %s is on trial (not yet confirmed): wait for its first reading "
                       "and output" % running_version())
    _active = Session(who, log, now)
    return _active


def active():
    return _active


class Session:
    def __init__(self, who, log, now):
        self.who = who
        self.log = log
        self.touched = now
        self.frozen = frozen()
        self.slot = otaboot.target()
        self.dir = otaboot.folder(self.slot)
        self.version = None
        self.count = 0      # files wanted
        self.done = 0
        self.bytes_done = 0
        self.received = set()
        self.buf = bytearray(_CHUNK)
        self.manifest = self.dir + "/manifest.part"
        self.free_fn = _free_bytes  # tests put a full flash here
        self.opener = open          # ... and a flash that fills up while writing
        # the slot is overwritten from now on: first unname it as a rollback target, then clear it
        otaboot.forget_slot(self.slot)
        _rmtree(self.dir)
        _makedirs(self.manifest)

    def _touch(self):
        import time
        self.touched = time.ticks_ms()

    def wanted(self, path):
        return not (self.frozen and path.split("/")[0] in _CODE)

    # --- manifest ----------------------------------------------------------------------------
    async def begin(self, length, reader):
        """Stream the manifest (`length` bytes from reader.read) to flash and check it."""
        try:
            if length is None or not 0 < length <= MAX_MANIFEST:
                raise OtaError("manifest must be 1..%d bytes" % MAX_MANIFEST)
            await self._save(self.manifest, length, reader, None)
            self._check_manifest()
        except Exception as e:
            self.abort(str(e))
            raise
        self.log.info("update: %s from %s: %d files to receive" % (self.version, self.who, self.count))

    def lines(self):
        """(sha256 hex, size, path) of every file line of the staged manifest."""
        with open(self.manifest) as f:
            for line in f:
                w = line.split()
                if w and w[0] == "file":
                    yield w[1], int(w[2]), w[3]

    def _check_manifest(self):
        with open(self.manifest) as f:
            head = f.readline().strip()
            if head != MAGIC:
                raise OtaError("not an update manifest (first line %r)" % head[:40])
            n = 0
            names = set()
            for line in f:
                w = line.split()
                if not w:
                    continue
                if w[0] == "version" and len(w) == 2 and len(w[1]) <= 40:
                    self.version = w[1]
                elif w[0] == "file" and len(w) == 4:
                    why = bad_path(w[3])
                    if why:
                        raise OtaError("manifest names %s: %s" % (w[3][:60], why))
                    if len(w[1]) != 64 or any(c not in "0123456789abcdef" for c in w[1]):
                        raise OtaError("bad SHA-256 for %s" % w[3])
                    try:
                        size = int(w[2])
                    except ValueError:
                        size = -1
                    if not 0 <= size <= MAX_FILE:
                        raise OtaError("bad size for %s (0..%d)" % (w[3], MAX_FILE))
                    if w[3] in names:
                        raise OtaError("%s named twice" % w[3])
                    n += 1
                    if n > MAX_FILES:
                        raise OtaError("more than %d files" % MAX_FILES)
                    names.add(w[3])
                else:
                    raise OtaError("bad manifest line %r" % line[:40])
        if not self.version:
            raise OtaError("manifest has no version line")
        if not self.frozen and not ({"app/main.mpy", "app/main.py"} & names):
            raise OtaError("manifest has no app/main: not a whole app")
        need = 0
        free, block = self.free_fn()
        for _, size, path in self.lines():
            if self.wanted(path):
                self.count += 1
                need += (size + block - 1) // block * block
        if free is not None and need + RESERVE > free:
            raise NoRoom("not enough flash: the update needs %d KB (+%d KB kept free), %d KB free"
                           % (need // 1024, RESERVE // 1024, free // 1024))

    def want_list(self):
        for _, _, path in self.lines():
            if self.wanted(path):
                yield path

    # --- files ------------------------------------------------------------------------------------
    async def put(self, path, length, reader):
        """Stream one file of the manifest (`length` bytes from reader.read) into the slot."""
        try:
            want = None
            for h, size, p in self.lines():
                if p == path:
                    want = (h, size)
            if want is None:
                raise OtaError("%s is not in the manifest" % path[:60])
            if not self.wanted(path):
                raise OtaError("%s is frozen into the firmware image here: not taken" % path)
            if length != want[1]:
                raise OtaError("%s: %s bytes sent, the manifest says %d" % (path, length, want[1]))
            dest = self.dir + "/" + path
            _makedirs(dest)
            got = await self._save(dest, length, reader, want[0])
            if got != want[0]:
                raise OtaError("%s: SHA-256 does not match the manifest" % path)
        except Exception as e:
            self.abort(str(e))
            raise
        if path not in self.received:
            self.received.add(path)
            self.done += 1

    async def _save(self, dest, length, reader, hashed):
        """reader -> dest, exactly `length` bytes; -> hex SHA-256 (when `hashed`)."""
        h = hashlib.sha256() if hashed else None
        left = length
        try:
            with self.opener(dest, "wb") as f:
                while left > 0:
                    chunk = await reader.read(min(_CHUNK, left))
                    if not chunk:
                        raise OtaError("%s: the data ended %d bytes short" % (dest.rsplit("/", 1)[-1], left))
                    if len(chunk) > left:
                        chunk = chunk[:left]
                    f.write(chunk)
                    if h:
                        h.update(chunk)
                    left -= len(chunk)
                    self.bytes_done += len(chunk)
                    self._touch()
        except OSError as e:
            if e.args and e.args[0] == 28:  # ENOSPC
                raise NoRoom("the flash is full")
            raise OtaError("cannot write %s: %s" % (dest, e))
        return binascii.hexlify(h.digest()).decode() if h else None

    def _hash_file(self, path):
        h = hashlib.sha256()
        mv = memoryview(self.buf)
        with open(path, "rb") as f:
            while True:
                n = f.readinto(self.buf)
                if not n:
                    break
                h.update(mv[:n])
        return binascii.hexlify(h.digest()).decode()

    # --- the end ----------------------------------------------------------------------------------
    def commit(self, app_version=None):
        """Check everything again from flash, move the data files, switch. -> what was done."""
        global _active
        try:
            if self.done < self.count:
                raise OtaError("%d of %d files received" % (self.done, self.count))
            for h, size, path in self.lines():
                if not self.wanted(path):
                    continue
                p = self.dir + "/" + path
                try:
                    if os.stat(p)[6] != size or self._hash_file(p) != h:
                        raise OtaError("%s changed on the flash after it was received" % path)
                except OSError:
                    raise OtaError("%s is missing on the flash" % path)
            moved = 0
            for _, _, path in self.lines():
                top = path.split("/")[0]
                if self.wanted(path) and (top in _ROOT_DATA or self.frozen):
                    _makedirs(path)
                    _replace(self.dir + "/" + path, path)
                    moved += 1
        except Exception as e:
            self.abort(str(e))
            raise
        _active = None
        if self.frozen:
            _rmtree(self.dir)
            msg = ("data files of %s installed (%d); the app itself is frozen into this device's "
                   "firmware image: flash a new image to update it (docs/deploy.md)" % (self.version, moved))
        else:
            _replace(self.manifest, self.dir + "/manifest.txt")
            otaboot.switch(self.slot, self.version, app_version or running_version(),
                           int.from_bytes(os.urandom(4), "little"))
            msg = "version %s staged and checked (%d files, %d data files installed): restarting into it" % (
                self.version, self.count, moved)
        self.log.info("update: " + msg)
        return msg

    def abort(self, why):
        global _active
        if _active is self:
            _active = None
        self.log.error("update %s aborted: %s" % (self.version or "", why))
        try:
            _rmtree(self.dir)
        except OSError:
            pass


async def restart_soon(app, delay_ms=1500):
    """After the answer has gone out: save the totals and restart into the new version."""
    import asyncio
    import machine
    await asyncio.sleep_ms(delay_ms)
    if app is not None:
        app.shutdown("update")
    machine.reset()
