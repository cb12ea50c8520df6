# Serial console: a line-based service shell on the USB serial line (the REPL's), run as one
# asyncio task beside the app. Typing never blocks sampling or pushing: stdin is polled without
# waiting and the characters are collected here, one at a time (the ESP32's serial line has no
# line discipline, so this module echoes and edits the line itself).
#
# While it runs, the console prints the log's lines itself (Log.echo off) so an event that
# arrives while a person types does not cut the line they are typing: the prompt is redrawn.
# Secrets are never echoed: the value of `set ...api_key|password VALUE` and the password of
# `wifi SSID PASSWORD` show as `*`.
import asyncio
import json
import select
import sys
from micropython import const
from app import clock, config, payload

_POLL_MS = const(50)       # how often stdin is looked at (nothing waits on it)
_WATCH_MS = const(1000)
_MAX_LINE = const(160)
_PROMPT = "> "
_CLOCK_SET_AFTER = const(820454400)  # 2026-01-01 (2000 epoch): an earlier time was never set
_SECRET_NAMES = ("api_key", "password", "admin_password")
# settings the running app reads each time it needs them: applied without a reboot
_LIVE = ("validation.", "device.report_s", "console.echo")
_NEED_APP = ("status", "watch", "push", "energy", "calibrate", "portal")

_HELP = (
    ("status", "readings, check, last push, Wi-Fi, heap, uptime, energy"),
    ("watch", "live readings once a second (Enter stops)"),
    ("log [N]", "the last N events (default 50)"),
    ("push", "push now (never within 30 s of the last push)"),
    ("config", "the settings (secrets masked)"),
    ("set SECTION.KEY VALUE", "change a setting (checked, then saved); set source {JSON}"),
    ("wifi SSID [PASSWORD]", "the Wi-Fi network to join (after a reboot)"),
    ("calibrate ...", "ATM90E32 (CT clamp) calibration"),
    ("energy [reset]", "energy totals; `energy reset` sets them to 0 (asks first)"),
    ("portal", "open the set-up access point now"),
    ("reboot", "save the totals and restart"),
    ("repl", "stop the app and leave to the MicroPython REPL"),
    ("help", "this list"),
)


def spans(line):
    """Word positions [(start, end)] in a typed line (bytes); "double quotes" keep spaces."""
    out = []
    start = -1
    quoted = False
    for i in range(len(line)):
        c = line[i]
        if c == 34:
            quoted = not quoted
        if c == 32 and not quoted:
            if start >= 0:
                out.append((start, i))
                start = -1
        elif start < 0:
            start = i
    if start >= 0:
        out.append((start, len(line)))
    return out


def words(line):
    """A typed line (bytes) -> [str], quotes removed."""
    out = []
    for s, e in spans(line):
        out.append(bytes(line[s:e]).replace(b'"', b"").decode())
    return out


def secret_from(line):
    """Index in `line` (bytes) where a secret starts (typed from there: shown as *), or -1."""
    sp = spans(line)
    if len(sp) < 3:
        return -1
    cmd = bytes(line[sp[0][0]:sp[0][1]])
    if cmd == b"wifi":
        return sp[2][0]
    if cmd == b"set":
        name = bytes(line[sp[1][0]:sp[1][1]]).replace(b'"', b"").decode()
        if name.split(".")[-1] in _SECRET_NAMES:
            return sp[2][0]
    return -1


def parse_value(kind, text):
    """Typed text -> a value of the setting's kind; ValueError with the reason."""
    if kind == "i":
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number (got %s)" % text)
    if kind == "b":
        t = text.lower()
        if t in ("true", "yes", "on", "1"):
            return True
        if t in ("false", "no", "off", "0"):
            return False
        raise ValueError("must be true or false (got %s)" % text)
    return text


