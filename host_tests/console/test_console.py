"""The serial console, typed at through a pseudo-terminal: the whole firmware runs under
MicroPython in the simulator (`tools/sim.py --console`), its stdin/stdout on the pty's slave side
in raw mode (like the ESP32's USB serial line: no local echo, no line buffering). Every command
is exercised while the app keeps sampling and pushing to a local fake Charge HQ; the API key and
the typed secrets never appear in any output."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tty

from mp import ROOT, free_port

KEY = "test-key-SECRET-0123456789-WXYZ"
NEW_KEY = "new-key-HIDDEN-987654321-ABCD"
WIFI_PW = "wifi-pw-HIDDEN-4242"


class Terminal:
    """The person at the serial line: types, and waits for text to appear."""

    def __init__(self, cmd):
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.buf = bytearray()
        self.pos = 0  # expect() looks from here on
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.buf.extend(data)

    @property
    def text(self):
        return self.buf.decode(errors="replace")

    def expect(self, what, timeout=20):
        """Wait until `what` (text or compiled regex) shows after the last match; -> the output
        between the previous match and the end of this one."""
        end = time.monotonic() + timeout
        while True:
            text = self.text
            if isinstance(what, str):
                i = text.find(what, self.pos)
                m_end = i + len(what) if i >= 0 else -1
            else:
                m = what.search(text, self.pos)
                m_end = m.end() if m else -1
            if m_end >= 0:
                got, self.pos = text[self.pos:m_end], m_end
                return got
            assert time.monotonic() < end, "no %r on the console; output since:\n%s" % (
                what, text[self.pos:][-3000:])
            time.sleep(0.05)

    def wait_until(self, cond, what, timeout=20):
        end = time.monotonic() + timeout
        while not cond(self.text):
            assert time.monotonic() < end, "no %s; output:\n%s" % (what, self.text[-3000:])
            time.sleep(0.1)

    def type(self, line):
        for ch in line + "\r":  # a terminal sends CR for Enter
            os.write(self.master, ch.encode())
            time.sleep(0.002)

    def stop(self):
        """Ctrl-C to the simulator (the firmware checkpoints and stops), killed if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def run(self, line):
        """Type a command; -> everything printed until it finished (a marker command follows it:
        the console runs lines in order, so the marker's answer comes after the command's)."""
        self.marks = getattr(self, "marks", 0) + 1
        mark = "mark%d" % self.marks
        start = self.pos
        self.type(line)
        self.type(mark)
        self.expect("unknown command '%s'" % mark)
        return self.text[start:self.pos]


def test_console_commands_through_a_pty(tmp_path):
    state, chq = tmp_path / "dev", tmp_path / "chq"
    state.mkdir()
    # the simulated site runs 60x fast so the energy totals move within seconds
    (state / "config.json").write_text(json.dumps({
        "wifi": {"ssid": "HomeNet", "password": "sim-wifi-pass"}, "chargehq": {"api_key": KEY},
        "source": {"type": "simulated", "speed": 60, "start_hour": 10, "battery": False}}))
    term = Terminal([sys.executable, str(ROOT / "tools" / "sim.py"), "--console", "--state-dir",
                     str(state), "--chq-dir", str(chq), "--interval", "3600", "--quiet-server"])
    try:
        _session(term, state, chq)
    finally:
        term.stop()
    out = term.text
    for secret in (KEY, KEY[:-4], NEW_KEY, NEW_KEY[:-4], WIFI_PW):
        assert secret not in out, "a secret reached the console output: %s" % secret[:8]


