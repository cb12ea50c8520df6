# Keeps the Wi-Fi station joined while the app runs (outages are common: router reboots, power
# cuts, interference) and opens the set-up network (app.web.setup_mode) when the home network stays
# away for a configurable time - while still retrying the home network, so a router that comes
# back heals the device by itself. Never raises into the app: trouble is logged and retried.
import asyncio
import time
import network
from micropython import const
from app.system.wifi import join, reason, known, remember

_JOIN_TIMEOUT_MS = const(20000)
_CHECK_MS = const(5000)          # how often a healthy connection is looked at
_BACKOFF_MIN_MS = const(2000)    # first retry after a failed join; doubles up to the max
_BACKOFF_MAX_MS = const(60000)   # a router back from a reboot is found within a minute
_IN_USE_MS = const(60000)        # someone used the set-up network this recently: don't scan
_HEALED_IDLE_MS = const(30000)   # home network back: close the set-up network once unused this long
_QUIET_AFTER = const(3)          # failed attempts logged one by one per outage, then ...
_QUIET_LOG_MS = const(600000)    # ... one line per 10 minutes (a day-long outage: no log flood)


def _ms():
    return time.ticks_ms()


class Supervisor:
    """Keeps the station joined; opens and closes the set-up network (`setup`, an object with
    open(), close(), .active and idle_ms(); see app.web.setup_mode) when the network stays away.

    Times are in ms: ap_after_ms without a network opens the set-up network (ap_new_ms when this
    network never worked on this device; 0 = at once), idle_close_ms unused closes it again."""

    def __init__(self, ssid, password, log, hostname=None, setup=None, ap_after_ms=600000,
                 ap_new_ms=60000, idle_close_ms=600000, join_timeout_ms=_JOIN_TIMEOUT_MS,
                 check_ms=_CHECK_MS, backoff_min_ms=_BACKOFF_MIN_MS, backoff_max_ms=_BACKOFF_MAX_MS):
        self.ssid = ssid
        self.password = password
        self.log = log
        self.hostname = hostname
        self.setup = setup
        self.worked = bool(ssid) and known(ssid, password)
        self.ap_after_ms = ap_after_ms
        self.ap_new_ms = ap_new_ms
        self.idle_close_ms = idle_close_ms
        self.join_timeout_ms = join_timeout_ms
        self.check_ms = check_ms
        self.backoff_min_ms = backoff_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.sta = network.WLAN(network.STA_IF)
        self.up = False
        self.why = "not tried yet"        # why the station is not connected (readable)
        self.outages = 0                  # connections lost since boot
        self.joins = 0                    # successful joins since boot
        self.failures = 0                 # failed join attempts since boot
        self.streak = 0                   # failed attempts since the network was last up
        self.quiet_since = _ms()
        self.ap_opens = 0
        self.down_since = _ms()
        self.backoff_ms = backoff_min_ms
        self.next_try = _ms()
        self.wake = asyncio.Event()       # set to look again at once
        self.force_ap = False             # open the set-up network at the next look
        self.ap_forced = False            # the open one was asked for (console), not a fallback

    @classmethod
    def from_config(cls, cfg, log, setup=None):
        w = cfg.section("wifi")
        p = cfg.section("portal")
        return cls(w["ssid"], w["password"], log, w["hostname"], setup,
                   ap_after_ms=p["ap_after_s"] * 1000, ap_new_ms=p["ap_after_new_s"] * 1000,
                   idle_close_ms=p["idle_close_s"] * 1000)

    # --- what the status page and the console show ---------------------------------------
    def status(self):
        ip = None
        if self.up:
            try:
                ip = self.sta.ifconfig()[0]
            except Exception:
                pass
        s = self.setup
        return {"connected": self.up, "ssid": self.ssid, "ip": ip,
                "reason": None if self.up else self.why,
                "down_s": None if self.up else time.ticks_diff(_ms(), self.down_since) // 1000,
                "outages": self.outages, "setup_ap": bool(s and s.active),
                "setup_ap_name": s.essid if s and s.active else None}

    # --- the loop ----------------------------------------------------------------------------
    async def run(self):
        """Forever. Every error is logged and retried later: this task never ends the app."""
        while True:
            wait = await self.step()
            if wait > 0:
                try:
                    await asyncio.wait_for(self.wake.wait(), wait / 1000)
                except asyncio.TimeoutError:
                    pass
                self.wake.clear()

    async def step(self):
        """One look at the station and the set-up network; -> ms until the next look. Never
        raises (app.main awaits the first look before anything else runs)."""
        try:
            return await self._step()
        except Exception as e:
            self.log.error("Wi-Fi supervisor: %s: %s" % (type(e).__name__, e))
            return self.check_ms

    async def _step(self):
        now = _ms()
        st = self._status()  # read first: the reason a link dropped is in it
        connected = self._connected()
        if connected:
            if not self.up:
                self._went_up()
            if self.force_ap:
                await self._maybe_open_ap()
            await self._maybe_close_ap(healed=True)
            return self.check_ms
        if self.up:
            self._went_down(reason(st))
        deferred = self._ap_in_use()
        if self.ssid and time.ticks_diff(now, self.next_try) >= 0 and not deferred:
            sta, why = await join(self.ssid, self.password, self.hostname, self.join_timeout_ms)
            self.sta = sta
            if why is None:
                self._went_up()
                await self._maybe_close_ap(healed=True)
                return self.check_ms
            self._failed(why)
        elif not self.ssid:
            self.why = "no Wi-Fi network set up"
        await self._maybe_open_ap()
        await self._maybe_close_ap(healed=False)
        wait = self.check_ms
        if self.ssid and not deferred:  # wake for the next join attempt
            wait = time.ticks_diff(self.next_try, _ms())
        return max(10, min(wait, self.check_ms))

    def _failed(self, why):
        self.failures += 1
        self.streak += 1
        self.why = why
        if self.streak <= _QUIET_AFTER:
            self.log.warn("Wi-Fi: cannot join %s: %s; retry in %d s" % (
                self.ssid, why, self.backoff_ms // 1000))
            self.quiet_since = _ms()
        elif time.ticks_diff(_ms(), self.quiet_since) >= _QUIET_LOG_MS:
            self.log.warn("Wi-Fi: still cannot join %s after %d attempts (%s); retrying every %d s" % (
                self.ssid, self.streak, why, self.backoff_max_ms // 1000))
            self.quiet_since = _ms()
        self.next_try = time.ticks_add(_ms(), self.backoff_ms)
        self.backoff_ms = min(self.backoff_ms * 2, self.backoff_max_ms)

    def _connected(self):
        try:
            return self.sta.isconnected()
        except Exception:
            return False

    def _status(self):
        try:
            return self.sta.status()
        except Exception:
            return None

    def _went_up(self):
        self.up = True
        self.joins += 1
        self.backoff_ms = self.backoff_min_ms
        try:
            ip = self.sta.ifconfig()[0]
        except Exception:
            ip = "?"
        down_s = time.ticks_diff(_ms(), self.down_since) // 1000
        self.log.info("Wi-Fi connected to %s, IP %s%s" % (
            self.ssid, ip, " (after %d s without)" % down_s if self.joins > 1 else ""))
        self.why = None
        self.streak = 0
        if not self.worked and self.ssid:
            self.worked = True
            remember(self.ssid, self.password)

    def _went_down(self, why):
        if why in ("still connecting", "not trying", "status None"):
            why = "link dropped"  # the ESP32 reports its own reconnect attempt, not the cause
        self.up = False
        self.outages += 1
        self.why = "connection lost (%s)" % why
        self.down_since = _ms()
        self.backoff_ms = self.backoff_min_ms
        self.next_try = _ms()  # the first retry at once, then back off
        self.log.warn("Wi-Fi connection to %s lost (%s); retrying" % (self.ssid, why))

    def _ap_in_use(self):
        # Scanning for the home network makes the radio leave the set-up network's channel, which
        # drops phones on it: while someone is setting up, leave the radio alone.
        s = self.setup
        if not s or not s.active:
            return False
        used = s.used_ms()
        return used is not None and used < min(_IN_USE_MS, self.idle_close_ms)

    def open_setup_now(self):
        """Open the set-up network at the next look (console `portal`); it closes when unused."""
        self.force_ap = True
        self.wake.set()

    async def _maybe_open_ap(self):
        s = self.setup
        forced = self.force_ap
        self.force_ap = False
        if s is None or s.active:
            return
        if not self.ssid or forced:
            limit = 0
        else:
            limit = self.ap_after_ms if self.worked else self.ap_new_ms
        down_ms = time.ticks_diff(_ms(), self.down_since)
        if down_ms < limit:
            return
        if forced:
            self.log.info("Wi-Fi: opening the set-up network on request")
        elif self.ssid:
            self.log.warn("Wi-Fi: no connection to %s for %d s (%s): opening the set-up network, "
                          "still retrying %s" % (self.ssid, down_ms // 1000, self.why, self.ssid))
        if await s.open():
            self.ap_opens += 1
            self.ap_forced = forced

    async def _maybe_close_ap(self, healed):
        s = self.setup
        if s is None or not s.active:
            return
        idle = s.idle_ms()
        if healed and not self.ap_forced:
            if idle < min(_HEALED_IDLE_MS, self.idle_close_ms):
                return
            self.log.info("Wi-Fi: %s is back: closing the set-up network" % self.ssid)
        else:
            if idle < self.idle_close_ms:
                return
            self.log.info("Wi-Fi: set-up network unused for %d s: closing it%s" % (
                idle // 1000, "" if self.up else " (it opens again if %s stays away)" % self.ssid))
            self.down_since = _ms()  # the fallback timer starts over
        self.ap_forced = False
        await s.close()
