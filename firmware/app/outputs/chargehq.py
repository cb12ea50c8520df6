# The Charge HQ push (Push API, docs/chargehq-push-api.md), the device's first output: every
# push_interval_s the latest reading, checked (app.core.validate), goes out as one verified HTTPS
# request (app.outputs.pusher), never under 30 s after the one before, also across restarts
# (app.core.persist keeps the floor). ChargeHQApp is the core's App with this loop beside sampling.
import asyncio
import gc
from micropython import const
from app.core import clock, validate
from app.core.scheduler import App
from app.core.site import kilo
from app.outputs import payload
from app.outputs.pusher import Pusher

_DELAYED_MS = const(5000)     # a reading this old at push time carries its timestamp (tsms)
_FIRST_READ_WAIT_MS = const(10000)
_NO_WIFI = "no Wi-Fi connection"


class ChargeHQApp(App):
    def __init__(self, cfg, log, board=None, store=None):
        App.__init__(self, cfg, log, board, store)
        self.pusher = Pusher(cfg, log)
        self._body_wh = None          # the totals in the body being pushed
        self.push_error = None        # what the last push reported as `error` (no data), or None
        self.error_pushes = 0         # pushes Charge HQ took that carried `error`, not data
        self.push_now = asyncio.Event()

    def build_body(self):
        """-> (JSON text, one-line summary for the log)."""
        key = self.cfg.get("chargehq", "api_key")
        age = self.reading_age_ms()
        why = self.reading_error()
        if why is not None:
            self.validation = None
            return payload.body(key, error=why), "error: " + why
        s = self.site
        energy = None
        if s.grid_w is not None:  # with a store, the totals on flash (never taken back)
            energy = self.sendable_wh()
        self._body_wh = None if energy is None else list(energy)  # what this body carries
        v = validate.check(s, energy, self.last_pushed_wh,
                           self.cfg.get("validation", "tolerance_w"),
                           self.cfg.get("validation", "tolerance_pct"),
                           self.cfg.get("validation", "max_site_kw"))
        if not v.ok:
            self.log.warn("check: " + v.text())
        self.validation = v
        if not v.numeric:  # pushed as data it would be garbage in Charge HQ
            why = "meter gave non-numeric data"
            return payload.body(key, error=why), "error: " + why
        tsms = s.t_s if age > _DELAYED_MS and clock.is_synced() else None
        body = payload.body(key, s, validate.consumption_w(s), energy, tsms_s=tsms)
        return body, "%s%s, reading %d ms old" % (
            self._sent_text(energy), ", check ok" if v.ok else " [check failed]", age)

    def _sent_text(self, sent):
        """For the log line of a push: the totals the body carries (with a store, those on flash),
        and the live ones when they are ahead (a later checkpoint sends them)."""
        text = self._power_text()
        if sent is None:
            return text + ", no kWh (no grid reading)"
        text += ", import %s export %s kWh" % (kilo(sent[0]), kilo(sent[1]))
        e = self.energy.wh
        if e[0] != sent[0] or e[1] != sent[1]:
            text += " (live %s/%s: the next checkpoint sends it)" % (kilo(e[0]),
                                                                     kilo(e[1]))
        return text

    async def push_loop(self):
        if not self.cfg.get("chargehq", "enabled"):  # the other outputs only (app.outputs)
            return
        while True:
            wait = self.pusher.due_in_ms()
            if self.push_now.is_set():
                self.push_now.clear()
                wait = self.pusher.floor_in_ms()
                if wait > 0:
                    self.log.info("push now: waiting %d s (30 s floor)" % (wait // 1000 + 1))
                    await asyncio.sleep_ms(wait)
                wait = 0
            if wait > 0:
                try:  # wake early for `push now`
                    await asyncio.wait_for(self.push_now.wait(), min(wait, 60000) / 1000)
                except asyncio.TimeoutError:
                    pass
                continue
            if self.wifi is not None and not self.wifi.isconnected():
                # no network: nothing is sent (so the 30 s floor is untouched); push as soon as
                # the supervisor has the station back
                if self.pusher.last_result != _NO_WIFI:
                    self.pusher.last_result = _NO_WIFI
                    self.log.warn("push waits: " + _NO_WIFI)
                await asyncio.sleep_ms(1000)
                continue
            if self.last_ok_up is None and self.source_error == "not read yet" \
                    and clock.uptime_ms() < _FIRST_READ_WAIT_MS:
                await asyncio.sleep_ms(100)  # just booted: the first reading is on its way
                continue
            body, summary = self.build_body()
            ok = await self.pusher.send(body)
            body = None
            self.push_error = summary[7:] if summary.startswith("error: ") else None
            if ok and self.push_error is not None:
                self.error_pushes += 1
            if ok:
                if self.validation is not None:
                    self.last_pushed_wh = self._body_wh
                self.log.info("pushed (%s): %s" % (self.pusher.last_result, summary))
            if self.store:
                self.store.on_push(self)
            gc.collect()

    def push_status(self, st):
        p = self.pusher
        st["last_push"] = None if p.last_attempt_s is None else clock.fmt_time(p.last_attempt_s)
        st["last_push_result"] = p.last_result if self.push_error is None else \
            "%s, sent as an error report (%s): no data" % (p.last_result, self.push_error)
        st["last_push_status"] = p.last_status
        st["pushes_ok"] = p.ok_count - self.error_pushes
        st["pushes_error"] = self.error_pushes
        st["pushes_failed"] = p.fail_count
        st["chargehq_gone"] = p.retire.text() if p.retire else None  # app.outputs.retire: gone for 24 h
        st["next_push_s"] = max(0, p.due_in_ms() // 1000)

    async def run(self, *services):
        await App.run(self, self.push_loop(), *services)
