"""HTTPS GET for MicroPython (and CPython), asyncio, verified TLS, the body streamed to a handler.

    import https_get, https_post
    ctx = https_post.tls_context(ca_der_bundle)
    result = await https_get.get(url, handler, ctx=ctx, timeout_ms=60000, max_bytes=262144)
    # handler(length, reader) is awaited with the body's Content-Length and a stream whose
    # read(n) gives the body; what it returns, get() returns.

Written here rather than with `requests`: MicroPython's requests neither verifies certificates
nor streams under asyncio, and an update must never be held in RAM whole. Same rules as
https_post (one deadline for every step, CERT_REQUIRED + server_hostname): it reuses its URL
parser, resolver, response-head reader, deadline and error texts. Only status 200 with a Content-Length is taken (an HTTP/1.0
request: no chunked encoding to undo).
"""
from https_post import HttpError, parse_url, connect, read_head, close, deadline


async def _exchange(scheme, host, port, path, ctx, handler, max_bytes):
    reader, writer = await connect(scheme, host, port, ctx)
    try:
        writer.write(("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: chargehq-meter\r\n\r\n" % (
            path, host)).encode())
        await writer.drain()
        status, length = await read_head(reader)
        if status != 200:
            raise HttpError("HTTP %d for %s" % (status, path))
        if length < 0:
            raise HttpError("no Content-Length for %s" % path)
        if length > max_bytes:
            raise HttpError("%s is %d bytes, more than %d" % (path, length, max_bytes))
        return await handler(length, reader)
    finally:
        await close(writer)


async def get(url, handler, ctx=None, timeout_ms=60000, max_bytes=262144):
    scheme, host, port, path = parse_url(url)
    if scheme == "https" and ctx is None:
        raise ValueError("https needs a verifying TLS context (https_post.tls_context)")
    return await deadline(_exchange(scheme, host, port, path, ctx, handler, max_bytes), host, port,
                          timeout_ms)
