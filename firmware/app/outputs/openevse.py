# OpenEVSE solar divert: every openevse.interval_s, POST {"grid_ie": W} to <openevse.url>/status
# (W, + import / - export: the same sign as net_import_kw), the value from App.values() (the
# push's reading and check). No reading (meter failed, too old, check says not numeric): nothing
# is sent, so OpenEVSE's own timeout for a silent feed applies instead of a made-up 0.
# Failures: one log line per new reason; the next try is the next period (never faster).
import asyncio
from micropython import const

_TIMEOUT_MS = const(5000)
_JSON = (("Content-Type", "application/json"), ("User-Agent", "chargehq-esp32-meter"))


def status_url(url):
    url = url.rstrip("/")
    return url if url.endswith("/status") else url + "/status"


class OpenEvseOutput:
    name = "openevse"

    def __init__(self, app, log):
        self.app = app
        self.log = log
        self.url = status_url(app.cfg.get("openevse", "url"))
        self.interval_ms = app.cfg.get("openevse", "interval_s") * 1000
        self.last_error = None
        self.last_grid_w = None
        self.sent = 0

    def status(self):
        return {"url": self.url, "error": self.last_error, "sent": self.sent,
                "last_grid_ie_w": self.last_grid_w}

    async def run(self):
        import https_post
        while True:
            await asyncio.sleep_ms(self.interval_ms)
            w = self.app.wifi
            if w is not None and not w.isconnected():
                continue
            vals, _v = self.app.values()
            kw = vals["net_import_kw"]
            if kw is None:
                self._failed("no grid reading (%s): nothing sent" % (vals["meter_error"] or "not measured"))
                continue
            grid_w = round(kw * 1000)
            try:
                status, head = await https_post.post(self.url, '{"grid_ie":%d}' % grid_w, headers=_JSON,
                                                     timeout_ms=_TIMEOUT_MS)
                if 200 <= status < 300:
                    if self.last_error is not None:
                        self.log.info("openevse: delivered again")
                    self.last_error = None
                    self.last_grid_w = grid_w
                    self.sent += 1
                    continue
                self._failed("HTTP %d" % status)
            except https_post.HttpError as e:
                self._failed(str(e))
            except MemoryError:
                self._failed("out of memory")

    def _failed(self, why):
        if why != self.last_error:
            self.log.error("openevse: " + why)
        self.last_error = why
