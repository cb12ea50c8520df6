# When to push, and the push itself: every push_interval_s, exponential backoff after a
# failure (30 s doubling up to the push interval for network and server errors, up to 300 s
# for 429 and other 4xx answers; reset by a success), and a hard floor of 30 s between any two
# requests, also across reboots (the time of the last attempt is kept in RTC memory).
import gc
import time
from micropython import const
from app.core import clock

FLOOR_S = const(30)
BACKOFF_MAX_S = const(300)
_JSON = (("Content-Type", "application/json"), ("User-Agent", "chargehq-esp32-meter"))


class Pusher:
    def __init__(self, cfg, log):
        self.cfg = cfg
        self.log = log
        self.last_attempt_up = None   # uptime ms of the last request (this boot)
        self.last_end_up = None       # uptime ms when it ended (answer, error or timeout)
        self.last_attempt_s = None    # time.time() of the last request (kept across resets)
        self.last_ok_s = None
        self.last_status = None       # HTTP status, or None when the request failed
        self.last_result = "none yet"
        self.backoff_s = 0            # 0: no failure pending
        self.delay_s = cfg.get("chargehq", "push_interval_s")
        self.ok_count = 0
        self.fail_count = 0
        self._first_wait_ms = 0       # uptime ms before which the first push must not start
        self.on_attempt = None        # called as a request starts (app.core.persist records it)
        # One TLS context for the device's life: mbedTLS keeps the parsed roots outside the GC
        # heap, so a cached context costs the heap almost nothing, where a new one per push read
        # the CA file into a fresh block (7 KB) and churned a small, split heap every minute.
        self._tls = None              # (ca_file, SSLContext)
        # app.outputs.retire ("gone" for 24 h: one try an hour), loaded only once a failure looks like
        # "gone" or an earlier boot left its mark: most devices never need its RAM
        self.retire = None
        try:
            import os
            os.stat(_GONE_FILE)
            self._retire(True)
        except OSError:
            pass

    def restore(self, last_attempt_s, age_ms=None):
        """After a reset: the first push waits until 30 s after the last one before it.
        age_ms: how old that push is at least (measured without the wall clock), if known."""
        if age_ms is None:
            if last_attempt_s is None:
                return
            age_ms = (time.time() - last_attempt_s) * 1000
            if age_ms < 0:  # the clock went back: we cannot tell, so keep the full floor
                age_ms = 0
        self.last_attempt_s = last_attempt_s
        if age_ms < FLOOR_S * 1000:
            wait = FLOOR_S * 1000 - age_ms
            self._first_wait_ms = clock.uptime_ms() + wait  # an uptime deadline
            self.log.info("last push was %d s ago: first push in %d s" % (
                age_ms // 1000, (wait + 999) // 1000))

    def due_in_ms(self):
        """Milliseconds until the next push may and should happen (<= 0: now)."""
        now = clock.uptime_ms()
        if self.last_attempt_up is None:
            return self._first_wait_ms - now
        since = now - self.last_attempt_up  # the period runs from the start of a request
        return max(max(self.delay_s, FLOOR_S) * 1000 - since, self.floor_in_ms())

    def floor_in_ms(self):
        """Milliseconds until the 30 s floor allows a request (for `push now`)."""
        if self.last_attempt_up is None:
            return self._first_wait_ms - clock.uptime_ms()
        # counted from the end of the last request: Charge HQ stamps a push when it has received
        # it, which can be seconds after the request began (a slow TLS handshake)
        last = self.last_attempt_up if self.last_end_up is None else self.last_end_up
        return FLOOR_S * 1000 - (clock.uptime_ms() - last)

    async def send(self, body):
        """POST the body; -> True when delivered (2xx). Never raises for network trouble."""
        import https_post
        if self.floor_in_ms() > 0:  # the one rule that must hold whatever the caller does
            self.log.warn("push refused: less than 30 s since the last one")
            return False
        ch = self.cfg.section("chargehq")
        self.last_attempt_up = clock.uptime_ms()
        self.last_end_up = None
        self.last_attempt_s = time.time()
        if self.on_attempt:
            self.on_attempt()
        status = None
        try:
            if not ch["endpoint"].startswith("https://") and not ch["allow_http"]:
                raise https_post.HttpError("an http:// endpoint needs chargehq.allow_http: the key would go unencrypted")
            ctx = self._context(https_post, ch["ca_file"]) if ch["endpoint"].startswith("https://") else None
            gc.collect()  # the socket and TLS objects in whole blocks, not between a page's garbage
            status, head = await https_post.post(ch["endpoint"], body, ctx=ctx, headers=_JSON,
                                                 timeout_ms=ch["timeout_s"] * 1000)
            ctx = None
            if 200 <= status < 300:
                self._done_ok(status)
                return True
            why = "HTTP %d %s" % (status, _printable(head))
        except https_post.HttpError as e:
            why = str(e)[:120]
        except OSError as e:  # e.g. the CA file is missing
            why = "cannot read CA file %s (%s)" % (ch["ca_file"], e)
        except ValueError as e:
            why = "bad CA file %s: %s" % (ch["ca_file"], e)
        except MemoryError:
            why = "out of memory during the request"
        # a server's text may echo the key ("invalid apiKey ..."): scrubbed before it is kept,
        # logged or shown on the status page and /api/status
        from app.core.config import secret_values
        from app.core.log import scrub
        self._done_fail(status, scrub(why, secret_values(self.cfg.data)))
        return False

    def _context(self, https_post, ca_file):
        if self._tls is None or self._tls[0] != ca_file:
            self._tls = None
            self._tls = (ca_file, https_post.tls_context(_read(ca_file)))
        return self._tls[1]

    def _done_ok(self, status):
        self.last_end_up = clock.uptime_ms()
        self.last_status = status
        self.last_ok_s = self.last_attempt_s
        self.last_result = "HTTP %d" % status
        self.ok_count += 1
        if self.backoff_s:
            self.log.info("push delivered again after failures")
        self.backoff_s = 0
        self.delay_s = self.cfg.get("chargehq", "push_interval_s")
        if self.retire is not None:
            self.retire.ok()
            self.retire = None

    def _done_fail(self, status, why):
        self.last_end_up = clock.uptime_ms()
        self.last_status = status
        self.last_result = why
        self.fail_count += 1
        # Network trouble and server errors: retry at least once per push period, so the site
        # shows up again within one period of the fault clearing. The server asking us to slow
        # down (429) or refusing the request (other 4xx): back off up to 5 minutes.
        cap = BACKOFF_MAX_S if status is not None and 400 <= status < 500 else \
            max(FLOOR_S, self.cfg.get("chargehq", "push_interval_s"))
        self.backoff_s = FLOOR_S if not self.backoff_s else min(self.backoff_s * 2, cap)
        self.delay_s = self.backoff_s
        r = self._retire(status in (404, 410) or "DNS lookup" in why or "does not match" in why)
        hourly = r.failed(status, why) if r is not None else None
        if hourly:
            self.delay_s = hourly
        self.log.error("push failed: %s; retry in %d s" % (why, self.delay_s))


    def _retire(self, load):
        if self.retire is None and load:
            from app.outputs.retire import Retire
            self.retire = Retire(self.log)
        return self.retire


_GONE_FILE = "chq_gone.txt"  # app.outputs.retire.FILE (not imported: that module loads only when needed)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _printable(raw):
    text = bytes(b if 32 <= b < 127 else 46 for b in raw[:80]).decode()
    return ("(" + text + ")") if text else ""
