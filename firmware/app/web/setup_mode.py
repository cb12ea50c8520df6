# The set-up network, opened and closed as one: the access point (WPA2, a name with a
# per-device suffix), the DNS catch-all that sends every name to it, and the web portal.
# app.system.wifi_supervisor.Supervisor decides when; app.main opens it at once when the device needs set-up.
import asyncio
import errno
import os
import time
import network
from micropython import const

_KEY_FILE = "ap_key.txt"     # the per-device set-up password when none is configured
_KEY_CHARS = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off a serial console
_KEY_LEN = const(10)
_AP_IP_FALLBACK = "192.168.4.1"
_IN_USE = (getattr(errno, "EADDRINUSE", 98), 98, 112)  # Linux, lwIP/newlib numbering


def device_suffix():
    """Six hex digits from the chip's id: tells two meters apart in a phone's Wi-Fi list."""
    try:
        import machine
        uid = machine.unique_id()
    except Exception:
        return "000000"
    return "".join("%02X" % b for b in uid[-3:])


def ap_name(prefix):
    sfx = "-" + device_suffix()
    prefix = prefix[:32 - len(sfx)]
    while len((prefix + sfx).encode()) > 32:  # an SSID has at most 32 bytes; the suffix stays
        prefix = prefix[:-1]
    return prefix + sfx


def _new_key():
    raw = os.urandom(_KEY_LEN)
    return "".join(_KEY_CHARS[b % len(_KEY_CHARS)] for b in raw)


def ap_password(configured, log=None):
    """The configured WPA2 password (8..63 characters), else this device's own one (made once,
    kept in flash so it does not change between reboots)."""
    if configured:
        if 8 <= len(configured) <= 63:
            return configured
        if log:
            log.warn("config: portal.ap_password must be 8..63 characters: using this device's own")
    from app.core.statefile import read_text, unload
    key = read_text(_KEY_FILE, 128, log)  # not UTF-8, too large: kept aside, a new one made
    unload()
    if key is not None:
        key = key.strip()
        if 8 <= len(key) <= 63 and all(" " < c < "\x7f" for c in key):
            return key
        if log:
            log.warn("%s: not a usable password: a new one is made" % _KEY_FILE)
    key = _new_key()
    try:
        with open(_KEY_FILE, "w") as f:
            f.write(key)
    except OSError as e:
        if log:
            log.warn("set-up password not saved (%s): it changes at the next start" % e)
    return key


def _restart_after_setup(app):
    # Settings saved on the set-up network while the app runs (fallback): checkpoint the energy
    # totals before the restart that applies them.
    def on_saved(cfg, joined):
        try:
            app.shutdown("settings")
        finally:
            import machine
            machine.reset()
    return on_saved


async def _serve_portal(cfg, log, host, port, app=None):
    # The web side (app.web.portal, Microdot) is imported only now: it costs ~30 KB of RAM.
    from app.web import portal
    web = portal.make(cfg, log, None, port, network.WLAN(network.STA_IF),
                      _restart_after_setup(app) if app is not None else None)
    log.info("set-up portal on http://%s:%d/" % (host, port))
    await portal.run(web, host, port, log)  # restarts a server that died; frees the port when cancelled


