# Who may see the protected LAN pages (/settings, /log, /backup, updates): the admin password over
# HTTP basic auth, counted per client address so a guesser locks out only itself, and a phone on
# the set-up network, which knows that network's own password.
import time
from micropython import const

_MAX_WRONG = const(10)    # wrong admin passwords in a row before the settings lock for a while
LOCK_MS = const(60000)
_MAX_TRACKED = const(16)  # client addresses whose wrong passwords are counted at once


def authorized(req, pw):
    """HTTP basic auth against the admin password (any user name)."""
    got = req.headers.get("Authorization") or ""
    if not pw or not got.startswith("Basic "):
        return False
    try:
        import binascii
        given = binascii.a2b_base64(got[6:]).decode().split(":", 1)[-1]
    except Exception:
        return False
    diff = len(given) ^ len(pw)  # no early exit: the time does not tell how much was right
    for i in range(min(len(given), len(pw))):
        diff |= ord(given[i]) ^ ord(pw[i])
    return diff == 0


def setup_client(app, req):
    """The set-up network (the fallback access point) when `req` comes from a phone on it, else
    None. Such a phone gets the settings without the admin password: it knows the set-up
    network's own password, shown only on the serial console."""
    sup = getattr(app, "wifi_sup", None)
    ap = getattr(sup, "setup", None)
    if ap is None or not getattr(ap, "active", False):
        return None
    from app.web.server import peer_ip
    try:
        if ap.is_client(peer_ip(req.client_addr)):
            ap.touch()  # the set-up network is in use: not idle
            return ap
    except Exception:
        pass
    return None


class _Guard:
    """Wrong admin passwords in a row, per client address: one guesser on the LAN locks out
    only itself, never the owner. Up to _MAX_TRACKED addresses; more at once: the first counted
    is forgotten."""

    def __init__(self):
        self.by_ip = {}  # ip -> [wrong in a row, ticks of the last wrong one]

    def locked(self, ip):
        g = self.by_ip.get(ip)
        if g and g[0] >= _MAX_WRONG:
            if time.ticks_diff(time.ticks_ms(), g[1]) < LOCK_MS:
                return True
            del self.by_ip[ip]  # the lock has run out: a fresh start
        return False

    def wrong(self, ip):
        d = self.by_ip
        if ip not in d:
            if len(d) >= _MAX_TRACKED:
                del d[next(iter(d))]
            d[ip] = [0, 0]
        d[ip][0] += 1
        d[ip][1] = time.ticks_ms()

    def right(self, ip):
        self.by_ip.pop(ip, None)


GUARD = _Guard()  # one count per client address for every password-protected page (/settings, updates)
