"""The network side of set-up in the whole firmware (simulator, MicroPython): `--portal` brings up
the set-up network with its DNS catch-all (probed by dnspython) and web portal; a router outage in
the middle of a run (the stand-in's .wifi state file) is noticed, retried and heals by itself."""
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import dns.message
import dns.query
import dns.rdatatype

from mp import ROOT

SIM = [sys.executable, str(ROOT / "tools" / "sim.py")]


def _free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Sim:
    """The simulator as a child process whose output lines can be waited for."""

    def __init__(self, args):
        self.proc = subprocess.Popen(SIM + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines = []
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, text, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no %r in the output:\n%s" % (text, "".join(self.lines[-60:]))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, "simulator ended before %r:\n%s" % (text, "".join(self.lines[-60:]))
            if text in line:
                return line

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 2)  # Ctrl-C: the simulator stops the device cleanly
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        return "".join(self.lines)


def test_portal_mode_brings_up_dns_and_web(tmp_path):
    http, dnsp = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_DGRAM)
    sim = Sim(["--portal", "--fresh", "--state-dir", str(tmp_path / "dev"), "--http-port", str(http),
               "--dns-port", str(dnsp), "--quiet-server"])
    try:
        line = sim.wait_for("WPA2 password: ")
        assert '"ChargeHQ-Meter-123456"' in line  # the name carries the chip's suffix
        sim.wait_for("set-up portal on http://127.0.0.1:%d/" % http)
        for name in ("connectivitycheck.gstatic.com", "captive.apple.com", "www.msftconnecttest.com"):
            for edns in (-1, 0):
                q = dns.message.make_query(name, "A", use_edns=edns)
                r = dns.query.udp(q, "127.0.0.1", port=dnsp, timeout=5)
                got = [rd.address for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A]
                assert got == ["127.0.0.1"], (name, edns, r)
        r = dns.query.udp(dns.message.make_query("example.com", "AAAA"), "127.0.0.1", port=dnsp, timeout=5)
        assert r.answer == []
        # the name a phone looks up leads to the portal: the probe URL redirects to the set-up page
        page = urllib.request.urlopen("http://127.0.0.1:%d/generate_204" % http, timeout=10)
        assert page.status == 200 and page.url == "http://127.0.0.1:%d/" % http
        assert "ssid" in page.read().decode()
    finally:
        out = sim.stop()
    assert "needs set-up" in out and "Traceback" not in out, out


def test_router_outage_heals_by_itself(tmp_path):
    state = tmp_path / "dev"
    sim = Sim(["--fresh", "--state-dir", str(state), "--quiet-server",
               "--http-port", str(_free_port(socket.SOCK_STREAM)), "--dns-port", str(_free_port(socket.SOCK_DGRAM))])
    try:
        sim.wait_for("Wi-Fi connected to HomeNet")
        (state / ".wifi").write_text("down")  # the router goes off
        sim.wait_for("Wi-Fi connection to HomeNet lost (signal lost)")
        sim.wait_for("cannot join HomeNet: network not found; retry in")
        (state / ".wifi").write_text("ok")  # ... and comes back
        line = sim.wait_for("Wi-Fi connected to HomeNet")
        assert "without)" in line  # how long it was away
    finally:
        out = sim.stop()
    assert "Traceback" not in out and "fatal" not in out, out
