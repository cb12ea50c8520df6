"""HTTPS GET for MicroPython (and CPython), asyncio, verified TLS, the body streamed to a handler.

    import https_get, https_post
    ctx = https_post.tls_context(ca_der_bundle)
    result = await https_get.get(url, handler, ctx=ctx, timeout_ms=60000, max_bytes=262144)
    # handler(length, reader) is awaited with the body's Content-Length and a stream whose
    # read(n) gives the body; what it returns, get() returns.

Written here rather than with `requests`: MicroPython's requests neither verifies certificates
nor streams under asyncio, and an update must never be held in RAM whole. Same rules as
https_post (one deadline for every step, CERT_REQUIRED + server_hostname): it reuses its URL
parser, resolver and error texts. Only status 200 with a Content-Length is taken (an HTTP/1.0
request: no chunked encoding to undo).
"""
import asyncio
from https_post import HttpError, parse_url, resolve, forget, _oserror_text


async def _exchange(scheme, host, port, path, ctx, handler, max_bytes):
    ip = resolve(host, port)
    if scheme == "https":
        reader, writer = await asyncio.open_connection(ip, port, ssl=ctx, server_hostname=host)
    else:
        reader, writer = await asyncio.open_connection(ip, port)
    try:
        writer.write(("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: chargehq-meter\r\n\r\n" % (
            path, host)).encode())
        await writer.drain()
        line = await reader.readline()
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HttpError("not an HTTP response")
        status = int(parts[1]) if parts[1].isdigit() else 0
        length = None
        while True:
            h = await reader.readline()
            if not h or h == b"\r\n":
                break
            if h[:15].lower() == b"content-length:":
                try:
                    length = int(h[15:])
                except ValueError:
                    pass
        if status != 200:
            raise HttpError("HTTP %d for %s" % (status, path))
        if length is None:
            raise HttpError("no Content-Length for %s" % path)
        if length > max_bytes:
            raise HttpError("%s is %d bytes, more than %d" % (path, length, max_bytes))
        return await handler(length, reader)
    finally:
        try:
            writer.close()
            await writer.wait_closed()
        except Exception:
            pass


async def get(url, handler, ctx=None, timeout_ms=60000, max_bytes=262144):
    scheme, host, port, path = parse_url(url)
    if scheme == "https" and ctx is None:
        raise ValueError("https needs a verifying TLS context (https_post.tls_context)")
    try:
        work = _exchange(scheme, host, port, path, ctx, handler, max_bytes)
        if hasattr(asyncio, "wait_for_ms"):
            return await asyncio.wait_for_ms(work, timeout_ms)
        return await asyncio.wait_for(work, timeout_ms / 1000)
    except asyncio.TimeoutError:
        forget(host)
        raise HttpError("no answer from %s within %d s" % (host, timeout_ms // 1000))
    except OSError as e:
        forget(host)
        raise HttpError("%s:%d %s" % (host, port, _oserror_text(e)))
    except ValueError as e:  # mbedTLS reports certificate problems as ValueError
        forget(host)
        raise HttpError("TLS with %s failed: %s" % (host, str(e).strip()))
