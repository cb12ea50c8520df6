# lib/https_post.py under MicroPython against real local servers (started by test_https.py).
# argv: ca_der good_port wrongcert_port stall_port refused_port garbage_port status_port
import sys
import asyncio
import https_post
from mptest import check, eq, raises, done

ca = open(sys.argv[1], "rb").read()
good, wrongcert, stall, refused, garbage, status = [int(x) for x in sys.argv[2:8]]
ctx = https_post.tls_context(ca)


def post(url, timeout_ms=5000, c=ctx, key="k1"):
    return asyncio.run(https_post.post(url, '{"apiKey":"%s"}' % key, ctx=c, timeout_ms=timeout_ms,
                                       headers=(("Content-Type", "application/json"),)))


def fails(url, words, timeout_ms=5000, c=ctx):
    try:
        post(url, timeout_ms, c)
    except https_post.HttpError as e:
        text = str(e)
        check(any(w in text for w in words), "%s: %r should mention %s" % (url, text, words))
        return text
    check(False, "%s should fail" % url)


st, head = post("https://localhost:%d/api/public/push-solar-data" % good)
eq(st, 200, "verified TLS POST")
check(head.startswith(b'{"ok"'), head)
st, head = post("https://127.0.0.1:%d/api/public/push-solar-data" % good, key="k2")
eq(st, 200, "IP address in the certificate")

# a server whose certificate the CA did not sign / a name the certificate does not cover
print(fails("https://localhost:%d/x" % wrongcert, ("TLS", "cert", "signed")))
# another CA entirely
other = https_post.tls_context(open(sys.argv[8], "rb").read())
print(fails("https://localhost:%d/x" % good, ("TLS", "signed"), c=other))

# accepts and never answers: bounded by the timeout
print(fails("https://localhost:%d/x" % stall, ("no answer",), timeout_ms=1500))
# nobody listening
print(fails("https://localhost:%d/x" % refused, ("refused", "network error")))
# DNS failure
print(fails("https://nonexistent.invalid/x", ("DNS",)))
# not HTTP at all
print(fails("http://127.0.0.1:%d/x" % garbage, ("HTTP", "closed")))
# 5xx with a body: status and the first bytes, no exception
st, head = post("https://localhost:%d/x" % status)
eq(st, 503, "status returned")
check(head.startswith(b"busy"), head)
check(len(head) <= 200, "only a short part of the body is kept")

# https without a verifying context is refused outright
raises(ValueError, lambda: asyncio.run(https_post.post("https://localhost:1/", "x")))
# URL parsing
eq(https_post.parse_url("https://api.chargehq.net/api/public/push-solar-data"),
   ("https", "api.chargehq.net", 443, "/api/public/push-solar-data"), "url")
eq(https_post.parse_url("https://[::1]:8443/x"), ("https", "::1", 8443, "/x"), "ipv6 url")
raises(ValueError, https_post.parse_url, "ftp://x/")
# CA bundle parsing
eq(len(list(https_post.split_der(open("roots.der", "rb").read()))), 7, "shipped roots")
raises(ValueError, https_post.tls_context, b"-----BEGIN CERTIFICATE-----")
raises(ValueError, https_post.tls_context, b"")
done()