class SetupAP:
    """open()/close() the set-up network; idle_ms() says how long nobody has used it."""

    def __init__(self, cfg, log, http=True, dns=True, http_serve=None, app=None, say=print, open_for_s=0):
        p = cfg.section("portal")
        self.cfg = cfg
        self.log = log
        self.essid = ap_name(p["ap_name"])
        # Once set up, the set-up network's password is the admin password (the owner typed it
        # in the form, so a phone alone can fix the Wi-Fi later), unless portal.ap_password is set.
        admin = cfg.get("device", "admin_password")
        self.is_admin_pw = not p["ap_password"] and 8 <= len(admin) <= 63
        self.password = admin if self.is_admin_pw else ap_password(p["ap_password"], log)
        # First set-up only (app.main decides): open, without a password, for open_for_s after
        # the start, so a phone alone can do it; then WPA2 with the password on the console.
        self.open_until = time.ticks_add(time.ticks_ms(), open_for_s * 1000) if open_for_s else None
        self.is_open = False
        if hasattr(log, "secrets"):
            from app.core.log import hide
            hide(log, (self.password,))  # the console shows it once (say), the log ring never
        self.http_port = p["http_port"]
        self.dns_port = p["dns_port"]
        self.http = http  # False (or a function saying so) when a web server already listens everywhere
        self.dns_enabled = dns
        self.http_serve = http_serve or _serve_portal
        self.app = app            # the running app (fallback while running), None in set-up mode
        self.say = say            # the serial console
        self.ap = network.WLAN(network.AP_IF)
        self.ip = None
        self.active = False
        self.dns = None
        self._tasks = []
        self._web = None          # the portal's own web server task, when it runs one
        self._last_use = time.ticks_ms()
        self._last_client = None
        self._dns_seen = 0
        self.opens = 0

    def is_client(self, addr):
        """True when `addr` (an IPv4 address string) is a phone on the set-up network (same /24
        as the access point): the web side can give it the set-up form while the app runs."""
        ip = self.ip
        if not self.active or not ip or not addr:
            return False
        return addr.rsplit(".", 1)[0] == ip.rsplit(".", 1)[0] and addr != ip

    def touch(self):
        """Someone used the portal (the web side may call this on each request)."""
        self._last_use = self._last_client = time.ticks_ms()

    def _look(self):
        # a phone joined to the access point, or a DNS query since the last look, is use
        if not self.active:
            return
        try:
            if self.ap.status("stations"):
                self.touch()
        except Exception:
            pass
        d = self.dns
        if d is not None and d.replied != self._dns_seen:
            self._dns_seen = d.replied
            self.touch()

    def idle_ms(self):
        """ms since the set-up network opened or anyone last used it."""
        self._look()
        return time.ticks_diff(time.ticks_ms(), self._last_use)

    def used_ms(self):
        """ms since a client last used the set-up network, None when none has since it opened."""
        self._look()
        if self._last_client is None:
            return None
        return time.ticks_diff(time.ticks_ms(), self._last_client)

    def open_window_s(self):
        """Seconds left of the first set-up's open window (0: none, or over)."""
        if self.open_until is None:
            return 0
        return max(0, time.ticks_diff(self.open_until, time.ticks_ms()) // 1000)

    async def open(self):
        if self.active:
            return
        ap = self.ap
        self.is_open = self.open_window_s() > 0
        try:
            ap.active(True)
            if self.is_open:
                ap.config(essid=self.essid, authmode=getattr(network, "AUTH_OPEN", 0))
            else:
                ap.config(essid=self.essid, password=self.password,
                          authmode=getattr(network, "AUTH_WPA2_PSK", 3))
        except Exception as e:  # never leave an open (unprotected) network behind
            self.log.error("set-up network failed to start: %s" % e)
            try:
                ap.active(False)
            except Exception:
                pass
            return False
        try:
            self.ip = ap.ifconfig()[0]
        except Exception:
            self.ip = _AP_IP_FALLBACK
        self.active = True
        self.opens += 1
        self._last_use = time.ticks_ms()
        self._last_client = None
        url = "http://%s/" % self.ip if self.http_port == 80 else "http://%s:%d/" % (self.ip, self.http_port)
        self.log.info("set-up network \"%s\" is open: join it, then open %s" % (self.essid, url))
        if self.is_open:
            self.log.warn("set-up network without a password for %d min (first set-up): after that, "
                          "or once set up, it needs one" % ((self.open_window_s() + 59) // 60))
        elif self.is_admin_pw:
            self.say("set-up network \"%s\": its password is the meter's admin password" % self.essid)
        else:
            # The password goes to the serial console only, not into the log ring that pages may show.
            self.say("set-up network \"%s\": WPA2 password %s" % (self.essid, self.password))
        if self.dns_enabled:
            try:
                from dns_catchall import DnsCatchAll
                self.dns = DnsCatchAll(self.ip, self.dns_port, bind_ip=self.ip)
                self.dns.open()
                self._dns_seen = 0
                self._tasks.append(asyncio.create_task(self._run("DNS", self.dns.serve())))
            except Exception as e:  # port taken, module missing, out of memory: the AP stays
                self.log.error("set-up DNS on port %d: %s: %s (phones will not open the portal by "
                               "themselves; browse to %s)" % (self.dns_port, type(e).__name__, e, url))
                if self.dns is not None:
                    self.dns.close()
                self.dns = None
        self.start_http()
        return True

    def start_http(self):
        """The set-up portal's own web server, unless another one (the status page) already
        listens on every interface, or this one runs."""
        if not self.active or self._web is not None or not (self.http() if callable(self.http) else self.http):
            return
        self._web = asyncio.create_task(self._run("web portal", self._http()))
        self._tasks.append(self._web)

    def _http(self):
        if self.app is not None:
            return self.http_serve(self.cfg, self.log, self.ip, self.http_port, self.app)
        return self.http_serve(self.cfg, self.log, self.ip, self.http_port)

    async def _run(self, what, coro):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except OSError as e:
            if e.errno in _IN_USE:  # the app's own web server already listens on every interface
                self.log.info("set-up %s: port in use, the running web server serves the set-up "
                              "network" % what)
            else:
                self.log.error("set-up %s stopped: OSError: %s" % (what, e))
        except Exception as e:  # the AP stays up: the user can still read the console
            self.log.error("set-up %s stopped: %s: %s" % (what, type(e).__name__, e))

    async def close(self):
        if not self.active:
            return
        self.active = False
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        self._web = None
        if self.dns is not None:
            self.dns.close()
            self.dns = None
        await asyncio.sleep_ms(0)  # let the cancelled tasks unwind (close their sockets)
        try:
            self.ap.active(False)
        except Exception as e:
            self.log.warn("set-up network: cannot switch the AP off: %s" % e)
        self.log.info("set-up network \"%s\" closed" % self.essid)
