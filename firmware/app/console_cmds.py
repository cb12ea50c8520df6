# The console's commands, loaded at the first command typed (an idle console costs little
# heap). Each c_NAME(con, args) runs `NAME args...` on the Console `con` (app.console).
import asyncio
import json
from micropython import const
from app import clock, config, payload
from app.console import spans, SECRET_NAMES

_WATCH_MS = const(1000)
_POLL_MS = const(50)
_CLOCK_SET_AFTER = const(820454400)  # 2026-01-01 (2000 epoch): an earlier time was never set
# settings the running app reads each time it needs them: applied without a reboot
_LIVE = ("validation.", "device.report_s", "console.echo")

_HELP = (
    ("status", "readings, check, last push, Wi-Fi, heap, uptime, energy"),
    ("watch", "live readings once a second (Enter stops)"),
    ("log [N]", "the last N events (default 50)"),
    ("push", "push now (never within 30 s of the last push)"),
    ("config", "the settings (secrets masked)"),
    ("set SECTION.KEY VALUE", "change a setting (checked, then saved); set source {JSON}"),
    ("wifi SSID [PASSWORD]", "the Wi-Fi network to join (after a reboot)"),
    ("calibrate ...", "ATM90E32 (CT clamp) calibration (`calibrate` for more)"),
    ("energy [reset]", "energy totals; `energy reset` sets them to 0 (asks first)"),
    ("portal", "open the set-up access point now"),
    ("reboot", "save the totals and restart"),
    ("repl", "stop the app and leave to the MicroPython REPL"),
    ("help", "this list"),
)


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


def c_help(con, args):
    con.say("commands:")
    for usage, what in _HELP:
        con.say("  %-22s %s" % (usage, what))


