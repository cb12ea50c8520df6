# Charge HQ is shutting down (mid-2026, no switch-off date). When its endpoint keeps failing in a
# way that means "gone" rather than "busy" for 24 h, the device says so (console, status page:
# "Charge HQ not answering since ...") and tries once an hour; every other output runs on. Gone:
# the name does not resolve (NXDOMAIN; EAI_AGAIN is a resolver trouble, not an answer), 404 or
# 410, a certificate for another name. Any delivered push ends it; timeouts, 5xx and other
# network trouble neither start nor end it. The start is kept in a small file (written only at
# the two changes), so the 24 h also span reboots; it needs a set clock.
import time
from micropython import const
from app.core import clock

GONE_AFTER_S = const(86400)
RETRY_S = const(3600)
FILE = "chq_gone.txt"


def gone_reason(status, why):
    """-> a short reason when this failure means the endpoint is gone, else None."""
    if status in (404, 410):
        return "HTTP %d" % status
    w = why or ""
    if w.startswith("DNS lookup") and "-3)" not in w and "error -3" not in w:
        return "name not found"
    if "does not match" in w and ("CN" in w or "name" in w):
        return "certificate for another name"
    return None


class Retire:
    def __init__(self, log):
        self.log = log
        self.since = None      # time.time() of the first "gone" failure in a row
        self.reason = None
        self.retired = False   # gone for GONE_AFTER_S: one try an hour
        try:
            with open(FILE) as f:
                parts = f.read().split(" ", 1)
            self.since = int(parts[0])
            self.reason = parts[1].strip() if len(parts) > 1 else "?"
        except (OSError, ValueError):
            pass

    def failed(self, status, why):
        """-> seconds until the next try when retired, else None (the usual backoff)."""
        reason = gone_reason(status, why)
        if reason is None:
            return RETRY_S if self.retired else None
        if not clock.is_synced():
            return None  # 24 h cannot be told without a clock
        now = time.time()
        if self.since is None or self.since > now:  # (a clock that went back: start again)
            self.since = now
            self.reason = reason
            self._save("%d %s" % (now, reason))
        if not self.retired and now - self.since >= GONE_AFTER_S:
            self.retired = True
            self.log.warn("Charge HQ not answering since %s (%s): trying once an hour; the other "
                          "outputs run on" % (clock.fmt_time(self.since), self.reason))
        return RETRY_S if self.retired else None

    def ok(self):
        if self.since is not None:
            if self.retired:
                self.log.info("Charge HQ answers again")
            self.since = None
            self.reason = None
            self.retired = False
            self._save(None)

    def text(self):
        """For the console and the status page, or None."""
        if not self.retired:
            return None
        return "Charge HQ not answering since %s (%s)" % (clock.fmt_time(self.since), self.reason)

    def _save(self, text):
        import os
        try:
            if text is None:
                os.remove(FILE)
            else:
                with open(FILE, "w") as f:
                    f.write(text)
        except OSError:
            pass
