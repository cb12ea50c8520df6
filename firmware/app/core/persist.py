# Energy totals and the time of the last push, kept across resets and power cuts.
#
# One fixed-size binary record (magic, version, sequence number, totals, last push, CRC-16)
# lives in two places:
# - RTC memory: rewritten after every good poll and every push. It survives a soft reset, a
#   watchdog reset and deep sleep, and is lost on power-on (then it is not trusted at all).
# - flash: two alternating slot files, written only when the totals changed, at most every
#   energy.checkpoint_s seconds, and at every clean shutdown (stop, config change, update).
#   A power cut during a write spoils at most the slot being written; the other holds the
#   previous checkpoint.
# At boot the valid record with the highest sequence number wins; a record with a bad magic,
# version, length or CRC is ignored and logged. See docs/energy-store.md.
import time
from array import array
from micropython import const
from app.core import clock
from app.core import localtime
from app.core.energyrecord import NONE, SIZE, SLOTS, key, pack, parse, record_key, total  # noqa: F401

_AGE_CAP_MS = const(86400000)    # older pushes are "long ago" (keeps the field in 31 bits)
_DAY_S = const(86400)


class FileOps:
    """The file calls a checkpoint makes, one step each: tests cut the power between any two."""

    def open(self, path):
        return open(path, "wb")

    def write(self, f, data):
        f.write(data)

    def close(self, f):
        f.close()

    def read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read(SIZE + 1)  # a longer file is not a record (and may be huge)
        except OSError:
            return None


