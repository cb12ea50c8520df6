# The pages of the device's web server: page text lives in web/*.html (flash), filled in at its
# {{key}} marks and streamed ~1 KB at a time, so a page never has to fit in RAM whole; esc() makes
# any text safe in HTML.
from micropython import const
from microdot import Response

_CHUNK = const(1024)

# No scripts at all: even an escaping slip cannot run JavaScript.
HTML_HEADERS = {"Content-Type": "text/html; charset=UTF-8", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                "X-Frame-Options": "DENY"}


def _web_dir():
    # web/ sits beside app/ (the board's root, firmware/ on the host)
    f = globals().get("__file__") or ""
    i = f.rfind("/app/")
    return f[:i + 1] + "web/" if i >= 0 else "web/"


WEB = _web_dir()


def esc(s):
    """Text for HTML (element content and quoted attributes)."""
    if s is None:
        return ""
    s = str(s)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        if a in s:
            s = s.replace(a, b)
    return s


def render(name, values):
    """Stream web/<name>.html with each {{key}} replaced by values(key) (or values[key] for a
    dict): a str, or an iterable of str, that is HTML already (escaped)."""
    with open(WEB + name + ".html") as f:
        for line in f:
            pos = 0  # pieces are cut from the line read, never a copy of its rest (RAM)
            while True:
                i = line.find("{{", pos)
                if i < 0:
                    break
                j = line.index("}}", i)
                if i > pos:
                    yield line[pos:i]
                key = line[i + 2:j]
                v = values[key] if isinstance(values, dict) else values(key)
                if isinstance(v, str):
                    yield v
                else:
                    for part in v:
                        yield part
                pos = j + 2
            yield line[pos:] if pos else line


def page(title, body, status=200, refresh=None, headers=None, head=""):
    """An HTML page; `body` is a string or an iterable of strings (sent ~1 KB at a time).
    `head`: more HTML for <head>; `headers`: instead of HTML_HEADERS (the status page's script)."""
    head = render("head", {"title": esc(title),
                           "refresh": ('<meta http-equiv="refresh" content="%d">' % refresh if refresh else "")
                           + head})
    return Response(_stream(head, body), status, headers or HTML_HEADERS)


def _stream(head, body, end=b"</body></html>"):
    # Pieces are copied into one buffer per response and sent ~1 KB at a time (one TCP write per
    # KB, not per fragment); joining them into new strings instead fragmented the heap until a
    # long page (the status chart) could not find 2 KB in 50 KB free.
    try:
        buf = bytearray(_CHUNK)
    except MemoryError:  # no 1 KB block free just now: the page still goes out, piece by piece
        for part in _parts(head, body):
            yield part
        if end:
            yield end
        return
    n = 0
    for part in _parts(head, body):
        b = part.encode() if isinstance(part, str) else part
        i = 0
        while i < len(b):
            k = min(len(b) - i, _CHUNK - n)
            buf[n:n + k] = b[i:i + k] if i or k < len(b) else b
            n += k
            i += k
            if n == _CHUNK:
                yield buf  # written before the next piece is asked for (Microdot awaits it)
                n = 0
        b = None
    if n + len(end) > _CHUNK:
        yield memoryview(buf)[:n]
        n = 0
    buf[n:n + len(end)] = end
    if n + len(end):
        yield memoryview(buf)[:n + len(end)]


def chunked(parts):
    """A body that is not a page (JSON: an iterable of str), sent ~1 KB at a time like a page:
    no string of the whole body, nor its bytes copy, in RAM at once."""
    return _stream((), parts, b"")


def _parts(head, body):
    for part in head:
        yield part
    if isinstance(body, str):
        yield body
    else:
        for part in body:
            yield part