def _session(term, state, chq):
    term.expect("console ready")
    term.expect("pushed (HTTP 200)")  # the first push, at boot

    # push: asked for at once, but the 30 s floor holds it back
    got = term.run("push")
    assert "push requested: in" in got and "(never within 30 s of the last push)" in got, got

    got = term.run("help")
    for name in ("status", "watch", "log", "push", "config", "set", "wifi", "calibrate",
                 "energy", "portal", "reboot", "repl", "help"):
        assert re.search(r"^  %s\b" % name, got, re.M), (name, got)

    got = term.run("status")
    assert "meter      simulated: ok" in got, got
    assert re.search(r"readings   solar \d+\.\d{3} grid", got), got
    assert "check      ok" in got, got
    assert re.search(r"last push  \d+ s ago.*: HTTP 200", got), got
    assert re.search(r"pushes     1 with data, 0 error reports, 0 failed; next in \d+ s", got), got
    assert "wifi       HomeNet, IP" in got, got
    assert re.search(r"energy     today import (\d+\.\d{3}|-) export (\d+\.\d{3}|-) kWh; lifetime "
                     r"import \d+\.\d{3} export \d+\.\d{3} kWh", got), got
    assert re.search(r"store      totals restored from \S+; \d+ flash writes, 0 errors", got), got
    assert re.search(r"device     up 0:00:\d\d, free heap \d+ KB, reset cause power-on", got), got

    # watch: a line a second until Enter
    term.type("watch")
    term.expect("live readings (Enter stops):")
    for _ in range(2):
        term.expect(re.compile(r"\n\[\d+:\d\d:\d\d\] solar \d+\.\d{3} grid"))
    term.type("")
    watch_end = len(term.buf)

    got = term.run("log")
    assert "I boot: power-on" in got and "I pushed (HTTP 200)" in got, got
    got = term.run("log 2")
    entries = [ln for ln in got.splitlines()
               if re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+|up \d+:\d\d:\d\d) [IWE] ", ln)]
    assert len(entries) == 2, got

    got = term.run("config")
    assert 'chargehq.api_key = "(set, hidden)"' in got and "WXYZ" not in got, got
    assert "chargehq.push_interval_s = 3600" in got and 'wifi.ssid = "HomeNet"' in got, got

    # set: checked against the schema; refused values leave the file alone
    for line, why in (("set chargehq.push_interval_s 10", "must be at least 30 (got 10)"),
                      ("set chargehq.push_interval_s soon", "must be a whole number"),
                      ("set nosuch.key 1", "unknown setting nosuch.key"),
                      ("set chargehq.api_key \"\"", "the device would need set-up"),
                      ("set device.report_s", "usage: set SECTION.KEY VALUE"),
                      ("wifi", "usage: wifi SSID [PASSWORD]")):
        got = term.run(line)
        assert why in got, (line, got)
    assert json.loads((state / "config.json").read_text())["chargehq"]["push_interval_s"] == 3600
    assert "reboot to apply" in term.run("set chargehq.push_interval_s 45")
    assert "applied now" in term.run("set validation.tolerance_w 150")
    got = term.run("set chargehq.api_key " + NEW_KEY)
    assert "reboot to apply" in got and "*" * len(NEW_KEY) in got, got  # echoed as stars
    got = term.run('wifi "Home Net 2" ' + WIFI_PW)
    assert "joins Home Net 2 after `reboot`" in got and "*" * len(WIFI_PW) in got, got
    saved = json.loads((state / "config.json").read_text())
    assert saved["chargehq"]["push_interval_s"] == 45 and saved["chargehq"]["api_key"] == NEW_KEY
    assert saved["validation"]["tolerance_w"] == 150
    assert saved["wifi"] == {"ssid": "Home Net 2", "password": WIFI_PW}, saved["wifi"]
    got = term.run("config")
    assert 'chargehq.api_key = "(set, hidden)"' in got and "ABCD" not in got, got
    assert "(changed since boot: reboot to apply)" in got, got

    got = term.run("calibrate")
    assert "calibration is for the ATM90E32 (CT clamp) source; this device reads simulated" in got

    # energy: totals, and a reset only after "yes"
    def lifetime(text):
        return [int(v.replace(".", "")) for v in re.findall(r"lifetime (\d+\.\d{3}) kWh", text)]
    before = lifetime(term.run("energy"))
    assert len(before) == 2 and sum(before) > 0, before
    term.type("energy reset")
    term.expect("Type yes to confirm:")
    assert "cancelled" in term.run("no")
    assert sum(lifetime(term.run("energy"))) >= sum(before)
    term.type("energy reset")
    term.expect("Type yes to confirm:")
    assert "energy totals reset to 0" in term.run("yes")
    after = lifetime(term.run("energy"))
    assert len(after) == 2 and sum(after) < sum(before), (before, after)

    got = term.run("portal")
    assert "set-up portal opening" in got or "the set-up portal is not part of this build" in got, got
    assert "unknown command 'frobnicate': type help for the list" in term.run("frobnicate now")

    # the push asked for at the start arrives once the 30 s floor allows (not after 3600 s)
    assert "push now: waiting" in term.text
    pushed = re.compile(r"\[\d+:\d\d:\d\d I\] pushed \(HTTP 200\)")  # the log's line, not `log`
    term.wait_until(lambda text: len(pushed.findall(text)) >= 2, "the second push", 45)
    pushes = [json.loads(ln) for ln in (chq / "pushes.jsonl").read_text().splitlines()]
    assert len(pushes) == 2 and pushes[1]["gap"] >= 29.9, pushes

    # watch printed nothing after Enter
    later = term.buf[watch_end:].decode(errors="replace")
    assert not re.search(r"\n\[\d+:\d\d:\d\d\] solar", later), later[:2000]

    # reboot: totals saved, the chip resets, the console comes back (with a 3 s watchdog from
    # now on: a saved setting applies after the reboot; the REPL below must outlive it)
    assert "reboot to apply" in term.run("set device.watchdog_s 3")
    term.type("reboot")
    term.expect("saving the totals and restarting")
    term.expect("[sim] chip reset (soft)")
    term.expect("boot: soft reset")
    term.expect("console ready")

    # repl: the app stops and the plain MicroPython REPL takes the line
    term.type("repl")
    term.expect("leaving the console")
    term.expect("the watchdog is fed by a timer while the REPL runs")
    term.expect("stopped (repl)")
    term.expect(">>> ")
    time.sleep(4.5)  # longer than the 3 s watchdog: a timer keeps feeding it
    term.type("print(6 * 7)")
    term.expect("\n42")
    assert "watchdog timeout" not in term.text and "chip reset (wdt)" not in term.text


