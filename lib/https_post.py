"""HTTPS POST for MicroPython (and CPython), asyncio, with verified TLS.

    import https_post
    ctx = https_post.tls_context(ca_der_bundle)   # bytes: one or more DER certificates, concatenated
    status, head = await https_post.post(url, body, ctx=ctx, timeout_ms=20000,
                                         headers=(("Content-Type", "application/json"),))

- HTTP/1.1, Content-Length, Connection: close; returns (status, first bytes of the body).
- TLS: CERT_REQUIRED against the given roots, SNI and host-name check with server_hostname.
  (MicroPython's ssl.wrap_socket, requests and open_connection(ssl=True) do NOT verify.)
- Every step (DNS, connect, handshake, request, response) runs inside one deadline: a server
  that accepts and never answers costs timeout_ms, never more.
- DNS is resolved with getaddrinfo, which blocks on MicroPython: the address is cached for
  `dns_ttl_ms` and dropped after a failure, so the resolver runs rarely.
- Errors raise HttpError with a short text (never the body sent: it may hold secrets).
"""
import asyncio
import socket
import ssl

from ticks import ticks_ms, ticks_diff  # lib/ticks.py: MicroPython's, or the same on CPython

_BODY_KEEP = 200


class HttpError(Exception):
    pass


def split_der(bundle):
    """Yield each DER certificate of a concatenation (the ESP32's mbedTLS may lack PEM)."""
    mv = memoryview(bundle)
    i = 0
    n = len(bundle)
    while i + 4 <= n:
        if mv[i] != 0x30:
            raise ValueError("CA bundle: not DER at byte %d" % i)
        ln = mv[i + 1]
        if ln < 0x80:
            size, hdr = ln, 2
        else:
            k = ln & 0x7F
            if k > 3:
                raise ValueError("CA bundle: bad length at byte %d" % i)
            size = 0
            for j in range(k):
                size = (size << 8) | mv[i + 2 + j]
            hdr = 2 + k
        end = i + hdr + size
        if end > n:
            raise ValueError("CA bundle: truncated certificate at byte %d" % i)
        yield mv[i:end]
        i = end


def tls_context(ca_bundle):
    """An SSLContext that verifies the server against the given DER roots."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]  # MicroPython ssl has it; the stub lacks it
    count = 0
    for der in split_der(ca_bundle):
        ctx.load_verify_locations(cadata=bytes(der))
        count += 1
    if not count:
        raise ValueError("CA bundle: no certificate")
    return ctx


def parse_url(url):
    """-> (scheme, host, port, path); only http and https."""
    if url.startswith("https://"):
        scheme, rest, port = "https", url[8:], 443
    elif url.startswith("http://"):
        scheme, rest, port = "http", url[7:], 80
    else:
        raise ValueError("URL must start with https:// or http://")
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if hostport.startswith("["):  # [::1]:8443
        end = hostport.find("]")
        host = hostport[1:end]
        tail = hostport[end + 1:]
        if tail.startswith(":"):
            port = int(tail[1:])
    elif ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        port = int(p)
    else:
        host = hostport
    if not host or not (0 < port < 65536):
        raise ValueError("bad host or port in URL")
    return scheme, host, port, path


_dns = {}  # host -> (address string, ticks_ms when resolved)


def forget(host):
    _dns.pop(host, None)


def resolve(host, port, ttl_ms=600000):
    hit = _dns.get(host)
    if hit and ticks_diff(ticks_ms(), hit[1]) < ttl_ms:
        return hit[0]
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except OSError as e:
        raise HttpError("DNS lookup of %s failed (%s)" % (host, e))
    if not ai:
        raise HttpError("DNS lookup of %s gave no address" % host)
    addr = ai[0][-1]
    if isinstance(addr, tuple):  # ESP32 and CPython: ("1.2.3.4", 443)
        ip = addr[0]
    elif ai[0][0] == socket.AF_INET and hasattr(socket, "inet_ntop"):  # unix port: raw sockaddr
        ip = socket.inet_ntop(socket.AF_INET, bytes(addr[4:8]))
    else:
        ip = host
    _dns[host] = (ip, ticks_ms())
    return ip


async def connect(scheme, host, port, ctx, dns_ttl_ms=600000):
    """-> (reader, writer) to host:port, TLS verified by ctx for https."""
    ip = resolve(host, port, dns_ttl_ms)
    if scheme == "https":
        return await asyncio.open_connection(ip, port, ssl=ctx, server_hostname=host)
    return await asyncio.open_connection(ip, port)


async def read_head(reader):
    """The response's status line and headers -> (status, Content-Length or -1)."""
    line = await reader.readline()
    if not line:
        raise HttpError("connection closed before the response")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise HttpError("not an HTTP response")
    try:
        status = int(parts[1])
    except ValueError:
        raise HttpError("bad HTTP status line")
    length = -1
    while True:
        h = await reader.readline()
        if not h or h == b"\r\n":
            break
        if h[:15].lower() == b"content-length:":
            try:
                length = int(h[15:])
            except ValueError:
                pass
    return status, length


async def close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:
        pass


async def _exchange(scheme, host, port, path, body, ctx, headers, dns_ttl_ms):
    reader, writer = await connect(scheme, host, port, ctx, dns_ttl_ms)
    try:
        if isinstance(body, str):
            body = body.encode()
        head = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n" % (
            path, host, len(body))
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        writer.write(head.encode() + b"\r\n")
        writer.write(body)
        await writer.drain()
        status, length = await read_head(reader)
        want = _BODY_KEEP if length < 0 else min(length, _BODY_KEEP)
        data = b""
        while len(data) < want:
            chunk = await reader.read(want - len(data))
            if not chunk:
                break
            data += chunk
        return status, data
    finally:
        await close(writer)


async def post(url, body, ctx=None, headers=(), timeout_ms=20000, dns_ttl_ms=600000):
    """POST `body` to `url`; -> (status, first bytes of the response body)."""
    scheme, host, port, path = parse_url(url)
    if scheme == "https" and ctx is None:
        raise ValueError("https needs a verifying TLS context (tls_context)")
    return await deadline(_exchange(scheme, host, port, path, body, ctx, headers, dns_ttl_ms),
                          host, port, timeout_ms)


async def deadline(work, host, port, timeout_ms):
    """Await `work` within timeout_ms; every failure becomes one HttpError with a clear text
    (and the host's cached address is forgotten: the next try resolves it again)."""
    try:
        if hasattr(asyncio, "wait_for_ms"):
            return await asyncio.wait_for_ms(work, timeout_ms)
        return await asyncio.wait_for(work, timeout_ms / 1000)
    except asyncio.TimeoutError:
        forget(host)
        raise HttpError("no answer from %s within %d s" % (host, timeout_ms // 1000))
    except HttpError:
        raise
    except OSError as e:
        forget(host)
        raise HttpError("%s:%d %s" % (host, port, _oserror_text(e)))
    except ValueError as e:  # mbedTLS reports certificate problems as ValueError
        forget(host)
        raise HttpError("TLS with %s failed: %s" % (host, str(e).strip()))


_ERRNO_TEXT = {104: "connection reset", 110: "timed out", 111: "connection refused",
               113: "no route to host", 118: "host unreachable", -2: "DNS failure",
               -202: "DNS failure"}


def _oserror_text(e):
    code = e.args[0] if e.args else None
    return _ERRNO_TEXT.get(code, "network error %s" % (code,))
