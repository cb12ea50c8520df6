# The console's settings commands: config, set, wifi (loaded for the command, then dropped).
import json
from app.core import config
from app.core.config import SECRET_KEYS as SECRET_NAMES
from app.console.words import spans

# settings the running app reads each time it needs them: applied without a reboot
_LIVE = ("validation.", "device.report_s", "console.echo")


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


def c_config(con, args):
    data = config.masked(con.settings())
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
    raw = con.settings()
    before = config.validate(json.loads(json.dumps(raw)))
    for sec, key, v in changes:
        if key in SECRET_NAMES and v:
            from app.core.log import hide
            hide(con.log, (v,))  # never printed from now on
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
        con.say("usage: wifi SSID [PASSWORD]   (quote a name or password that has spaces: \"My Net\")")
        return
    ssid = args[0]
    pw = args[1] if len(args) > 1 else ""
    if _change(con, [("wifi", "ssid", ssid), ("wifi", "password", pw)]) is not None:
        con.log.info("console: Wi-Fi network set to %s" % ssid)
        con.say("saved: the device joins %s after `reboot`" % ssid)
