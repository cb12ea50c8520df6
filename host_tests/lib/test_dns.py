"""lib/dns_catchall.py under MicroPython, probed by a real DNS client (dnspython) over UDP on
127.0.0.1: A for any name, AAAA and other types empty, EDNS0 (with options, DNSSEC OK bit,
unknown version), refused classes, then a few thousand random and mutated datagrams after
which it still answers - and every reply it sent in between parses as a DNS message."""
import random
import socket
import subprocess
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest

from mp import MICROPYTHON, STUBS, MP_TESTS, mp_env, assert_mp_passed

AP_IP = "192.168.4.1"
NAMES = ["example.com", "connectivitycheck.gstatic.com", "captive.apple.com", "www.msftconnecttest.com",
         "detectportal.firefox.com", "nmcheck.gnome.org", "MiXeD.CaSe.Example.ORG", "portal",
         ("a" * 63 + ".") * 3 + "b" * 61]  # 253 characters: the longest name there is


def _free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def server(tmp_path):
    port = _free_udp_port()
    cmd = [MICROPYTHON, str(STUBS / "espsim_run.py"), str(MP_TESTS / "fx_dns.py"), str(port), AP_IP]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=mp_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "DNS-READY" not in line:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("DNS server did not start: %r %s %s" % (line, out, err))
    box = {"port": port}
    yield box
    (tmp_path / "stop").write_text("")
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    res = subprocess.CompletedProcess(cmd, proc.returncode, line + out, err)
    assert_mp_passed(res, "fx_dns.py")
    box["stats"] = res.stdout


def ask(port, name, rdtype="A", **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    return q, dns.query.udp(q, "127.0.0.1", port=port, timeout=3)


def a_records(r):
    return [rd.address for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A]


def test_answers_like_a_captive_portal(server):
    port = server["port"]
    for name in NAMES:
        for edns in (-1, 0):
            q, r = ask(port, name, use_edns=edns, payload=1232)
            assert r.rcode() == dns.rcode.NOERROR, name
            assert a_records(r) == [AP_IP], name
            assert r.flags & dns.flags.AA and r.flags & dns.flags.QR
            assert r.question[0].name == q.question[0].name
            if edns == 0:
                assert r.edns == 0 and r.payload == 512  # our own OPT record (RFC 6891)
            else:
                assert r.edns == -1  # no OPT in the reply to a query without one
    # DNSSEC OK bit and options (client subnet, cookie): still a plain answer with OPT
    opts = [dns.edns.ECSOption("203.0.113.0", 24), dns.edns.GenericOption(dns.edns.COOKIE, b"12345678")]
    _, r = ask(port, "example.net", use_edns=0, want_dnssec=True, options=opts)
    assert r.rcode() == dns.rcode.NOERROR and a_records(r) == [AP_IP] and r.edns == 0
    # ANY gets the A record too
    _, r = ask(port, "any.example", "ANY")
    assert a_records(r) == [AP_IP]


def test_other_types_and_classes(server):
    port = server["port"]
    for t in ("AAAA", "MX", "TXT", "HTTPS", "SRV", "PTR"):
        _, r = ask(port, "example.com", t, use_edns=0)
        assert r.rcode() == dns.rcode.NOERROR and not r.answer, t  # "no such record", not an error
        assert r.edns == 0
    _, r = ask(port, "version.bind", "TXT", rdclass=dns.rdataclass.CH)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer
    # an EDNS version we do not speak: BADVERS, with an OPT record of version 0 (RFC 6891 6.1.3)
    _, r = ask(port, "example.com", use_edns=1)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.answer


def test_stub_resolver(server):
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = server["port"]
    res.lifetime = 5
    for name in ("clients3.google.com", "www.apple.com"):
        assert [rd.address for rd in res.resolve(name, "A")] == [AP_IP]
    with pytest.raises(dns.resolver.NoAnswer):
        res.resolve("www.apple.com", "AAAA")


def _mutate(rng, wire):
    b = bytearray(wire)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            del b[rng.randrange(len(b)):]
        elif op == 2:
            b[rng.randrange(len(b) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and len(b) > 12:
            b[4 + rng.randrange(8)] = rng.choice((0, 1, 2, 0xFF))  # counts that lie
    return bytes(b)


def test_garbage_then_still_answers(server):
    port = server["port"]
    rng = random.Random(6)
    seeds = [dns.message.make_query(n, t, use_edns=e).to_wire()
             for n in NAMES[:4] for t in ("A", "AAAA") for e in (-1, 0)]
    sent = 0
    replies = 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    probe_id = 0
    for batch in range(60):
        for k in range(50):
            if k % 2:
                d = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 11, 12, 13, 30, 100, 600))))
            else:
                d = _mutate(rng, rng.choice(seeds))
            s.sendto(d, ("127.0.0.1", port))
            sent += 1
        # a valid probe ends each batch: the server works in order, so its reply closes the batch
        probe = dns.message.make_query("probe%d.example" % batch, "A")
        probe_id = probe.id
        s.sendto(probe.to_wire(), ("127.0.0.1", port))
        sent += 1
        while True:
            data, _ = s.recvfrom(2048)
            replies += 1
            msg = dns.message.from_wire(data, question_only=False) if len(data) > 12 else None
            if data[:2] == probe_id.to_bytes(2, "big") and msg is not None and msg.question \
                    and str(msg.question[0].name) == "probe%d.example." % batch:
                assert a_records(msg) == [AP_IP]
                break
            # every other reply is a well-formed header at least (FORMERR replies are bare)
            assert len(data) >= 12 and data[2] & 0x80
            if len(data) > 12:
                assert msg is not None
    s.close()
    assert replies > 60
    q, r = ask(port, "after.the.storm", use_edns=0)
    assert a_records(r) == [AP_IP]
    server["sent"] = sent + 1
    server["replies"] = replies + 1


