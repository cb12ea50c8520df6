# The file work of an over-the-air update (app.system.ota): which paths a manifest may name,
# folders made and removed whole, a file replaced atomically (also on FAT), the free flash.
import os

_TOPS = ("app", "lib", "web", "ca", "profiles", "boards")
_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


def bad_path(p):
    """-> why the manifest may not name this path, or None."""
    if not p or len(p) > 96:
        return "path empty or too long"
    parts = p.split("/")
    if parts[0] not in _TOPS:
        return "outside the app folders (%s)" % "/, ".join(_TOPS)
    if len(parts) < 2 or len(parts) > 6:
        return "not a file inside a folder"
    for part in parts:
        if not part or part[0] == "." or any(c not in _OK for c in part):
            return "bad part %r" % part[:20]
    return None


def _rmtree(path):
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for e in entries:
        p = path + "/" + e[0]
        if e[1] & 0x4000:
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(path)


def _makedirs(path):
    d = ""
    for part in path.split("/")[:-1]:
        d = d + "/" + part if d else part
        try:
            os.mkdir(d)
        except OSError:
            pass


def _free_bytes():
    try:
        s = os.statvfs(".")
        return s[0] * s[4], s[0]
    except (OSError, AttributeError):
        return None, 4096


def _replace(src, dst):
    try:
        os.rename(src, dst)  # atomic over an old file on LittleFS and POSIX
    except OSError:  # FAT: remove first
        try:
            os.remove(dst)
        except OSError:
            pass
        os.rename(src, dst)
