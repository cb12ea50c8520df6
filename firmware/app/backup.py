# Settings backup and restore: the config as JSON without its secrets (Wi-Fi password, API key,
# admin and set-up passwords), downloaded from /backup and pasted back on /restore (the LAN pages
# behind the admin password, or the set-up portal of a new or reset device), or over the console
# (`backup`, `restore {JSON}`). A restore keeps the device's own secrets unless the backup has
# them; a device without them then asks for them in the set-up form. Loaded per request.
import json
from app import config

SECRETS = config.SECRET_KEYS  # key names secret in any section: one list with the console and log
FILENAME = "chargehq-meter-settings.json"


def without_secrets(data):
    out = {}
    for sec, part in data.items():
        out[sec] = dict(part) if isinstance(part, dict) else part
    for part in out.values():
        if isinstance(part, dict):
            for key in SECRETS:
                part.pop(key, None)
    return out


def text(data):
    return json.dumps(without_secrets(data))


def merge(current, raw):
    """A restored config dict: `raw` (a parsed backup) with the current secrets where it has
    none. -> (dict, error text or None)."""
    if not isinstance(raw, dict):
        return None, "a backup is a JSON object ({...})"
    out = {}
    for sec, part in raw.items():
        out[sec] = dict(part) if isinstance(part, dict) else part
    for sec, mine in current.items():
        if not isinstance(mine, dict):
            continue
        for key in SECRETS:
            have = mine.get(key)
            part = out.get(sec)
            if have and isinstance(part, dict) and not part.get(key):
                part[key] = have
            elif have and part is None:
                out[sec] = {key: have}
    return out, None


def check(current, body):
    """Pasted backup (text, or bytes / a memoryview of the request body: MicroPython's json reads
    any buffer, so the body is never copied) -> (config dict to save, [errors], validated Config)."""
    try:
        try:
            raw = json.loads(body)
        except TypeError:  # CPython's json: text only
            raw = json.loads(bytes(body).decode())
    except (ValueError, TypeError, UnicodeError):
        return None, ["not valid JSON: paste the whole file, from { to }"], None
    data, why = merge(current, raw)
    if why:
        return None, [why], None
    checked = config.validate(data, deep=False)
    return data, list(checked.errors), checked


# --- the web pages ---------------------------------------------------------------------------------
def download(cfg):
    from microdot import Response
    return Response(text(cfg.data), 200, {
        "Content-Type": "application/json", "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="%s"' % FILENAME})


_FORM_START = ('<p>Paste a backup (the JSON file from <b>Backup</b>) and restore it. The passwords and the '
               'API key are not in a backup: this device keeps its own.</p>'
               '<form method="post" action="/restore" enctype="text/plain"><label>Backup<textarea '
               'name="backup" rows="10" style="width:100%;box-sizing:border-box" required>')
_FORM_END = '</textarea></label><button type="submit">Restore</button></form><p><a href="/">Back</a></p>'


def _form(errors=(), again=b""):
    """The restore page's body, streamed: the text sent back for correction is escaped a piece at
    a time (escaped whole, JSON's quotes made it several times its size in one block)."""
    from app.portal import esc
    if errors:
        yield '<div class="err"><p><b>Not restored:</b></p><ul>'
        for e in errors:
            yield "<li>%s</li>" % esc(e)
        yield "</ul></div>"
    yield _FORM_START
    for i in range(0, min(len(again), 3000), 200):
        try:
            yield esc(bytes(again[i:i + 200]).decode() if not isinstance(again, str) else again[i:i + 200])
        except UnicodeError:
            pass
    yield _FORM_END


async def restore_page(web, req):
    from app.portal import page
    if req.method == "GET":
        return page("Restore settings", _form())
    body = _posted(req)
    data, errors, checked = check(web.cfg.data, body)
    if errors or data is None:
        return page("Restore settings", _form(errors, body), 400)
    try:
        config.save(data)
    except OSError as e:
        return page("Restore settings", _form(["could not save (%s)" % e]), 500)
    cfg = web.cfg
    cfg.data, cfg.errors, cfg.problem = checked.data, checked.errors, checked.problem
    web.log.info("settings restored from a backup")
    from app.setupsave import _finish, _form_page
    if checked.problem:  # the secrets are missing (a new device): the set-up form asks for them
        return _form_page(web, ["Restored. Still needed: %s. Enter it below, then save." % checked.problem])
    import asyncio
    asyncio.create_task(_finish(web, True))
    return page("Restored", '<p class="ok">Settings restored. The meter restarts now to apply them.</p>'
                '<p><a href="/">Status</a></p>', refresh=15)


def _posted(req):
    """The pasted backup: the form sends it as text/plain ("backup=" and the text as it is: no
    %-escapes for the device to undo, which cost a 2 KB block for 1 KB of JSON), scripts may send
    application/json: a view of the body, not a copy. A urlencoded form is read too."""
    ct = req.headers.get("Content-Type") or ""
    if ct.startswith("application/x-www-form-urlencoded"):
        from app.setupsave import read_form
        return (read_form(req) or {}).get("backup") or ""
    body = memoryview(req.body or b"")
    if ct.startswith("text/plain") and bytes(body[:7]) == b"backup=":
        body = body[7:]
    return body


# --- the console ---------------------------------------------------------------------------------
def c_backup(con, args):
    con.say(text(con.settings()))
    con.say("(secrets left out; paste it back with: restore {...})")


def c_restore(con, args):
    from app.console import spans
    sp = spans(con.line)
    if len(sp) < 2:
        con.say("usage: restore {JSON from `backup`}")
        return
    body = bytes(con.line[sp[1][0]:]).decode()
    data, errors, checked = check(con.settings(), body)
    if errors or data is None:
        con.say("not restored: " + "; ".join(errors))
        return
    config.save(data)
    con.saved = True
    con.log.info("console: settings restored from a backup")
    con.say("restored%s; reboot to apply" % (" (still needed: %s)" % checked.problem if checked.problem else ""))
