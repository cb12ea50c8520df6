# The files the device reads at boot (config.json, wifi_ok.txt, ap_key.txt, boards/*.json), read
# so that no content can stop the boot: the size is checked before reading (a file larger than
# the heap), text must be UTF-8, JSON must be nested at most a few levels (MicroPython's parser
# runs out of memory on `[[[[...` long before it says "syntax error"). A bad file is renamed to
# `<name>.bad` (kept for inspection, out of the way of the next boot) and the reason logged. Out of
# memory while reading is not the file's fault: it is left in place.
import os
from micropython import const

MAX_DEPTH = const(8)  # config.json is 4 deep (source.devices[0].x); boards/*.json 3


def unload():
    """Drop this module once the boot's reads are done: its RAM back (the next use loads it again)."""
    from app.core.modules import forget
    forget("app.core.statefile")


def size(path):
    """-> the file's size in bytes, or None when there is no such file."""
    try:
        return os.stat(path)[6]
    except OSError:
        return None


def keep_bad(path, why, log=None):
    """Move a file that cannot be used aside (`.bad`, replacing an older one) and say why."""
    try:
        try:
            os.remove(path + ".bad")
        except OSError:
            pass
        os.rename(path, path + ".bad")
        kept = "kept as %s.bad" % path
    except OSError:
        kept = "could not move it aside"
    if log is not None:
        log.error("%s: %s (%s)" % (path, why, kept))


def read_bytes(path, limit):
    """-> the file's bytes, None when missing. Raises ValueError when larger than `limit`."""
    n = size(path)
    if n is None:
        return None
    if n > limit:
        raise ValueError("%d bytes, larger than the %d this file may have" % (n, limit))
    with open(path, "rb") as f:
        return f.read(n)  # read(n) reserves n bytes first: the stat size, not the limit


def read_text(path, limit, log=None):
    """-> the file's text; None when it is missing or bad (then kept as .bad, the reason logged)."""
    try:
        raw = read_bytes(path, limit)
        return None if raw is None else raw.decode()
    except (OSError, MemoryError):  # short of memory now: the file is left where it is
        return None
    except (ValueError, UnicodeError) as e:
        keep_bad(path, _why(e), log)
        return None


def depth_problem(text, most=MAX_DEPTH):
    """-> a reason when JSON text nests [ and { deeper than `most`, else None (strings skipped)."""
    depth = 0
    in_str = False
    esc = False
    for c in text:
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "[" or c == "{":
            depth += 1
            if depth > most:
                return "nested deeper than %d levels" % most
        elif c == "]" or c == "}":
            depth -= 1
    return None


def parse_json(text):
    """JSON text -> value; ValueError with the reason for anything that is not small, sane JSON."""
    why = depth_problem(text)
    if why:
        raise ValueError(why)
    import json
    try:
        return json.loads(text)
    except RuntimeError:  # CPython: recursion too deep
        raise ValueError("nested too deeply")


def read_json(path, limit, log=None):
    """-> (value, None); (None, None) when the file is missing; (None, why) when it is bad (then
    kept as .bad and logged)."""
    try:
        raw = read_bytes(path, limit)
        if raw is None:
            return None, None
        return parse_json(raw.decode()), None
    except OSError:
        return None, None
    except MemoryError:  # the file may be good: left where it is, not read this time
        return None, "too large for the free memory"
    except (ValueError, UnicodeError) as e:
        why = _why(e)
        keep_bad(path, why, log)
        return None, why


def _why(e):
    if isinstance(e, UnicodeError):
        return "not UTF-8 text"
    return str(e) or type(e).__name__