class Store:
    def __init__(self, log, rtc=None, fs=None, folder=""):
        self.log = log
        if rtc is None:
            import machine
            rtc = machine.RTC()
        self.rtc = rtc
        self.fs = fs or FileOps()
        self.paths = (folder + SLOTS[0], folder + SLOTS[1])
        self._buf = bytearray(SIZE)     # the record, packed in place every poll
        self._rtc_out = self._buf       # what goes to RTC memory (the record, + otaboot's part)
        self.seq = 0
        self.every_ms = 300000          # flash checkpoint interval (energy.checkpoint_s)
        self._cp_up = 0                 # uptime of the last flash checkpoint (or check)
        self._cp_key = None             # what the flash holds now (to skip unchanged writes)
        self._slot = 0                  # the slot to write next (never the newest good one)
        self._push_up = None            # uptime ms of the last push (<= 0: before this boot)
        self._push_s = 0                # time.time() of the last push, for display
        self.source = None              # where the totals came from at boot
        self.flash_writes = 0
        # The totals on flash: what is pushed. A power cut falls back to flash, so Charge HQ
        # never sees a total lower than one it had (the pushed kWh lag by <= checkpoint_s).
        self.safe_wh = [0, 0]
        self._push_wh = [0, 0]
        self._flash_off = [0, 0]  # the meter-counter offsets on flash
        self.flash_errors = 0
        self.rtc_errors = 0
        self.restored = False           # nothing is written before restore(): it would
                                        # overwrite good records with a blank state

    # --- boot -------------------------------------------------------------------------------
    def restore(self, app):
        """Load the newest valid record into app.energy and hold the first push for the floor."""
        import machine
        try:
            self.every_ms = app.cfg.get("energy", "checkpoint_s") * 1000
        except (KeyError, AttributeError):
            pass
        power_on = machine.reset_cause() == getattr(machine, "PWRON_RESET", 1)
        best, best_from, flash_seen = None, None, False
        for i in (0, 1):
            raw = self.fs.read(self.paths[i])
            rec, why = parse(raw)
            if rec is None:
                if raw is not None:
                    self.log.warn("energy: flash slot %d ignored (%s)" % (i, why))
                continue
            flash_seen = True
            if best is None or rec[3] > best[3]:
                best, best_from = rec, "flash slot %d" % i
                self._slot = 1 - i
                self.safe_wh = [rec[4], rec[5]]
                self._flash_off = [rec[10], rec[11]]
        self._cp_key = None if best is None else key(best)
        rtc_rec = None
        try:
            raw = self.rtc.memory()
        except Exception as ex:  # no RTC memory on this port: flash alone
            self.log.error("energy: cannot read RTC memory: %s" % ex)
            raw = None
        if raw and len(raw) > SIZE:
            # RTC memory after the record belongs to otaboot (the boot counter of an update on
            # trial, written before the app starts): kept as it is, up to otaboot.RTC_END
            from otaboot import RTC_END
            keep = bytearray(max(RTC_END, SIZE))
            n = min(len(raw), len(keep))
            keep[:n] = raw[:n]
            self._rtc_out = keep
            self._buf = memoryview(keep)[:SIZE]
            raw = raw[:SIZE]
        if power_on:
            if raw:
                self.log.info("energy: power-on, RTC memory not trusted")
        else:
            rtc_rec, why = parse(raw)
            if rtc_rec is None and raw:
                self.log.warn("energy: RTC memory record ignored (%s)" % why)
        if rtc_rec is not None:
            if best is None or rtc_rec[3] >= best[3]:
                if best is not None and total(best) > total(rtc_rec):
                    self.log.warn("energy: RTC record newer but lower than flash: flash kept")
                else:
                    best, best_from = rtc_rec, "RTC memory"
        e = app.energy
        if best is not None:
            self.seq = max(best[3], 0 if rtc_rec is None else rtc_rec[3])
            e.wh[0], e.wh[1], e.uwh[0], e.uwh[1] = best[4], best[5], best[6], best[7]
            e.hw_last[0] = None if best[8] == NONE else best[8]
            e.hw_last[1] = None if best[9] == NONE else best[9]
            e.hw_offset[0], e.hw_offset[1] = best[10], best[11]
            e.day_start[0], e.day_start[1], e.day = best[12], best[13], best[14]
            self.log.info("energy: restored from %s: import %d Wh, export %d Wh" % (
                best_from, e.wh[0], e.wh[1]))
        else:
            self.log.info("energy: no saved totals: starting from zero")
        self.source = best_from
        self.restored = True
        e.changed = best is not None and key(best) != self._cp_key  # flash behind RTC memory
        self._restore_push(app, rtc_rec, power_on, flash_seen)
        app.pusher.on_attempt = self._on_attempt(app)
        # the checkpoint interval runs on across resets (a crash loop neither writes flash at
        # every boot nor postpones the checkpoint for ever)
        self._cp_up = clock.uptime_ms() if rtc_rec is None else -rtc_rec[17]
        self._write_rtc(app)
        if not flash_seen:  # a new device: from now on a power-on knows it ran before
            self._write_flash(app, "first boot")

    def _restore_push(self, app, rtc_rec, power_on, flash_seen):
        # Ticks restart at every reset and the wall clock may be unset or stepped by NTP, so
        # the RTC record keeps the push's age at the time it was written: at boot the push is
        # at least that old (the reset itself only adds time), a lower bound without any clock.
        if rtc_rec is not None:
            if rtc_rec[15] != NONE:
                self._push_up = -rtc_rec[15]
                self._push_s = rtc_rec[16]
        elif flash_seen or not power_on:
            # No trusted record of the last push (power-on, or RTC memory lost): it may have been
            # just before the reset. Count the floor from boot.
            self._push_up = 0
        if self._push_up is not None:
            age = clock.uptime_ms() - self._push_up
            app.pusher.restore(self._push_s or None, age)

    def _on_attempt(self, app):
        def stamp():  # a push is starting: record it before the request can crash anything
            self._write_rtc(app)
        return stamp

    # --- hooks --------------------------------------------------------------------------------
    def on_poll(self, app):
        if not self.restored:
            return
        e = app.energy
        if clock.is_synced():
            day = localtime.local_day(time.time())  # rolls at local midnight (device.timezone)
            if day != e.day:
                if e.day >= 0:
                    self.log.info("energy: new day")
                e.roll_day(day)
                e.changed = True
        up = clock.uptime_ms()
        if e.hw_offset[0] != self._flash_off[0] or e.hw_offset[1] != self._flash_off[1]:
            # a meter counter went back (reset or replaced): save the new offset now, so a power
            # cut cannot bring back the old one and push a lower total
            self._cp_up = up
            self._write_flash(app, "meter counter offset")
        elif up - self._cp_up >= self.every_ms:
            self._cp_up = up
            if e.changed:
                self._write_flash(app, None)
        self._write_rtc(app)  # last: after a reset RTC memory holds the newest record

    def on_push(self, app):
        if self.restored:
            self._write_rtc(app)

    def checkpoint(self, app, why):
        """Clean shutdown, config change or update: save everything, remainders included."""
        if not self.restored:  # stopped before the app started: the records are still right
            return False
        ok = self._write_flash(app, why)
        self._write_rtc(app)
        return ok

    # --- records ------------------------------------------------------------------------------
    def _pack(self, app):
        # In place, no allocation (small ints only): this runs after every poll.
        e = app.energy
        p = app.pusher
        self.seq += 1
        push_up = self._push_up
        if p.last_attempt_up is not None:  # the end of the request when it has ended (floor)
            push_up = p.last_attempt_up if p.last_end_up is None else max(p.last_attempt_up,
                                                                          p.last_end_up)
            self._push_s = p.last_attempt_s or 0
        up = clock.uptime_ms()
        age = NONE
        if push_up is not None:
            age = up - push_up
            if age > _AGE_CAP_MS:
                age = _AGE_CAP_MS
        cp_age = up - self._cp_up
        if cp_age > _AGE_CAP_MS:
            cp_age = _AGE_CAP_MS
        pack(self._buf, self.seq, e, age, self._push_s, cp_age)

    def _write_rtc(self, app):
        self._pack(app)
        try:
            self.rtc.memory(self._rtc_out)
        except Exception as ex:  # never let a storage fault stop the sampling
            if not self.rtc_errors:  # once, not at every poll
                self.log.error("energy: RTC memory write failed: %s" % ex)
            self.rtc_errors += 1

    def _write_flash(self, app, why):
        self._pack(app)
        now = record_key(self._buf)
        if why is not None and now == self._cp_key:
            return True  # nothing new since the last checkpoint
        path = self.paths[self._slot]
        fs = self.fs
        try:
            f = fs.open(path)
            try:
                fs.write(f, self._buf)
            finally:
                fs.close(f)
        except Exception as ex:  # OSError, MemoryError: never stop the sampling for it
            self.flash_errors += 1
            self.log.error("energy: cannot save totals to %s: %s" % (path, ex))
            return False  # this slot is suspect; the other still holds the last checkpoint
        self._slot = 1 - self._slot
        self._cp_key = now
        e = app.energy
        self.safe_wh = [e.wh[0], e.wh[1]]  # what the buffer just saved
        self._flash_off = [e.hw_offset[0], e.hw_offset[1]]
        self.flash_writes += 1
        app.energy.changed = False
        if why:
            self.log.info("energy: saved (%s)" % why)
        return True

    def pushable_wh(self, energy):
        """Lifetime totals safe to push. Counted totals: those on flash (a power cut cannot take
        them back). Totals that follow a meter's own counters: live (the meter keeps counting
        while the ESP32 is off, and a change of offset is saved at once, see on_poll)."""
        out = self._push_wh
        for i in (0, 1):
            out[i] = energy.wh[i] if energy.hw_last[i] is not None else self.safe_wh[i]
        return out

    def status(self):
        return {"restored_from": self.source, "flash_writes": self.flash_writes,
                "flash_errors": self.flash_errors, "rtc_errors": self.rtc_errors,
                "checkpoint_s": self.every_ms // 1000}
