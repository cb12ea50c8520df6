# The running device: asyncio tasks for sampling, pushing, the network and the watchdog.
# Sampling never waits for the network: a push runs in its own task with its own deadline.
import asyncio
import gc
import time
from micropython import const
from app.core import clock, localtime
from app.core import validate
from app.core.site import kilo
from app.core.energy import Energy
from app.core.history import History
from app.core.site import Site
from app.sources import SourceError, make_source

_STALE_MIN_MS = const(20000)  # a reading older than this (or 3 sample periods) is not pushed
_SOURCE_RETRY_MS = const(10000)
_NTP_RETRY_S = const(600)
_NTP_REFRESH_S = const(21600)


class App:
    def __init__(self, cfg, log, board=None, store=None):
        self.cfg = cfg
        self.log = log
        self.board = board
        self.store = store            # app.core.persist store, or None
        self.site = Site()            # the latest good reading
        self._scratch = Site()        # what a poll fills (copied only when it succeeds)
        self.energy = Energy()
        self.history = History()      # 24 h of 5-minute points for the status page
        self.source = None
        self.source_error = "not read yet"
        self.last_ok_up = None        # uptime ms of the latest good reading
        self._reported = -1 << 29     # uptime ms of the last "reading:" log line
        self.polls = 0
        self.poll_errors = 0
        self.validation = None        # validate.Result of the latest push (app.outputs.chargehq)
        self.last_pushed_wh = None    # the totals the latest push carried (app.core.persist keeps them)
        self.wifi = None
        self.wdt = None
        self.reset_cause = "unknown"  # set by app.main
        from app.core.config import secret_values
        from app.core.log import hide
        hide(log, secret_values(cfg.data))  # every secret setting, masked in the log
        localtime.set_zone(cfg.get("device", "timezone"))

    # --- sampling -------------------------------------------------------------------------
    async def _start_source(self):
        try:
            src = make_source(self.cfg.section("source"), self.board, self.log)
            await src.start()
            self.source = src
            self.log.info("source %s started" % src.name)
            return True
        except SourceError as e:
            self._source_failed(str(e))
        except Exception as e:
            self._source_failed("%s: %s" % (type(e).__name__, e))
        return False

    def _source_failed(self, why):
        if why != self.source_error:
            self.log.error("meter: " + why)
        self.source_error = why
        self.poll_errors += 1

    async def sample_loop(self):
        interval = self.cfg.get("device", "sample_interval_ms")
        scratch = self._scratch
        due = time.ticks_ms()
        while True:
            if self.source is None:
                if not await self._start_source():
                    await asyncio.sleep_ms(_SOURCE_RETRY_MS)
                    continue
                due = time.ticks_ms()
            try:
                scratch.clear()
                await self.source.poll(scratch)
                self._accept(scratch)
            except SourceError as e:
                self._source_failed(str(e))
            except Exception as e:  # a driver bug must not stop sampling or the pushes
                self._source_failed("%s: %s" % (type(e).__name__, e))
            self.polls += 1
            due = time.ticks_add(due, interval)
            wait = time.ticks_diff(due, time.ticks_ms())
            if wait < 0:  # fell behind (slow bus): start afresh rather than rush
                due = time.ticks_ms()
                wait = 0
            await asyncio.sleep_ms(wait)

    def _accept(self, s):
        # the one place every output takes its values from: out-of-range values are dropped
        # here (app.core.validate.screen), so no output (push, status page, API, MQTT) carries them
        why = validate.screen(s, self.cfg.get("validation", "max_site_kw"))
        if s.dropped != self.site.dropped:
            if why:
                self.log.warn("left out of every output: " + why)
            else:
                self.log.info("all values in range again")
        s.copy_into(self.site)
        e = self.energy
        if s.hw_import_wh is not None or s.hw_export_wh is not None:
            note = e.meter(s.hw_import_wh, s.hw_export_wh)
            if note:
                self.log.warn(note)
        else:
            e.add(s.d_import_uwh, s.d_export_uwh)
        self.last_ok_up = clock.uptime_ms()
        self.history.add(s, self.last_ok_up)
        every = self.cfg.get("device", "report_s")
        if every and self.last_ok_up - self._reported >= every * 1000:
            self._reported = self.last_ok_up
            self.log.info("reading: " + self.reading_text())
        if self.source_error is not None:
            if self.source_error != "not read yet":
                self.log.info("meter read again")
            self.source_error = None
        if self.store:
            self.store.on_poll(self)

    # --- the reading every output sends --------------------------------------------------------------------------
    def reading_age_ms(self):
        if self.last_ok_up is None:
            return None
        return clock.uptime_ms() - self.last_ok_up

    def reading_error(self):
        """Why the latest reading must not leave the device (meter error, too old), or None."""
        age = self.reading_age_ms()
        stale = max(_STALE_MIN_MS, 3 * self.cfg.get("device", "sample_interval_ms"))
        if self.source_error is not None or age is None or age > stale:
            return self.source_error or "no meter reading for %d s" % ((age or 0) // 1000)
        return None

    def sendable_wh(self):
        """The lifetime totals every output sends: with a store, those on flash (a power cut
        cannot take them back), so no output ever sees a total go down."""
        return self.store.pushable_wh(self.energy) if self.store else self.energy.wh

    def _power_text(self):
        s = self.site
        text = "solar %s grid %s load %s" % (_kw(s.solar_w), _kw(s.grid_w),
                                            _kw(validate.consumption_w(s)))
        if s.battery_w is not None:
            text += " batt %s" % _kw(s.battery_w)
        if s.soc_pm is not None:
            text += " (%d%%)" % (s.soc_pm // 10)
        return text + " kW"

    def reading_text(self):
        """The latest reading and the live (counted) totals."""
        e = self.energy.wh
        return self._power_text() + ", import %s export %s kWh" % (kilo(e[0]),
                                                                   kilo(e[1]))

    # --- what the console and the status page show ------------------------------------------
    def values(self):
        """What every output other than the Charge HQ push sends (/api/status, MQTT, OpenEVSE):
        the same reading the push uses, gone through the same check (app.core.validate), and the same
        totals (sendable_wh). Powers are None when the reading is missing, too old or not numeric.
        -> (dict, validate.Result or None)"""
        s = self.site
        why = self.reading_error()
        v = None
        if why is None:
            v = validate.check(s, self.sendable_wh() if s.grid_w is not None else None, None,
                               self.cfg.get("validation", "tolerance_w"),
                               self.cfg.get("validation", "tolerance_pct"),
                               self.cfg.get("validation", "max_site_kw"))
            if not v.numeric:
                why = "meter gave non-numeric data"
        ok = why is None
        e = self.energy
        wh = self.sendable_wh()
        out = {
            "meter_ok": ok,
            "meter_error": why,
            "production_kw": _kw_num(s.solar_w) if ok else None,
            "net_import_kw": _kw_num(s.grid_w) if ok else None,
            "consumption_kw": _kw_num(validate.consumption_w(s)) if ok else None,
            "battery_discharge_kw": _kw_num(s.battery_w) if ok else None,
            "battery_soc": _kw_num(s.soc_pm) if ok else None,
            "imported_kwh": _kw_num(wh[0]), "exported_kwh": _kw_num(wh[1]),
            "today_imported_kwh": _today(e, wh, 0), "today_exported_kwh": _today(e, wh, 1),
        }
        return out, v

    def status(self):
        """A snapshot of the device for `status`, the status page and /api/status (schema 1:
        docs/api.md; fields are only ever added)."""
        vals, cur = self.values()
        v = self.validation if self.validation is not None else cur
        wifi = None
        if self.wifi is not None:
            up = self.wifi.isconnected()
            wifi = {"connected": up, "ssid": self.cfg.get("wifi", "ssid"),
                    "ip": self.wifi.ifconfig()[0] if up else None,
                    "rssi": _rssi(self.wifi) if up else None}
            sup = getattr(self, "wifi_sup", None)  # app.system.wifi_supervisor: why not, since when
            if sup is not None:
                ws = sup.status()
                for k in ("reason", "down_s", "outages", "setup_ap"):
                    wifi[k] = ws[k]
        st = {
            "schema": 1,
            "source": self.source.name if self.source else self.cfg.section("source").get("type"),
            "reading_age_s": None if self.last_ok_up is None else self.reading_age_ms() // 1000,
            "energy_store": self.store.status() if self.store else None,
            "validation": None if v is None else v.text(),
            "wifi": wifi,
            "uptime_s": clock.uptime_s(),
            "free_heap": gc.mem_free(),
            "reset_cause": self.reset_cause,
            "clock_synced": clock.is_synced(),
            "warnings": self.cfg.errors + self.cfg.warnings,  # refused values (defaults used), risky ones
            "local_time": clock.fmt_time(time.time()),
            # the keys filled below too: made at full size once (a dict that grows is copied)
            "meter_ok": None, "meter_error": None, "production_kw": None, "net_import_kw": None,
            "consumption_kw": None, "battery_discharge_kw": None, "battery_soc": None, "imported_kwh": None,
            "exported_kwh": None, "today_imported_kwh": None, "today_exported_kwh": None, "last_push": None,
            "last_push_result": None, "last_push_status": None, "pushes_ok": None, "pushes_error": None,
            "pushes_failed": None, "chargehq_gone": None, "next_push_s": None, "firmware": None}
        st.update(vals)
        vals = None
        self.push_status(st)
        outs = getattr(self, "outputs", None)  # app.outputs: MQTT, OpenEVSE
        if outs:
            for o in outs:
                st[o.name] = o.status()
        return st

    def push_status(self, st):
        """The push's keys of the status (app.outputs.chargehq adds them)."""

    # --- network and clock ----------------------------------------------------------------
    async def clock_loop(self):
        # ntptime blocks the loop for up to its timeout: back off while no server answers
        retry = 10
        while True:
            if self.wifi is None or self.wifi.isconnected():
                if clock.sync():
                    retry = 10
                    await asyncio.sleep(_NTP_REFRESH_S)
                    continue
            await asyncio.sleep(retry)
            retry = min(retry * 2, _NTP_RETRY_S)

    async def watchdog_loop(self):
        # Fed only while sampling makes progress: a hung driver or a blocked loop resets the chip.
        secs = self.cfg.get("device", "watchdog_s")
        if not self.wdt:
            return
        last = -1
        stuck_since = clock.uptime_ms()
        while True:
            if self.polls != last:
                last = self.polls
                stuck_since = clock.uptime_ms()
            if clock.uptime_ms() - stuck_since < secs * 500:
                self.wdt.feed()
            await asyncio.sleep_ms(1000)

    async def run(self, *services):
        """Run until cancelled; `services` are more coroutines (Wi-Fi, console, status page)."""
        if self.store:
            self.store.restore(self)
        if clock.is_synced():  # the chart of the day before a clean restart (app.history)
            from app.core import historyfile
            n = historyfile.load(self.history, time.time())
            if n:
                self.log.info("history: the chart's last 24 h put back after the restart (%d points)" % n)
        secs = self.cfg.get("device", "watchdog_s")
        if secs:  # armed before any task runs: a first poll that hangs must be caught too
            import machine
            self.wdt = machine.WDT(timeout=secs * 1000)
        tasks = [asyncio.create_task(self.sample_loop()),
                 asyncio.create_task(self.clock_loop()), asyncio.create_task(self.watchdog_loop())]
        for coro in services:
            tasks.append(asyncio.create_task(coro))
        await tasks[0]

    def shutdown(self, why="shutdown"):
        if self.store:
            self.store.checkpoint(self, why)
        if clock.is_synced() and self.history.slot >= 0:
            try:
                from app.core import historyfile
                historyfile.save(self.history, clock.uptime_ms(), time.time())
            except Exception as e:  # the chart is a nicety: never stop a shutdown for it
                self.log.warn("history not saved: %s" % e)
        if self.source:
            try:
                self.source.close()
            except Exception:
                pass


def _kw(w):
    return "-" if w is None else kilo(w)


def _kw_num(w):
    return None if w is None else w / 1000


def _today(e, wh, i):
    # today's energy from the sendable totals, so it cannot go down after a power cut either
    if e.day < 0:
        return None
    return max(0, wh[i] - e.day_start[i]) / 1000


def _rssi(wlan):
    try:
        return wlan.status("rssi")
    except Exception:
        return None
