import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from mp import MICROPYTHON, STATS  # noqa: E402


def pytest_sessionstart(session):
    if not os.path.exists(MICROPYTHON):
        raise RuntimeError("MicroPython not found at %s: run `make setup`" % MICROPYTHON)


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        "MicroPython unix port: %d checks in %d scripts ran on MicroPython"
        % (STATS["checks"], STATS["scripts"]))
