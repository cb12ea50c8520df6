"""Fault part `dns`: random and mutated datagrams at the captive portal's DNS catch-all
(host_tests/mp/fx_dns.py under MicroPython); good queries must still be answered in between."""
import random
import re
import socket
import subprocess

from fault_parts import common
from fault_parts.common import ROOT, STUBS, Result, mp_env


def run(tmp, n, seed):
    r = Result("dns", "random and mutated datagrams at the captive portal's DNS catch-all")
    import dns.message
    import dns.query
    dev = tmp / "dns-dev"
    dev.mkdir()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([common.MICROPYTHON, str(STUBS / "espsim_run.py"),
                             str(ROOT / "host_tests" / "mp" / "fx_dns.py"), str(port), "192.168.4.1"],
                            cwd=dev, env=mp_env(dev),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "DNS-READY" not in line:
        proc.kill()
        r.fail("DNS server did not start: %s %s" % (line, proc.communicate()))
        return r
    rng = random.Random(seed)
    good = dns.message.make_query("example.com", "A").to_wire()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    answered_probe = 0
    for i in range(n):
        if i % 4 == 0:
            d = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 600)))
        else:
            b = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            d = bytes(b[:rng.randrange(len(b) + 1)]) if rng.random() < 0.3 else bytes(b)
        sock.sendto(d, ("127.0.0.1", port))
        if i % 200 == 199:  # drain replies; the server must still answer a good query
            sock.settimeout(0)
            try:
                while True:
                    sock.recv(4096)
            except (BlockingIOError, OSError):
                pass
            q = dns.message.make_query("probe%d.example" % i, "A")
            try:
                resp = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
                if resp.answer:
                    answered_probe += 1
            except Exception as e:
                r.fail("no answer to a good query after %d datagrams: %s" % (i + 1, e))
                break
            sock.settimeout(2)
    (dev / "stop").write_text("")
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    r.faults = n
    if proc.returncode != 0 or "MPTEST-DONE" not in out:
        r.unhandled = 1
        r.fail("DNS server died: exit %s %s" % (proc.returncode, (out + err)[-500:]))
    stats = re.search(r"DNS-STATS (.*)", out)
    r.detail = "%d good probes answered in between; server counters: %s" % (
        answered_probe, stats.group(1) if stats else "?")
    return r
