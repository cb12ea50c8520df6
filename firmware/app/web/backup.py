# The web side of a settings backup (app.core.backup): /backup downloads it, /restore takes it back
# (the LAN pages behind the admin password, or the set-up portal of a new or reset device).
# Loaded per request.
from app.core import config
from app.core.backup import check, text, FILENAME
from app.web.html import esc, page


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
    from app.web.setupsave import _finish, _form_page
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
        from app.web.formdata import read_form
        return (read_form(req) or {}).get("backup") or ""
    body = memoryview(req.body or b"")
    if ct.startswith("text/plain") and bytes(body[:7]) == b"backup=":
        body = body[7:]
    return body
