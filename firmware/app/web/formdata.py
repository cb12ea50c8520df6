# A posted form's fields, read without letting a bad body raise (the page says what was wrong), and
# whole numbers from it. Shared by the settings form's parts (app.web.setupsave, setupsources) and
# the restore page (app.web.backup).


def whole(form, key, errors, what):
    v = (form.get(key) or "").strip()
    try:
        return int(v)
    except ValueError:
        errors.append("%s: must be a whole number (got %r)" % (what, v[:20]))
        return None


def read_form(req):
    """-> dict of the posted form fields, or None when the body is not a readable form."""
    try:
        f = req.form
    except MemoryError:
        raise  # not the client's fault: the 503 handler answers
    except Exception:  # bad %-escapes, bad UTF-8
        return None
    if f is None:
        return None
    return dict((k, f.get(k)) for k in f)