def test_set_up_console_loads_at_the_first_key(tmp_path):
    """A device that needs set-up: the console costs no heap until someone types (the portal needs
    it); the first key brings it up, that key included, and it provisions the device."""
    import socket
    state, chq = tmp_path / "dev", tmp_path / "chq"
    term = Terminal([sys.executable, str(ROOT / "tools" / "sim.py"), "--portal", "--console",
                     "--state-dir", str(state), "--chq-dir", str(chq), "--quiet-server",
                     "--http-port", str(free_port()), "--dns-port", str(free_port(socket.SOCK_DGRAM))])
    try:
        term.expect("needs set-up")
        term.expect("press Enter for the set-up console")
        time.sleep(0.5)
        assert "console ready" not in term.text  # not loaded while nobody types
        term.type("help")  # the first key loads it; the line typed meanwhile is not lost
        term.expect("console ready: type help (set-up mode)")
        got = term.expect("reboot")  # help's list
        assert "wifi" in got, got
        got = term.run("wifi HomeNet " + WIFI_PW)
        assert WIFI_PW not in got, got
        got = term.run("set chargehq.api_key " + KEY)
        assert KEY not in got, got
        got = term.run("config")
        assert "HomeNet" in got and KEY not in got, got
        saved = json.loads((state / "config.json").read_text())
        assert saved["wifi"]["ssid"] == "HomeNet" and saved["chargehq"]["api_key"] == KEY
    finally:
        term.stop()
    assert KEY not in term.text and WIFI_PW not in term.text
