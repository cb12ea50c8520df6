# The words of a typed console line: where they start and end ("double quotes" keep spaces), and
# where a secret begins (typed from there, it is echoed as *).
from app.core.config import SECRET_KEYS

_SECRET_BYTES = tuple(k.encode() for k in SECRET_KEYS)


def spans(line):
    """Word positions [(start, end)] in a typed line (bytes); "double quotes" keep spaces."""
    out = []
    start = -1
    quoted = False
    for i in range(len(line)):
        c = line[i]
        if c == 34:
            quoted = not quoted
        if c == 32 and not quoted:
            if start >= 0:
                out.append((start, i))
                start = -1
        elif start < 0:
            start = i
    if start >= 0:
        out.append((start, len(line)))
    return out


def words(line):
    """A typed line (bytes) -> [str], quotes removed."""
    out = []
    for s, e in spans(line):
        out.append(bytes(line[s:e]).replace(b'"', b"").decode())
    return out


def secret_from(line):
    """Index in `line` (bytes) where a secret starts (typed from there: shown as *), or -1."""
    sp = spans(line)
    if len(sp) < 3:
        return -1
    cmd = bytes(line[sp[0][0]:sp[0][1]])
    if cmd == b"wifi":
        return sp[2][0]
    if cmd == b"set":
        name = bytes(line[sp[1][0]:sp[1][1]]).replace(b'"', b"")  # bytes: junk never raises
        if name.split(b".")[-1] in _SECRET_BYTES:
            return sp[2][0]
    return -1
