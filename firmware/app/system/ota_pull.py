# Pull an update from an HTTPS URL (the console's `update URL`, the /update page): the release
# manifest at URL, each file beside it (URL's folder + the file's path), over verified TLS with
# the device's CA bundle, each streamed into app.system.ota's session. Plain http:// is refused.
import asyncio
from app.system import ota

CA_BUNDLE = "ca/roots.der"
_TIMEOUT_MS = 60000


def tls(ca_path=CA_BUNDLE):
    import https_post
    with open(ca_path, "rb") as f:
        return https_post.tls_context(f.read())


async def pull(app, url, log, who="console", restart=True):
    """-> the result text (the chip restarts into the new version after it). Raises
    ota.OtaError / https_post.HttpError / ValueError with the reason; nothing is left staged."""
    if not url.startswith("https://"):
        raise ValueError("the update URL must start with https:// (verified TLS)")
    import https_get
    s = ota.start(who, log)
    try:
        ctx = tls()
        await https_get.get(url, s.begin, ctx=ctx, timeout_ms=_TIMEOUT_MS, max_bytes=ota.MAX_MANIFEST)
        base = url.rsplit("/", 1)[0] + "/"
        for path in list(s.want_list()):
            async def one(length, reader, path=path):
                await s.put(path, length, reader)
            await https_get.get(base + path, one, ctx=ctx, timeout_ms=_TIMEOUT_MS, max_bytes=ota.MAX_FILE)
        msg = s.commit()
    except Exception as e:
        if ota.active() is s:
            s.abort(str(e))
        raise
    if restart:  # data-only (frozen app) too: the new data files load at start
        asyncio.create_task(ota.restart_soon(app))
    return msg
