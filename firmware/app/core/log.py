# Event log: printed on the console and kept in a small RAM ring for `log` and the status page.
import time
from micropython import const
from app.core.clock import fmt_uptime
from app.core.config import mask

_SIZE = const(4096)  # bytes of the RAM ring: ~30-40 typical lines
_HEAD = const(6)     # a record: time (4 bytes), level (1), length (1), then the message (UTF-8)
_MAX_MSG = const(255)
INFO = "I"
WARN = "W"
ERROR = "E"


class Log:
    """The ring is one preallocated bytearray: a line costs no heap once stored. (Kept as tuples
    of Python objects, 50 lines held ~11 KB on a 32-bit heap, in many small blocks that
    fragmented it; the ESP32 has 112 KB in all.)"""

    def __init__(self, size=_SIZE, echo=True):
        self._buf = bytearray(size)
        self._start = 0  # offset of the oldest record
        self._used = 0   # bytes in use
        self._n = 0      # records held
        self.count = 0   # records ever added (the console shows what is new)
        self.echo = echo
        self.secrets = []  # strings never to print (every secret setting); filled by the app

    def _add(self, level, msg):
        msg = scrub(msg, self.secrets)
        self._store(level, msg)
        self.count += 1
        if self.echo:
            print("[%s %s] %s" % (fmt_uptime(), level, msg))

    def _store(self, level, msg):
        data = _utf8_cut(msg)
        need = _HEAD + len(data)
        size = len(self._buf)
        while self._n and self._used + need > size:  # drop the oldest lines until it fits
            old = _HEAD + self._byte(self._start + 5)
            self._start = (self._start + old) % size
            self._used -= old
            self._n -= 1
        t = int(time.time()) & 0xFFFFFFFF
        pos = (self._start + self._used) % size
        for i, b in enumerate((t >> 24, (t >> 16) & 255, (t >> 8) & 255, t & 255, ord(level), len(data))):
            self._buf[(pos + i) % size] = b
        pos = (pos + _HEAD) % size
        first = min(len(data), size - pos)  # the message, in two pieces where the ring wraps
        self._buf[pos:pos + first] = data[:first]
        self._buf[0:len(data) - first] = data[first:]
        self._used += need
        self._n += 1

    def _byte(self, at):
        return self._buf[at % len(self._buf)]

    def info(self, msg):
        self._add(INFO, msg)

    def warn(self, msg):
        self._add(WARN, msg)

    def error(self, msg):
        self._add(ERROR, msg)

    def exc(self, what, e):
        self._add(ERROR, "%s: %s: %s" % (what, type(e).__name__, e))

    def recent(self, n=50):
        """Newest last: [(time_s, level, msg)] (allocated only when asked for)."""
        out = []
        size = len(self._buf)
        pos = self._start
        for _ in range(self._n):
            t = (self._byte(pos) << 24) | (self._byte(pos + 1) << 16) | (self._byte(pos + 2) << 8) | self._byte(pos + 3)
            level, length = chr(self._byte(pos + 4)), self._byte(pos + 5)
            a = (pos + _HEAD) % size
            raw = self._buf[a:a + length] if a + length <= size else self._buf[a:] + self._buf[:a + length - size]
            out.append((t, level, bytes(raw).decode()))
            pos = (pos + _HEAD + length) % size
            if len(out) > n:
                out.pop(0)
        return out


def _utf8_cut(msg):
    """msg as UTF-8, at most _MAX_MSG bytes, never cut inside a character."""
    data = msg.encode()
    if len(data) <= _MAX_MSG:
        return data
    end = _MAX_MSG
    while end and (data[end] & 0xC0) == 0x80:  # a continuation byte: back to the character's start
        end -= 1
    return data[:end]


# --- secrets in text: the log, a server's answers (the secret settings: app.core.config) ---
def hide(log, values):
    """Never print these strings (secrets) in `log` (a Log, or a test's stand-in with .secrets):
    masked in every line from now on."""
    for v in values:
        if v and v not in log.secrets:
            log.secrets.append(v)


_PART = const(8)       # this many leading characters of a long secret count as the secret
_PART_FROM = const(16)  # secrets at least this long (keys): short ones are matched whole only


def scrub(text, secrets):
    """`text` with every secret masked, and also the start of a long one cut short (a server's
    answer is kept to its first bytes and may itself echo a truncated key)."""
    for s in secrets:
        if not s:
            continue
        if s in text:
            text = text.replace(s, mask(s))
        if len(s) < _PART_FROM:
            continue
        head = s[:_PART]
        i = text.find(head)
        while i >= 0:
            n = _PART
            while i + n < len(text) and n < len(s) and text[i + n] == s[n]:
                n += 1
            text = text[:i] + "****" + text[i + n:]
            i = text.find(head, i + 4)
    return text