class Console:
    def __init__(self, app, inp=None, out=None, cfg=None, log=None):
        self.app = app           # None in set-up mode (no App yet): settings commands only
        self.cfg = cfg or app.cfg
        self.log = log or app.log
        self.inp = inp or getattr(sys.stdin, "buffer", sys.stdin)
        self.out = out or sys.stdout
        self.echo = self.cfg.get("console", "echo")
        self.poller = select.poll()
        # polled as sys.stdin: some ports' sys.stdin.buffer cannot be polled (both read the
        # same serial line; bytes are read from .buffer so UTF-8 arrives byte by byte)
        self.poller.register(inp or sys.stdin, select.POLLIN)
        self.buf = bytearray()
        self.prompting = False
        self.confirm = None      # (question's action) waiting for "yes"
        self.saved = False       # settings saved since boot (a reboot applies them)
        self.line = b""          # the command line being run (as typed)
        self._esc = 0            # inside an escape sequence (arrow keys): 1 after ESC, 2 after [
        self._cr = False
        self._seen = self.log.count

    # --- terminal ---------------------------------------------------------------------------
    def write(self, text):
        self.out.write(text)

    def say(self, text=""):
        self.write(text + "\n")

    def _display(self):
        cut = secret_from(self.buf)
        if cut < 0:
            return bytes(self.buf).decode()
        return bytes(self.buf[:cut]).decode() + "*" * (len(self.buf) - cut)

    def prompt(self):
        self.write(_PROMPT + (self._display() if self.echo else ""))
        self.prompting = True

    def show_log(self):
        """Print the log lines added since last time, keeping the typed line below them."""
        log = self.log
        new = log.count - self._seen
        if new <= 0:
            return
        self._seen = log.count
        entries = log.recent(new)
        if self.prompting:
            self.write("\r\x1b[K")
        if new > len(entries):
            self.say("(%d older log lines not shown)" % (new - len(entries)))
        up = clock.fmt_uptime()
        for e in entries:
            self.say("[%s %s] %s" % (up, e[1], e[2]))
        if self.prompting:
            self.prompting = False
            self.prompt()

    def read_lines(self):
        """[the next finished line] or [] (what follows it stays unread for the next call);
        None when stdin has closed."""
        while self.poller.poll(0):
            try:
                c = self.inp.read(1)
            except OSError:
                c = None
            if not c:
                return None  # end of input (the host's /dev/null or a closed terminal)
            c = c[0] if not isinstance(c, str) else ord(c)
            line = self._key(c)
            if line is not None:
                return [line]
        return []

    def _key(self, c):
        """One typed byte; -> the finished line (bytes) on Enter, else None."""
        if self._esc:  # ESC [ ... final byte: arrow keys and the like are ignored
            self._esc = 2 if (self._esc == 1 and c in (0x5B, 0x4F)) else \
                (0 if (self._esc == 1 or 0x40 <= c <= 0x7E) else 2)
            return None
        cr, self._cr = self._cr, c == 13
        if c == 10 and cr:
            return None  # the \n of a \r\n pair
        if c in (13, 10):
            self.write("\n")
            self.prompting = False
            line = bytes(self.buf)
            self.buf = bytearray()
            return line
        if c == 27:
            self._esc = 1
        elif c in (8, 127):
            if self.buf:
                self.buf = self.buf[:-1]
                if self.echo:
                    self.write("\b \b")
        elif c == 3:  # Ctrl-C (when it reaches us): drop the line
            self.buf = bytearray()
            self.write("^C\n")
            self.prompting = False
            return b""
        elif c == 21:  # Ctrl-U: clear the line
            if self.echo:
                self.write("\r\x1b[K" + _PROMPT)
            self.buf = bytearray()
        elif c >= 32 and len(self.buf) < _MAX_LINE:
            self.buf.append(c)
            if self.echo:
                if 0 <= secret_from(self.buf) < len(self.buf):
                    self.write("*")
                elif c < 128:
                    self.write(chr(c))
                else:  # a byte of a UTF-8 character: the terminal puts it together
                    getattr(self.out, "buffer", self.out).write(bytes((c,)))
        return None

    # --- the loop ---------------------------------------------------------------------------
    async def run(self):
        log = self.log
        log.echo = False
        try:
            self.say("\nconsole ready: type help (%s)" % (
                "the app keeps running" if self.app else "set-up mode"))
            self.prompt()
            while True:
                self.show_log()
                lines = self.read_lines()
                if lines is None:
                    return
                for line in lines:
                    await self.command(line)
                    self.show_log()
                    self.prompt()
                await asyncio.sleep_ms(_POLL_MS)
        finally:
            self.show_log()
            log.echo = True

    async def command(self, line):
        try:
            args = words(line)
        except UnicodeError:
            self.say("cannot read that line (not UTF-8)")
            return
        self.line = line
        if self.confirm is not None:
            action, self.confirm = self.confirm, None
            if args == ["yes"]:
                action()
            else:
                self.say("cancelled")
            return
        if not args:
            return
        name = args[0].lower()
        fn = getattr(self, "c_" + name, None)
        if fn is None:
            self.say("unknown command %r: type help for the list" % name[:20])
            return
        if self.app is None and name in _NEED_APP:
            self.say("not while the device needs set-up: `wifi SSID PASSWORD`, `set chargehq.api_key "
                     "KEY`, `set source {...}` (see `config`), then `reboot`")
            return
        try:
            res = fn(args[1:])
            if res is not None:  # the async commands (watch)
                await res
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a bad command must never stop the console or the app
            self.log.exc("console " + name, e)
            self.say("error: %s: %s" % (type(e).__name__, e))

    # --- commands ---------------------------------------------------------------------------
    def c_help(self, args):
        self.say("commands:")
        for usage, what in _HELP:
            self.say("  %-22s %s" % (usage, what))

    def c_status(self, args):
        app = self.app
        st = app.status()
        g = st.get
        if g("meter_ok"):
            meter = "ok"
        elif app.last_ok_up is None and g("meter_error") == "not read yet":
            meter = "waiting for the first reading"
        else:
            meter = "FAULT: %s" % g("meter_error")
        meter = "%s: %s" % (g("source"), meter)
        if g("reading_age_s") is not None:
            meter += ", last reading %d s ago" % g("reading_age_s")
        self.say("meter      " + meter)
        if g("reading_age_s") is not None:
            self.say("readings   " + app.reading_text() + ("" if g("meter_ok") else " (last good)"))
        self.say("check      " + (g("validation") or "not yet (checked before each push)"))
        if g("last_push") is None and not (g("pushes_ok") or g("pushes_failed")):
            self.say("last push  none yet")
        else:
            p = app.pusher
            when = []
            if p.last_attempt_up is not None:
                when.append("%d s ago" % ((clock.uptime_ms() - p.last_attempt_up) // 1000))
            if p.last_attempt_s is not None and p.last_attempt_s > _CLOCK_SET_AFTER:
                when.append(clock.fmt_time(p.last_attempt_s))
            self.say("last push  %s: %s" % (", ".join(when) or "?", g("last_push_result")))
        self.say("pushes     %d ok, %d failed; next in %d s" % (
            g("pushes_ok") or 0, g("pushes_failed") or 0, g("next_push_s") or 0))
        w = g("wifi")
        if w is None:
            self.say("wifi       (no station)")
        elif w.get("connected"):
            self.say("wifi       %s, IP %s, RSSI %s dBm" % (w.get("ssid"), w.get("ip"), w.get("rssi")))
        else:
            self.say("wifi       not connected (network %s)" % w.get("ssid"))
        e = app.energy  # integers (the status dict's floats are 32-bit on the chip)
        self.say("energy     today import %s export %s kWh; lifetime import %s export %s kWh" % (
            _kwh(e.today_wh(0)), _kwh(e.today_wh(1)), _kwh(e.wh[0]), _kwh(e.wh[1])))
        self.say("device     up %s, free heap %d bytes, reset cause %s, clock %s" % (
            clock.fmt_uptime(g("uptime_s", 0) * 1000), g("free_heap") or 0, g("reset_cause"),
            "synced" if g("clock_synced") else "not set"))
        if self.saved:
            self.say("note       settings were changed: reboot to apply them")

    def _reading(self):
        app = self.app
        if app.source_error is not None:
            return "meter: " + app.source_error
        return app.reading_text()

    async def c_watch(self, args):
        self.say("live readings (Enter stops):")
        while True:
            self.say("[%s] %s" % (clock.fmt_uptime(), self._reading()))
            for _ in range(_WATCH_MS // _POLL_MS):
                await asyncio.sleep_ms(_POLL_MS)
                self.show_log()
                lines = self.read_lines()
                if lines is None or lines:
                    return

    def c_log(self, args):
        n = 50
        if args:
            try:
                n = max(1, int(args[0]))
            except ValueError:
                self.say("usage: log [N]")
                return
        entries = self.log.recent(n)
        if not entries:
            self.say("(no events yet)")
        for t, level, msg in entries:
            # before the clock was set, time.time() counted from 2000-01-01 at boot: uptime
            when = clock.fmt_time(t) if t > _CLOCK_SET_AFTER else "up " + clock.fmt_uptime(t * 1000)
            self.say("%s %s %s" % (when, level, msg))

    def c_push(self, args):
        app = self.app
        wait = app.pusher.floor_in_ms()
        app.push_now.set()
        if wait > 0:
            self.say("push requested: in %d s (never within 30 s of the last push)" % (
                wait // 1000 + 1))
        else:
            self.say("push requested: pushing now (the result shows in the log)")

    # --- settings -----------------------------------------------------------------------
    def _raw(self):
        """The settings as saved (the file), or the running ones when the file cannot be read."""
        try:
            with open(config.PATH) as f:
                raw = json.load(f)
            if isinstance(raw, dict):
                return raw
        except (OSError, ValueError):
            pass
        if self.app is None:  # set-up: start afresh (the defaults name no meter: none is chosen)
            return {}
        return json.loads(json.dumps(self.cfg.data))

    def c_config(self, args):
        data = config.masked(self._raw())
        for sec in sorted(data):
            part = data[sec]
            if not isinstance(part, dict):
                self.say("%s = %s" % (sec, json.dumps(part)))
                continue
            for key in sorted(part):
                self.say("%s.%s = %s" % (sec, key, json.dumps(part[key])))
        if self.saved:
            self.say("(changed since boot: reboot to apply)")

    def _change(self, changes):
        """[(section, key, value)] -> checked and saved. -> None when refused (the reason is
        printed), True when the running app uses the new values at once, False when a reboot
        applies them."""
        raw = self._raw()
        before = config.validate(json.loads(json.dumps(raw)))
        for sec, key, v in changes:
            if key in _SECRET_NAMES and v:
                self.log.secrets.append(v)  # never printed from now on
            if key is None:  # a whole section (`set source {...}`)
                raw[sec] = v
                continue
            part = raw.get(sec)
            if not isinstance(part, dict):
                part = raw[sec] = {}
            part[key] = v
        after = config.validate(json.loads(json.dumps(raw)))
        new = [e for e in after.errors if e not in before.errors]
        own = [e for e in new if any(e.startswith("%s.%s:" % (c[0], c[1])) or
                                     (c[1] is None and e.startswith(c[0])) for c in changes)]
        if own or (new and self.app is not None):
            self.say("not saved: " + "; ".join(own or new))
            return None
        if after.problem and not before.problem:
            self.say("not saved: the device would need set-up (%s)" % after.problem)
            return None
        config.save(raw)
        if after.problem:  # set-up mode: saved step by step, say what is still missing
            self.say("still to do: %s" % "; ".join(new + [after.problem]))
        live = True
        for sec, key, v in changes:
            name = "%s.%s" % (sec, key)
            if any(name.startswith(p) for p in _LIVE):
                self.cfg.data[sec][key] = v
                if name == "console.echo":
                    self.echo = v
            else:
                live = False
        if not live:
            self.saved = True
        return live

    def c_set(self, args):
        if len(args) < 2 or ("." not in args[0] and args[0] != "source"):
            self.say("usage: set SECTION.KEY VALUE   (see `config` for the names; \"\" for empty)")
            return
        sec, key = (args[0].split(".", 1) + [None])[:2]
        text = bytes(self.line[spans(self.line)[2][0]:]).decode()  # as typed (JSON keeps its quotes)
        if sec == "source":
            try:
                v = json.loads(text)  # numbers, true/false, lists; the whole section: {...}
            except ValueError:
                v = text
            if key is None and not isinstance(v, dict):
                self.say('not saved: source must be a JSON object, e.g. {"type": "simulated"}')
                return
        else:
            f = config.field(sec, key)
            if f is None:
                self.say("unknown setting %s (see `config`)" % args[0][:40])
                return
            if len(text) > 1 and text[0] == text[-1] == '"':
                text = text[1:-1]  # "" is empty; quotes keep leading/trailing spaces
            try:
                v = parse_value(f[0], text)
            except ValueError as e:
                self.say("not saved: %s.%s %s" % (sec, key, e))
                return
        shown = "(hidden)" if key in _SECRET_NAMES else json.dumps(v)
        live = self._change([(sec, key, v)])
        if live is None:
            return  # refused (the reason was printed)
        name = sec if key is None else sec + "." + key
        self.log.info("console: %s set to %s" % (name, shown))
        self.say("saved %s = %s; %s" % (name, shown, "applied now" if live else "reboot to apply"))

    def c_wifi(self, args):
        if not args or len(args) > 2:
            self.say("usage: wifi SSID [PASSWORD]   (quote a name with spaces: \"My Net\")")
            return
        ssid = args[0]
        pw = args[1] if len(args) > 1 else ""
        if self._change([("wifi", "ssid", ssid), ("wifi", "password", pw)]) is not None:
            self.log.info("console: Wi-Fi network set to %s" % ssid)
            self.say("saved: the device joins %s after `reboot`" % ssid)

    # --- service ------------------------------------------------------------------------
    def c_calibrate(self, args):
        try:
            from app import calibrate
        except ImportError:
            calibrate = None
        src = self.cfg.section("source").get("type")
        if src != "atm90e32":
            self.say("calibration is for the ATM90E32 (CT clamp) source; this device reads %s" % src)
            return
        if calibrate is None or not hasattr(calibrate, "console"):
            self.say("calibration needs the CT source's calibration module, which is not in this "
                     "build yet")
            return
        return calibrate.console(self.app, args, self.say)  # may be a coroutine: awaited

    def c_energy(self, args):
        e = self.app.energy
        if args and args[0] == "reset":
            self.say("set the lifetime and today's import/export totals to 0? Charge HQ will see "
                     "the totals start again. Type yes to confirm:")
            self.confirm = self._energy_reset
            return
        if args:
            self.say("usage: energy [reset]")
            return
        for i, name in ((0, "import"), (1, "export")):
            self.say("%-10s lifetime %s kWh, today %s kWh" % (name, _kwh(e.wh[i]), _kwh(e.today_wh(i))))

    def _energy_reset(self):
        e = self.app.energy
        for i in (0, 1):
            if e.hw_last[i] is not None:  # a meter's own counter: count from its present value
                e.hw_offset[i] = -e.hw_last[i]
            e.wh[i] = 0
            e.uwh[i] = 0
            e.day_start[i] = 0
        e.changed = True
        store = self.app.store
        if store:
            store.checkpoint(self.app, "energy reset")
        self.log.warn("console: energy totals reset to 0")
        self.say("energy totals reset to 0")

    def c_portal(self, args):
        hook = getattr(self.app, "open_portal", None)
        if hook is None:
            self.say("the set-up portal is not part of this build")
            return
        if hasattr(hook, "set"):
            hook.set()
        else:
            res = hook()
            if res is not None and hasattr(res, "send"):  # a coroutine function
                asyncio.create_task(res)
        self.say("set-up portal opening: join the device's Wi-Fi access point")

    def c_reboot(self, args):
        self.say("saving the totals and restarting...")
        self.log.info("console: reboot")
        if self.app is not None:
            self.app.shutdown("reboot")
        import machine
        machine.reset()

    def c_repl(self, args):
        self.say("leaving the console: the app stops (totals saved) and the MicroPython REPL (>>>)")
        self.say("takes the serial line. Ctrl-D (soft reset) or machine.reset() starts the app again.")
        wdt = self.app.wdt if self.app is not None else None
        if wdt is not None and _keep_fed(wdt):
            self.say("the watchdog is fed by a timer while the REPL runs")
        elif wdt is not None:
            self.say("note: the watchdog (%d s) cannot be stopped and will reset the chip; for a "
                     "long session: set device.watchdog_s 0, reboot, then repl" % (
                         self.cfg.get("device", "watchdog_s")))
        if self.app is not None:
            self.app.stop_reason = "repl"
        raise KeyboardInterrupt  # leaves asyncio.run(); app.main saves the totals and returns


def _keep_fed(wdt):
    """Feed the watchdog from a timer while the REPL runs; False when there is no timer."""
    try:
        from machine import Timer
        Timer(0).init(period=1000, mode=Timer.PERIODIC, callback=lambda t: wdt.feed())
        return True
    except Exception:
        return False


def _kwh(wh):
    return "-" if wh is None else payload.kilo(wh)  # None: today's total before the clock is set


async def serve(app):
    """The console task (app.main adds it when console.enabled)."""
    await Console(app).run()


async def serve_setup(cfg, log):
    """The console while the device needs set-up: settings, log, reboot and repl only."""
    await Console(None, cfg=cfg, log=log).run()
