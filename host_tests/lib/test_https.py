"""lib/https_post.py under MicroPython against real local HTTPS servers: verified TLS, wrong CA,
stalls, refusals, DNS failure, garbage, 5xx."""
import http.server
import os
import shutil
import socket
import ssl
import sys
import threading

import pytest
import trustme

from mp import ROOT, check_mp

sys.path.insert(0, str(ROOT / "tools"))
import fake_chargehq  # noqa: E402


def _listen():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    return s


def _serve(sock, handler):
    def loop():
        while True:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


@pytest.fixture
def servers(tmp_path):
    good, url, ca_der = fake_chargehq.serve(str(tmp_path / "chq"), 0)
    socks = []
    # a server presenting a certificate from a CA the device does not trust
    rogue = trustme.CA(key_type=trustme.KeyType.RSA)
    rogue_cert = rogue.issue_cert("localhost")
    rogue_pem = tmp_path / "rogue.pem"
    rogue_cert.private_key_and_cert_chain_pem.write_to_path(str(rogue_pem))
    rctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    rctx.load_cert_chain(str(rogue_pem))
    wrong = _listen()
    socks.append(wrong)

    def tls_then_close(c):
        try:
            rctx.wrap_socket(c, server_side=True).close()
        except Exception:
            c.close()
    _serve(wrong, tls_then_close)
    stall = _listen()
    socks.append(stall)
    held = []
    _serve(stall, held.append)  # accept, never answer
    refused = _listen()
    refused_port = refused.getsockname()[1]
    refused.close()
    garbage = _listen()
    socks.append(garbage)

    def junk(c):
        c.recv(1000)
        c.sendall(b"\x00\xffSSH-2.0 hello\r\n")
        c.close()
    _serve(garbage, junk)
    # a 503 over verified TLS: the fake server in "status 503" mode
    gctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    gctx.load_cert_chain(str(tmp_path / "chq" / "server.pem"))
    status = _listen()
    socks.append(status)

    def five03(c):
        try:
            t = gctx.wrap_socket(c, server_side=True)
            t.recv(4096)
            body = b"busy " + b"x" * 500
            t.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            t.close()
        except Exception:
            c.close()
    _serve(status, five03)
    other_der = tmp_path / "other.der"
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    other_der.write_bytes(x509.load_pem_x509_certificate(rogue.cert_pem.bytes()).public_bytes(Encoding.DER))
    shutil.copy(ROOT / "firmware" / "ca" / "roots.der", tmp_path / "roots.der")
    ports = [good.server_address[1], wrong.getsockname()[1], stall.getsockname()[1], refused_port,
             garbage.getsockname()[1], status.getsockname()[1]]
    yield tmp_path, ca_der, ports, str(other_der)
    good.shutdown()
    for s in socks:
        s.close()
    for c in held:
        c.close()


def test_https_post_under_micropython(servers):
    tmp_path, ca_der, ports, other = servers
    out = check_mp("fx_https_post.py", ca_der, *ports, other, state_dir=tmp_path, heap=256 * 1024)
    assert "no answer" in out
    # what the fake Charge HQ recorded of the two good requests
    log = (tmp_path / "chq" / "pushes.jsonl").read_text().splitlines()
    assert len(log) == 2 and all('"status": 200' in line for line in log)
