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
import gc
import select
import sys
from micropython import const
from app.core import clock
from app.core.modules import forget
from app.console.words import words, secret_from

_POLL_MS = const(50)       # how often stdin is looked at (nothing waits on it)
_MAX_LINE = const(160)
_MAX_RESTORE = const(2048)  # `restore {JSON}`: a pasted backup is one long line
_PROMPT = "> "
_NEED_APP = ("status", "watch", "push", "energy", "calibrate", "portal", "update")
_MODULES = {"update": "ota", "config": "settings", "set": "settings", "wifi": "settings",
            "calibrate": "cal", "backup": "backup", "restore": "backup"}  # else cmds


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
        self._long = False       # the line is a `restore {JSON}`: it may be _MAX_RESTORE long
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
        """The typed line as shown: secrets as *, bytes that are not UTF-8 as ?."""
        cut = secret_from(self.buf)
        shown = self.buf if cut < 0 else self.buf[:cut]
        try:
            text = bytes(shown).decode()
        except UnicodeError:
            text = "".join(chr(c) if c < 128 else "?" for c in shown)
        return text if cut < 0 else text + "*" * (len(self.buf) - cut)

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
            self._long = False
            return line
        if c == 27:
            self._esc = 1
        elif c in (8, 127):
            if self.buf:
                self.buf = self.buf[:-1]
                self._long = self._long and len(self.buf) >= 8
                if self.echo:
                    self.write("\b \b")
        elif c == 3:  # Ctrl-C (when it reaches us): drop the line
            self.buf = bytearray()
            self._long = False
            self.write("^C\n")
            self.prompting = False
            return b""
        elif c == 21:  # Ctrl-U: clear the line
            if self.echo:
                self.write("\r\x1b[K" + _PROMPT)
            self.buf = bytearray()
            self._long = False
        elif c >= 32 and len(self.buf) < (_MAX_RESTORE if self._long else _MAX_LINE):
            self.buf.append(c)
            if len(self.buf) == 8:
                self._long = bytes(self.buf) == b"restore "
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
        echo, log.echo = log.echo, False
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
                    try:
                        await self.command(line)
                    except MemoryError:  # the console must outlive a tight moment
                        gc.collect()
                        self.say("out of memory: try again")
                    self.show_log()
                    self.prompt()
                await asyncio.sleep_ms(_POLL_MS)
        finally:
            self.show_log()
            log.echo = echo

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
        modname = _MODULES.get(name, "cmds")
        try:  # the command's module, for this command only: an idle console costs little heap
            gc.collect()
            mod = __import__("app.console." + modname, None, None, ("c_help",))
        except MemoryError:
            _drop(modname)
            gc.collect()
            self.say("not enough memory for this command now (%d bytes free): try again; compiled "
                     ".mpy files (make deploy) need less" % gc.mem_free())
            return
        fn = getattr(mod, "c_" + name, None)
        mod = None
        try:
            if fn is None:
                self.say("unknown command %r: type help for the list" % name[:20])
            elif self.app is None and name in _NEED_APP:
                self.say("not while the device needs set-up: `wifi SSID PASSWORD`, `set "
                         "chargehq.api_key KEY`, `set source {...}` (see `config`), then `reboot`")
            else:
                res = fn(self, args[1:])
                if res is not None:  # the async commands (watch, calibrate)
                    await res
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a bad command must never stop the console or the app
            self.log.exc("console " + name, e)
            self.say("error: %s: %s" % (type(e).__name__, e))
        finally:
            fn = None
            _drop(modname)

    def settings(self):
        """The settings as saved (the file), or the running ones when the file cannot be read."""
        import json
        from app.core import config
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


def _drop(modname):
    """Forget a command module so the garbage collector can free it."""
    forget("app.console." + modname)


async def serve(app):
    """The console task (app.main adds it when console.enabled)."""
    await Console(app).run()


async def serve_setup(cfg, log):
    """The console while the device needs set-up: settings, log, reboot and repl only."""
    await Console(None, cfg=cfg, log=log).run()