def test_garbage_counts(tmp_path):
    """The server saw every datagram: replied + ignored == sent (none lost, none crashed it)."""
    # (runs its own server so the counters cover exactly these datagrams)
    port = _free_udp_port()
    cmd = [MICROPYTHON, str(STUBS / "espsim_run.py"), str(MP_TESTS / "fx_dns.py"), str(port), AP_IP]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=mp_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert "DNS-READY" in proc.stdout.readline()
    rng = random.Random(7)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    n = 0
    for batch in range(10):
        for _ in range(40):
            s.sendto(bytes(rng.randrange(256) for _ in range(rng.randint(0, 80))), ("127.0.0.1", port))
            n += 1
        probe = dns.message.make_query("p%d.example" % batch, "A")
        s.sendto(probe.to_wire(), ("127.0.0.1", port))
        n += 1
        while True:
            data, _ = s.recvfrom(2048)
            if data[:2] == probe.id.to_bytes(2, "big") and len(data) > 12:
                m = dns.message.from_wire(data)
                if m.question and str(m.question[0].name) == "p%d.example." % batch:
                    break
    s.close()
    (tmp_path / "stop").write_text("")
    out, err = proc.communicate(timeout=20)
    res = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert_mp_passed(res, "fx_dns.py")
    import re
    m = re.search(r"DNS-STATS replied=(\d+) ignored=(\d+) answered=(\d+)", out)
    replied, ignored, answered = map(int, m.groups())
    assert replied + ignored == n, (replied, ignored, n)
    assert answered >= 10


def test_same_code_under_cpython():
    """One source for both interpreters: handle() gives CPython's dnspython the same answers."""
    import sys
    from mp import ROOT
    sys.path[:0] = [str(ROOT / "host_tests" / "cpython"), str(ROOT / "lib")]
    import dns_catchall
    d = dns_catchall.DnsCatchAll(AP_IP, 53)
    for name in NAMES:
        for t, edns in (("A", -1), ("A", 0), ("AAAA", 0)):
            q = dns.message.make_query(name, t, use_edns=edns)
            r = dns.message.from_wire(bytes(d.handle(q.to_wire())))
            assert r.id == q.id and r.rcode() == dns.rcode.NOERROR and r.edns == edns
            assert a_records(r) == ([AP_IP] if t == "A" else [])
    rng = random.Random(8)
    for _ in range(2000):
        d.handle(bytes(rng.randrange(256) for _ in range(rng.randint(0, 60))))  # never raises
    assert d.handle(b"\x00" * 5) is None
