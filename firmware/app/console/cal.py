# The console's `calibrate` for the ATM90E32 (loaded for the command, then dropped).


_CAL_USAGE = (
    "calibrate                              the channels and their calibration",
    "calibrate voltage [CHIP]PHASE VOLTS    voltage gain from a voltmeter reading",
    "calibrate current [CHIP]PHASE AMPS     current gain and PGA from a clamp meter on the CT's wire",
    "calibrate ioffset [CHIP]PHASE          current offset: CT on no wire (or circuit off)",
    "calibrate uoffset [CHIP]PHASE          voltage offset: voltage input at zero",
    "calibrate power [CHIP]PHASE            power offsets: voltage present, no current",
    "PHASE is A, B or C; CHIP (default 0) as in source.channels, e.g. `calibrate current 1C 12.35`.",
    "The chip uses the new value at once; it is saved in the config for every start.",
)
# the word after `calibrate`, the app.sources.calibrate function, the number of words
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
        from app.sources import calibrate
    except ImportError:
        con.say("the calibration module (app/calibrate.py) is not on this device")
        return
    if not args:
        for line in _CAL_USAGE:
            con.say(line)
        for c in con.settings().get("source", {}).get("channels", []):
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
            src = con.cfg.section("source")
            model = src.get("ct_model")
            for c in src.get("channels", []):
                if c.get("chip", 0) == chip and c.get("phase") == phase:
                    mult = c.get("multiplier", 1)
                    model = c.get("ct_model") or model
            board = getattr(con.app, "board", None) or {}
            rated = ((board.get("ct_presets") or {}).get(model) or {}).get("rated_a")
            r = await fn(meter, phase, ref, multiplier=mult, rated_a=rated)
        elif ref is not None:
            r = await fn(meter, phase, ref)
        else:
            r = await fn(meter, phase)
        from app.core import config
        calibrate.store(con.settings(), chip, phase, r, config.save)
    except calibrate.CalibrationError as e:
        con.say("calibration failed: %s" % e)
        return
    if "key" not in r:
        got = "poffset %d, qoffset %d" % (r["poffset"], r["qoffset"])
    elif "old" in r:
        got = "%s %d -> %d" % (r["key"], r["old"], r["value"])
        if r.get("clamped"):
            got += " (clamped to 16 bits: check the CT model and the multiplier)"
        if "pga" in r:
            got += ", PGA %dx, full scale %.1f A" % (r["pga"], r["full_scale_a"])
            if r.get("pga_note"):
                con.say(r["pga_note"])
    else:
        got = "%s %d" % (r["key"], r["value"])
    con.log.info("console: calibrated chip %d phase %s: %s" % (chip, phase, got))
    con.say("chip %d phase %s: %s; saved" % (chip, phase, got))
