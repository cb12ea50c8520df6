# Event log: printed on the console and kept in a small RAM ring for `log` and the status page.
import time
from micropython import const
from app.clock import fmt_uptime

_SIZE = const(50)
INFO = "I"
WARN = "W"
ERROR = "E"


class Log:
    def __init__(self, size=_SIZE, echo=True):
        self._ring = [None] * size  # type: list  # (static check: the entries become tuples)
        self._next = 0
        self.count = 0
        self.echo = echo
        self.secrets = []  # strings never to print (the API key); filled by the app

    def _add(self, level, msg):
        for s in self.secrets:
            if s and s in msg:
                msg = msg.replace(s, mask(s))
        self._ring[self._next] = (time.time(), level, msg)
        self._next = (self._next + 1) % len(self._ring)
        self.count += 1
        if self.echo:
            print("[%s %s] %s" % (fmt_uptime(), level, msg))

    def info(self, msg):
        self._add(INFO, msg)

    def warn(self, msg):
        self._add(WARN, msg)

    def error(self, msg):
        self._add(ERROR, msg)

    def exc(self, what, e):
        self._add(ERROR, "%s: %s: %s" % (what, type(e).__name__, e))

    def recent(self, n=_SIZE):
        """Newest last: [(time_s, level, msg)]."""
        size = len(self._ring)
        out = []
        for i in range(size):
            e = self._ring[(self._next + i) % size]
            if e is not None:
                out.append(e)
        return out[-n:]


def mask(secret):
    """All but the last 4 characters hidden: the user can still tell which key is set."""
    if not secret:
        return "(not set)"
    if len(secret) <= 4:
        return "****"
    return "*" * min(8, len(secret) - 4) + secret[-4:]