def c_status(con, args):
    app = con.app
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
    con.say("meter      " + meter)
    if g("reading_age_s") is not None:
        con.say("readings   " + app.reading_text() + ("" if g("meter_ok") else " (last good)"))
    con.say("check      " + (g("validation") or "not yet (checked before each push)"))
    if g("last_push") is None and not (g("pushes_ok") or g("pushes_failed")):
        con.say("last push  none yet")
    else:
        p = app.pusher
        when = []
        if p.last_attempt_up is not None:
            when.append("%d s ago" % ((clock.uptime_ms() - p.last_attempt_up) // 1000))
        if p.last_attempt_s is not None and p.last_attempt_s > _CLOCK_SET_AFTER:
            when.append(clock.fmt_time(p.last_attempt_s))
        con.say("last push  %s: %s" % (", ".join(when) or "?", g("last_push_result")))
    con.say("pushes     %d ok, %d failed; next in %d s" % (
        g("pushes_ok") or 0, g("pushes_failed") or 0, g("next_push_s") or 0))
    w = g("wifi")
    if w is None:
        con.say("wifi       (no station)")
    elif w.get("connected"):
        con.say("wifi       %s, IP %s, RSSI %s dBm%s" % (
            w.get("ssid"), w.get("ip"), w.get("rssi"),
            ", %d outages" % w["outages"] if w.get("outages") else ""))
    else:
        why = w.get("reason")
        down = w.get("down_s")
        con.say("wifi       not connected to %s%s%s" % (
            w.get("ssid"), ": %s" % why if why else "", ", down %d s" % down if down else ""))
    if w and w.get("setup_ap"):
        con.say("set-up AP  open (its name and password are in the log)")
    e = app.energy  # integers (the status dict's floats are 32-bit on the chip)
    con.say("energy     today import %s export %s kWh; lifetime import %s export %s kWh" % (
        _kwh(e.today_wh(0)), _kwh(e.today_wh(1)), _kwh(e.wh[0]), _kwh(e.wh[1])))
    st = g("energy_store")
    if st:
        con.say("store      totals restored from %s; %s flash writes, %s errors; checkpoint every %s s"
                % (st.get("restored_from"), st.get("flash_writes"), st.get("flash_errors"),
                   st.get("checkpoint_s")))
    con.say("device     up %s, free heap %d bytes, reset cause %s, clock %s" % (
        clock.fmt_uptime(g("uptime_s", 0) * 1000), g("free_heap") or 0, g("reset_cause"),
        "synced" if g("clock_synced") else "not set"))
    if con.saved:
        con.say("note       settings were changed: reboot to apply them")


def _reading(con):
    app = con.app
    if app.source_error is not None:
        return "meter: " + app.source_error
    return app.reading_text()


async def c_watch(con, args):
    con.say("live readings (Enter stops):")
    while True:
        con.say("[%s] %s" % (clock.fmt_uptime(), _reading(con)))
        for _ in range(_WATCH_MS // _POLL_MS):
            await asyncio.sleep_ms(_POLL_MS)
            con.show_log()
            lines = con.read_lines()
            if lines is None or lines:
                return


def c_log(con, args):
    n = 50
    if args:
        try:
            n = max(1, int(args[0]))
        except ValueError:
            con.say("usage: log [N]")
            return
    entries = con.log.recent(n)
    if not entries:
        con.say("(no events yet)")
    for t, level, msg in entries:
        # before the clock was set, time.time() counted from 2000-01-01 at boot: uptime
        when = clock.fmt_time(t) if t > _CLOCK_SET_AFTER else "up " + clock.fmt_uptime(t * 1000)
        con.say("%s %s %s" % (when, level, msg))


def c_push(con, args):
    app = con.app
    wait = app.pusher.floor_in_ms()
    app.push_now.set()
    if wait > 0:
        con.say("push requested: in %d s (never within 30 s of the last push)" % (
            wait // 1000 + 1))
    else:
        con.say("push requested: pushing now (the result shows in the log)")


# --- settings ----------------------------------------------------------------------------
def _raw(con):
    """The settings as saved (the file), or the running ones when the file cannot be read."""
    try:
        with open(config.PATH) as f:
            raw = json.load(f)
        if isinstance(raw, dict):
            return raw
    except (OSError, ValueError):
        pass
    if con.app is None:  # set-up: start afresh (the defaults name no meter: none is chosen)
        return {}
    return json.loads(json.dumps(con.cfg.data))


def c_config(con, args):
    data = config.masked(_raw(con))
    for sec in sorted(data):
        part = data[sec]
        if not isinstance(part, dict):
            con.say("%s = %s" % (sec, json.dumps(part)))
            continue
        for key in sorted(part):
            con.say("%s.%s = %s" % (sec, key, json.dumps(part[key])))
    if con.saved:
        con.say("(changed since boot: reboot to apply)")


def _change(con, changes):
    """[(section, key, value)] -> checked and saved. -> None when refused (the reason is
    printed), True when the running app uses the new values at once, False when a reboot
    applies them."""
    raw = _raw(con)
    before = config.validate(json.loads(json.dumps(raw)))
    for sec, key, v in changes:
        if key in SECRET_NAMES and v:
            con.log.secrets.append(v)  # never printed from now on
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
    if own or (new and con.app is not None):
        con.say("not saved: " + "; ".join(own or new))
        return None
    if after.problem and not before.problem:
        con.say("not saved: the device would need set-up (%s)" % after.problem)
        return None
    config.save(raw)
    if after.problem:  # set-up mode: saved step by step, say what is still missing
        con.say("still to do: %s" % "; ".join(new + [after.problem]))
    live = True
    for sec, key, v in changes:
        name = "%s.%s" % (sec, key)
        if any(name.startswith(p) for p in _LIVE):
            con.cfg.data[sec][key] = v
            if name == "console.echo":
                con.echo = v
        else:
            live = False
    if not live:
        con.saved = True
    return live


def c_set(con, args):
    if len(args) < 2 or ("." not in args[0] and args[0] != "source"):
        con.say("usage: set SECTION.KEY VALUE   (see `config` for the names; \"\" for empty)")
        return
    sec, key = (args[0].split(".", 1) + [None])[:2]
    text = bytes(con.line[spans(con.line)[2][0]:]).decode()  # as typed (JSON keeps its quotes)
    if sec == "source":
        try:
            v = json.loads(text)  # numbers, true/false, lists; the whole section: {...}
        except ValueError:
            v = text
        if key is None and not isinstance(v, dict):
            con.say('not saved: source must be a JSON object, e.g. {"type": "simulated"}')
            return
    else:
        f = config.field(sec, key)
        if f is None:
            con.say("unknown setting %s (see `config`)" % args[0][:40])
            return
        if len(text) > 1 and text[0] == text[-1] == '"':
            text = text[1:-1]  # "" is empty; quotes keep leading/trailing spaces
        try:
            v = parse_value(f[0], text)
        except ValueError as e:
            con.say("not saved: %s.%s %s" % (sec, key, e))
            return
    shown = "(hidden)" if key in SECRET_NAMES else json.dumps(v)
    live = _change(con, [(sec, key, v)])
    if live is None:
        return  # refused (the reason was printed)
    name = sec if key is None else sec + "." + key
    con.log.info("console: %s set to %s" % (name, shown))
    con.say("saved %s = %s; %s" % (name, shown, "applied now" if live else "reboot to apply"))


def c_wifi(con, args):
    if not args or len(args) > 2:
        con.say("usage: wifi SSID [PASSWORD]   (quote a name with spaces: \"My Net\")")
        return
    ssid = args[0]
    pw = args[1] if len(args) > 1 else ""
    if _change(con, [("wifi", "ssid", ssid), ("wifi", "password", pw)]) is not None:
        con.log.info("console: Wi-Fi network set to %s" % ssid)
        con.say("saved: the device joins %s after `reboot`" % ssid)


# --- service -----------------------------------------------------------------------------
_CAL_USAGE = (
    "calibrate                              the channels and their calibration",
    "calibrate voltage [CHIP]PHASE VOLTS    voltage gain from a voltmeter reading",
    "calibrate current [CHIP]PHASE AMPS     current gain from a clamp meter on the CT's wire",
    "calibrate ioffset [CHIP]PHASE          current offset: CT on no wire (or circuit off)",
    "calibrate uoffset [CHIP]PHASE          voltage offset: voltage input at zero",
    "calibrate power [CHIP]PHASE            power offsets: voltage present, no current",
    "PHASE is A, B or C; CHIP (default 0) as in source.channels, e.g. `calibrate current 1C 12.35`.",
    "The chip uses the new value at once; it is saved in the config for every start.",
)
# the word after `calibrate`, the app.calibrate function, the number of words
_CAL = (("voltage", "voltage_gain", 3), ("current", "current_gain", 3),
        ("ioffset", "current_offset", 2), ("uoffset", "voltage_offset", 2),
        ("power", "power_offsets", 2))
_CAL_KEYS = ("ugain", "igain", "uoffset", "ioffset", "poffset", "qoffset")


def c_calibrate(con, args):
    src = con.cfg.section("source")
    if src.get("type") != "atm90e32":
        con.say("calibration is for the ATM90E32 (CT clamp) source; this device reads %s" %
                src.get("type"))
        return
    try:
        from app import calibrate
    except ImportError:
        con.say("the calibration module (app/calibrate.py) is not on this device")
        return
    if not args:
        for line in _CAL_USAGE:
            con.say(line)
        for c in _raw(con).get("source", {}).get("channels", []):
            cal = ["%s %s" % (k, c[k]) for k in _CAL_KEYS if k in c]
            con.say("chip %s phase %s (%s): %s" % (c.get("chip", 0), c.get("phase"), c.get("role"),
                                                    ", ".join(cal) or "board defaults"))
        return
    what = args[0].lower()
    n = [c[0] for c in _CAL].index(what) if what in [c[0] for c in _CAL] else -1
    if n < 0 or len(args) != _CAL[n][2]:
        con.say("usage: " + _CAL_USAGE[1 + max(n, 0)])
        return
    fn = getattr(calibrate, _CAL[n][1])
    need = _CAL[n][2]
    spec = args[1].upper()
    try:
        chip = int(spec[:-1]) if len(spec) > 1 else 0
        ref = float(args[2]) if need == 3 else None
    except ValueError:
        con.say("not a chip/phase and number: %s" % " ".join(args[1:]))
        return
    phase = spec[-1:]
    if phase not in ("A", "B", "C"):
        con.say("the phase must be A, B or C (got %s)" % args[1])
        return
    meters = getattr(con.app.source, "meters", None)
    if not meters:
        con.say("the CT meter has not started (see `status`)")
        return
    if chip not in meters:
        con.say("no chip %d (chips: %s)" % (chip, ", ".join(str(k) for k in sorted(meters))))
        return
    return _calibrate(con, calibrate, fn, what, meters[chip], chip, phase, ref)


async def _calibrate(con, calibrate, fn, what, meter, chip, phase, ref):
    con.say("measuring chip %d phase %s (a few seconds; sampling goes on)..." % (chip, phase))
    try:
        if what == "current":
            mult = 1
            for c in con.cfg.section("source").get("channels", []):
                if c.get("chip", 0) == chip and c.get("phase") == phase:
                    mult = c.get("multiplier", 1)
            r = await fn(meter, phase, ref, multiplier=mult)
        elif ref is not None:
            r = await fn(meter, phase, ref)
        else:
            r = await fn(meter, phase)
        calibrate.store(_raw(con), chip, phase, r)
    except calibrate.CalibrationError as e:
        con.say("calibration failed: %s" % e)
        return
    if "key" not in r:
        got = "poffset %d, qoffset %d" % (r["poffset"], r["qoffset"])
    elif "old" in r:
        got = "%s %d -> %d" % (r["key"], r["old"], r["value"])
        if r.get("clamped"):
            got += " (clamped to 16 bits: check the CT model and the multiplier)"
    else:
        got = "%s %d" % (r["key"], r["value"])
    con.log.info("console: calibrated chip %d phase %s: %s" % (chip, phase, got))
    con.say("chip %d phase %s: %s; saved" % (chip, phase, got))


def c_energy(con, args):
    e = con.app.energy
    if args and args[0] == "reset":
        con.say("set the lifetime and today's import/export totals to 0? Charge HQ will see "
                "the totals start again. Type yes to confirm:")
        con.confirm = lambda: _energy_reset(con)
        return
    if args:
        con.say("usage: energy [reset]")
        return
    for i, name in ((0, "import"), (1, "export")):
        con.say("%-10s lifetime %s kWh, today %s kWh" % (name, _kwh(e.wh[i]), _kwh(e.today_wh(i))))


def _energy_reset(con):
    e = con.app.energy
    for i in (0, 1):
        if e.hw_last[i] is not None:  # a meter's own counter: count from its present value
            e.hw_offset[i] = -e.hw_last[i]
        e.wh[i] = 0
        e.uwh[i] = 0
        e.day_start[i] = 0
    e.changed = True
    store = con.app.store
    if store:
        store.checkpoint(con.app, "energy reset")
    con.log.warn("console: energy totals reset to 0")
    con.say("energy totals reset to 0")


def c_portal(con, args):
    hook = getattr(con.app, "open_portal", None)
    if hook is None:
        con.say("the set-up portal is not part of this build")
        return
    if hasattr(hook, "set"):
        hook.set()
    else:
        res = hook()
        if res is not None and hasattr(res, "send"):  # a coroutine function
            asyncio.create_task(res)
    con.say("set-up portal opening: join the device's Wi-Fi access point")


def c_reboot(con, args):
    con.say("saving the totals and restarting...")
    con.log.info("console: reboot")
    if con.app is not None:
        con.app.shutdown("reboot")
    import machine
    machine.reset()


def c_repl(con, args):
    con.say("leaving the console: the app stops (totals saved) and the MicroPython REPL (>>>)")
    con.say("takes the serial line. Ctrl-D (soft reset) or machine.reset() starts the app again.")
    wdt = con.app.wdt if con.app is not None else None
    if wdt is not None and _keep_fed(wdt):
        con.say("the watchdog is fed by a timer while the REPL runs")
    elif wdt is not None:
        con.say("note: the watchdog (%d s) cannot be stopped and will reset the chip; for a "
                "long session: set device.watchdog_s 0, reboot, then repl" % (
                     con.cfg.get("device", "watchdog_s")))
    if con.app is not None:
        con.app.stop_reason = "repl"
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
