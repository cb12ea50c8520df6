"""lib/mqtt_client.py under MicroPython against a real mosquitto (watched with paho-mqtt) and
misbehaving brokers (tools/bad_broker.py)."""
import sys

import pytest

from mp import ROOT, check_mp, free_port
from mqtt_fx import Watcher

sys.path.insert(0, str(ROOT / "tools"))
import mosquitto_broker  # noqa: E402
from bad_broker import BadBroker  # noqa: E402


@pytest.fixture
def tls_broker(tmp_path):
    """mosquitto with a TLS listener whose certificate (for "localhost") a throw-away CA signed;
    -> (broker, that CA as DER, another CA as DER)."""
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    ca, other = trustme.CA(key_type=trustme.KeyType.RSA), trustme.CA(key_type=trustme.KeyType.RSA)
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    der = [x509.load_pem_x509_certificate(c.cert_pem.bytes()).public_bytes(Encoding.DER) for c in (ca, other)]
    (tmp_path / "ca.der").write_bytes(der[0])
    (tmp_path / "other.der").write_bytes(der[1])
    b = mosquitto_broker.Broker(tls=(tmp_path / "cert.pem", tmp_path / "key.pem")).start()
    yield b, tmp_path / "ca.der", tmp_path / "other.der"
    b.stop()


def test_mqtt_client_verified_tls(tls_broker, tmp_path):
    b, ca, other = tls_broker
    out = check_mp("fx_mqtt_tls.py", b.port, ca, other, state_dir=tmp_path, timeout=60)
    assert "TLS ok" in out


@pytest.fixture
def brokers():
    plain = mosquitto_broker.Broker().start()
    try:
        auth = mosquitto_broker.Broker(users={"meter": "s3cret"}).start()
    except Exception:
        plain.stop()
        raise
    bad = {m: BadBroker(m).start() for m in ("silent", "close", "http", "refuse_auth", "oversize",
                                              "malformed", "junk_type", "drop_later", "no_pingresp")}
    yield plain, auth, bad
    plain.stop()
    auth.stop()
    for b in bad.values():
        b.stop()


def test_mqtt_client_under_micropython(brokers, tmp_path):
    plain, auth, bad = brokers
    w = Watcher(plain.port, "mptest/#")
    wa = Watcher(auth.port, "mptest/#", auth=("meter", "s3cret"))
    try:
        args = [plain.port, auth.port, free_port()] + ["%s=%d" % (k, b.port) for k, b in bad.items()]
        out = check_mp("fx_mqtt_client.py", *args, state_dir=tmp_path, timeout=120)
        assert "MARK published" in out
        assert w.wait_for(lambda: (b"offline", False) in w.on("mptest/dev1/status")), w.msgs
        status = w.on("mptest/dev1/status")
        assert status[0] == (b"online", False)  # live delivery (retain flag cleared for live subscribers)
        assert status[-1] == (b"offline", False), "the will, sent by the broker when the device vanished"
        assert w.on("mptest/dev1/state") == [(b'{"net_import_kw": -1.234}', False), (b'{"after": "keepalive"}', False)]
        assert w.on("mptest/dev1/big") == [(b"x" * 3000, False)]
        assert wa.on("mptest/auth") == [(b"ok", False)]
        # retained: a client that connects later gets "offline" (the will was retained)
        late = Watcher(plain.port, "mptest/dev1/status")
        assert late.wait_for(lambda: late.on("mptest/dev1/status"))
        assert late.on("mptest/dev1/status") == [(b"offline", True)]
        late.stop()
    finally:
        w.stop()
        wa.stop()
