# The console's commands (the settings ones are in console_set, calibrate in console_cal). A
# command's module is loaded when it is typed and dropped afterwards: an idle console costs
# little heap. Each c_NAME(con, args) runs `NAME args...` on the Console `con` (app.console).
import asyncio
from micropython import const
from app.core import clock
from app.core.site import kilo

_WATCH_MS = const(1000)
_POLL_MS = const(50)
_CLOCK_SET_AFTER = const(820454400)  # 2026-01-01 (2000 epoch): an earlier time was never set

_HELP = (
    ("status", "readings, check, last push, Wi-Fi, heap, uptime, energy"),
    ("watch", "live readings once a second (Enter stops)"),
    ("log [N]", "the last N events (default 50)"),
    ("push", "push now (never within 30 s of the last push)"),
    ("config", "the settings (secrets hidden)"),
    ("backup", "the settings as JSON, secrets left out"),
    ("restore {JSON}", "settings from a backup (keeps this device's secrets)"),
    ("set SECTION.KEY VALUE", "change a setting (checked, then saved); set source {JSON}"),
    ("wifi SSID [PASSWORD]", "the Wi-Fi network to join (after a reboot)"),
    ("calibrate ...", "ATM90E32 (CT clamp) calibration (`calibrate` for more)"),
    ("energy [reset]", "energy totals; `energy reset` sets them to 0 (asks first)"),
    ("portal", "open the set-up access point now"),
    ("update [URL]", "version running and previous; pull an update from an https:// manifest"),
    ("reboot", "save the totals and restart"),
    ("repl", "stop the app and leave to the MicroPython REPL"),
    ("help", "this list"),
)


def c_help(con, args):
    con.say("commands:")
    for usage, what in _HELP:
        con.say("  %-22s %s" % (usage, what))


def _ct_lines(con, app):
    # CT clamps: the mains voltage the gains assume (asked for when not set) and each channel
    src = app.source
    if getattr(src, "mains_v", None) is None:
        return
    if con.cfg.section("source").get("mains_v"):
        con.say("mains      %d V (source.mains_v)" % src.mains_v)
    else:
        con.say("mains      %d V assumed: set your AC adapter's rating with `set source.mains_v "
                "240` (or 230, 120), then reboot" % src.mains_v)
    for c in src.detail():
        con.say("  %-9s %-7s %6.1f V %6.2f A %6d W  full scale %.1f A  %s" % (
            c["channel"], c["role"], c["v"], c["a"], c["w"], c["full_scale_a"], c["status"]))


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
    _ct_lines(con, app)
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
    con.say("pushes     %d with data, %d error reports, %d failed; next in %d s" % (
        g("pushes_ok") or 0, g("pushes_error") or 0, g("pushes_failed") or 0, g("next_push_s") or 0))
    _outputs(con, app, g)
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
    con.say("device     up %s, free heap %d KB, reset cause %s, clock %s" % (
        clock.fmt_uptime(g("uptime_s", 0) * 1000), (g("free_heap") or 0) // 1024, g("reset_cause"),
        g("local_time") if g("clock_synced") else "not set"))
    for e in g("warnings") or ():  # refused values (their defaults used), then risky ones
        con.say("config     %s" % e)
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
    return "-" if wh is None else kilo(wh)  # None: today's total before the clock is set


def _outputs(con, app, g):
    # Charge HQ off or gone (app.outputs.retire), MQTT and OpenEVSE (app.outputs): one line each
    if not app.cfg.get("chargehq", "enabled"):
        con.say("charge hq  off (other outputs only)")
    elif g("chargehq_gone"):
        con.say("charge hq  %s; tried once an hour" % g("chargehq_gone"))
    m = g("mqtt")
    if m:
        con.say("mqtt       %s %s, %d published%s" % ("connected to" if m["connected"] else "not connected to",
                                                     m["broker"], m["published"],
                                                     ": " + m["error"] if m["error"] else ""))
    o = g("openevse")
    if o:
        con.say("openevse   %s, %d sent%s" % (o["url"], o["sent"], ": " + o["error"] if o["error"] else ""))
