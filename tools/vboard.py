#!/usr/bin/env python3
"""A virtual board: the MicroPython unix port's REPL behind a serial-like pseudo-terminal.

mpremote talks to it as it talks to an ESP32 on /dev/ttyUSB0 (raw REPL, file transfer, exec), and
a folder plays the board's filesystem. Used to test `make deploy` without hardware:

    tools/vboard.py [--dir state/vboard] [--link state/vboard.tty] [--esp32-stand-ins]
                    [--micropython 32|32-frozen|PATH --heap 114688]
    make deploy PORT=state/vboard.tty

--esp32-stand-ins puts host_tests/stubs on the path (machine, network, time, ... as on the ESP32,
device state kept in the board's folder), so machine.WDT and machine.reset() behave like the
chip's: a reset ends the interpreter and the bridge starts it again, as the chip reboots.

It prints `VBOARD <port> <folder>` once ready and runs until Ctrl-C / SIGTERM. No system package is
needed: Python's pty module bridges two pseudo-terminals (one for mpremote, one that is the REPL's
terminal), as `socat pty,link=... exec:"micropython -i",pty,raw,echo=0` would.

Differences from a board (they are the unix port's): no soft reset (Ctrl-D in the raw REPL only
drops back to the normal REPL, so plain `mpremote connect PORT ...` fails with "could not enter raw
repl": connect with mpremote's `resume`, which skips the reset), no machine.reset(), and sys.platform
is "linux", which is how tools/deploy.py tells them apart. If the interpreter ends (sys.exit()),
the bridge starts a fresh one, like a reboot.
"""
import argparse
import errno
import os
import pathlib
import select
import signal
import subprocess
import sys
import tty

ROOT = pathlib.Path(__file__).resolve().parent.parent
MICROPYTHON = str(ROOT / ".venv" / "bin" / "micropython")
HEAP = 512 * 1024  # as a PSRAM board: the app as .mpy files fits (--micropython 32 --heap 114688: a plain ESP32)


class VBoard:
    def __init__(self, folder, link=None, heap=HEAP, stand_ins=False, micropython=None):
        self.stand_ins = stand_ins
        self.micropython = micropython or MICROPYTHON
        self.folder = pathlib.Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.heap = heap
        # host side: mpremote opens the slave by path; we keep the slave open too so the master
        # never reads EIO between two mpremote runs
        self.host_master, self.host_slave = os.openpty()
        tty.setraw(self.host_slave)
        self.port = os.ttyname(self.host_slave)
        self.link = None
        if link:
            self.link = pathlib.Path(link).absolute()
            self.link.parent.mkdir(parents=True, exist_ok=True)
            if self.link.is_symlink() or self.link.exists():
                self.link.unlink()
            self.link.symlink_to(self.port)
        os.set_blocking(self.host_master, False)
        self.proc = None
        self.repl_master = None
        self.boots = 0
        self._start_interpreter()

    def _start_interpreter(self):
        if self.repl_master is not None:
            os.close(self.repl_master)
        master, slave = os.openpty()
        tty.setraw(slave)  # a UART: no echo, no \n -> \r\n translation (mpremote wants exact bytes)
        env = dict(os.environ)
        env["MICROPYPATH"] = ":.frozen:lib"  # the ESP32's sys.path: '', '.frozen', '/lib'
        if self.stand_ins:
            env["MICROPYPATH"] += ":" + str(ROOT / "host_tests" / "stubs")
            env["ESPSIM_STATE"] = str(self.folder)
            why = self.folder / ".reset_reason"  # written by the stand-ins' machine.reset()/WDT
            env["ESPSIM_RESET_CAUSE"] = why.read_text().strip() if self.boots and why.exists() else "power"
        self.proc = subprocess.Popen([self.micropython, "-X", "heapsize=%d" % self.heap, "-i"],
                                     stdin=slave, stdout=slave, stderr=slave, cwd=str(self.folder),
                                     env=env, start_new_session=True)
        os.close(slave)
        self.repl_master = master
        self.boots += 1

    def pump(self, timeout=0.5):
        """Move bytes both ways for up to `timeout` seconds; restart the interpreter if it ended."""
        try:
            r, _, _ = select.select([self.host_master, self.repl_master], [], [], timeout)
        except InterruptedError:
            return
        if self.host_master in r:
            data = self._read(self.host_master)
            if data:
                os.write(self.repl_master, data)
        if self.repl_master in r:
            data = self._read(self.repl_master)
            if data is None:  # the REPL's terminal closed: the interpreter ended
                self.proc.wait()
                self._start_interpreter()
            elif data:
                try:
                    os.write(self.host_master, data)
                except BlockingIOError:
                    pass  # nobody connected and the buffer is full: drop, as a UART would
        elif self.proc.poll() is not None:
            self._start_interpreter()

    @staticmethod
    def _read(fd):
        try:
            return os.read(fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno == errno.EIO:
                return None
            raise

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for fd in (self.repl_master, self.host_master, self.host_slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link and self.link.is_symlink():
            self.link.unlink()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=str(ROOT / "state" / "vboard"), help="folder playing the board's filesystem")
    ap.add_argument("--link", default=str(ROOT / "state" / "vboard.tty"), help="symlink to the serial port")
    ap.add_argument("--heap", type=int, default=HEAP)
    ap.add_argument("--esp32-stand-ins", action="store_true",
                    help="host_tests/stubs on the path: machine.WDT / machine.reset() act as on the chip")
    ap.add_argument("--micropython", metavar="PATH",
                    help="the interpreter: a binary, or 64 (default), 32, 32-frozen (tools/unix32.py: "
                         "the ESP32's heap shape; run with --heap 114688 it is a plain ESP32)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tools"))
    import unix32
    board = VBoard(args.dir, args.link, args.heap, args.esp32_stand_ins, unix32.interpreter(args.micropython))
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    print("VBOARD %s %s" % (args.link or board.port, board.folder), flush=True)
    print("virtual board ready: make deploy PORT=%s   (mpremote connect %s resume ...)"
          % (args.link or board.port, args.link or board.port), file=sys.stderr, flush=True)
    try:
        while not stop:
            board.pump()
    except KeyboardInterrupt:
        pass
    finally:
        board.close()


if __name__ == "__main__":
    main()
