"""One simulated ESP32 (tools/sim.py): the firmware's interpreter started with the stand-ins on
its path, restarted on a chip reset with RTC memory kept, powered on again after a power cut;
its output on this terminal or captured line by line for the tools that drive it."""
import os
import pathlib
import signal
import subprocess
import threading
import time

import unix32

ROOT = pathlib.Path(__file__).resolve().parent.parent


def microdot_path():
    """Microdot compiled to .mpy (as deployed): the web server imports it from there."""
    import build_microdot
    return str(build_microdot.ensure())


def _die_with_parent():
    # SIGKILL of the simulator is a power cut of the device too (Linux PR_SET_PDEATHSIG)
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


class Device:
    """One ESP32: restarts the interpreter when the firmware resets the chip.

    capture=True: what the firmware prints (stdout and stderr) is read into self.lines as
    (time.time(), text) instead of going to this terminal, for tools that drive the device
    start by start and read its log (bench.py, faults.py; see sim.new_device)."""

    def __init__(self, a, fs, env_extra, capture=False, serial=False):
        self.a = a
        self.serial = serial  # capture: a serial line to type on (type()); else nothing to read
        self.fs = fs
        self.env_extra = env_extra
        self.capture = capture
        self.cfg = None
        self.proc = None
        self.stopping = False
        self.lines = []  # capture: (time, text) of every line printed, all starts
        self.boots = []  # (time, reset cause) of every start
        self.micropython = unix32.interpreter(a.micropython)
        self.on_stop = None  # capture: called once the device has stopped (its chip's process)
        self.image = None
        if a.mpy:  # compiled once per device, beside its filesystem
            import build
            self.image = pathlib.Path(str(fs).rstrip("/") + ".image")
            build.build(self.image, quiet=True)

    def env(self, cause):
        env = dict(os.environ)
        if self.image:  # --mpy: the board's layout (app/, lib/ with Microdot, all .mpy)
            code = [str(self.image), str(self.image / "lib")]
        else:
            code = [str(ROOT / "firmware"), str(ROOT / "lib"), microdot_path()]
        env["MICROPYPATH"] = ":".join([".frozen", str(ROOT / "host_tests" / "stubs")] + code)
        env["ESPSIM_STATE"] = str(self.fs)
        env["ESPSIM_RESET_CAUSE"] = cause
        if self.a.ticks_start is not None:
            env["ESPSIM_TICKS_START"] = str(self.a.ticks_start)
        if self.a.no_ntp:
            env["ESPSIM_NTP"] = "0"
        env.update(self.env_extra)
        return env

    def start(self, cause):
        """Power the interpreter up with this reset cause -> the time it started."""
        cmd = [self.micropython]
        if self.a.heap:
            cmd += ["-X", "heapsize=%d" % self.a.heap]
        if self.a.console:
            cmd.append("-i")  # the console's `repl` command leaves to a REPL, as on the chip
        cmd += [str(ROOT / "tools" / "espsim_boot.py"), str(self.image or ROOT / "firmware")]
        if self.capture:  # (no preexec_fn: the tools start devices from several threads)
            self.proc = subprocess.Popen(cmd, cwd=self.fs, env=self.env(cause), stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.PIPE if self.serial else subprocess.DEVNULL,
                                         text=True, errors="replace", start_new_session=True)
        else:
            # the serial line: this terminal with --console, else nothing to read (the console quits)
            self.proc = subprocess.Popen(cmd, cwd=self.fs, env=self.env(cause),
                                         stdin=None if self.a.console else subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        t0 = time.time()
        self.boots.append((t0, cause))
        if self.capture:
            threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return t0

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def type(self, text):
        """capture with serial=True: type text on the device's serial line."""
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, reset_reason=None):
        """SIGKILL: a power cut, or a chip reset when reset_reason (soft/wdt) is left behind
        (what _espsim.die leaves: run() restarts with RTC memory kept)."""
        if reset_reason:
            (self.fs / ".reset_reason").write_text(reset_reason)
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def run(self, first_cause):
        cause = first_cause
        while True:
            print("[sim] device start (%s)" % cause, flush=True)
            self.start(cause)
            rc = self.proc.wait()
            if self.stopping:
                return 0
            marker = self.fs / ".reset_reason"
            if marker.exists():
                cause = marker.read_text().strip()
                marker.unlink()
                print("[sim] chip reset (%s): restarting with RTC memory kept" % cause, flush=True)
                continue
            if rc == -signal.SIGKILL:  # only the device was killed: a power cut, then power on
                cause = "power"
                print("[sim] power cut: powering on again (RTC memory lost)", flush=True)
                continue
            print("[sim] firmware exited (code %s)" % rc, flush=True)
            return 0 if rc == 0 else 1

    def stop(self, wait_s=None):
        self.stopping = True
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C: the firmware checkpoints and stops
            if wait_s is None:
                wait_s = 2 if self.a.console else 5  # with -i it waits at the REPL
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                if self.capture:  # (in run() the main thread is waiting for it)
                    self.proc.wait()
        if self.capture and self.on_stop:
            self.on_stop()
            self.on_stop = None
