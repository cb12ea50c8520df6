# A tiny assertion helper for test scripts that run under MicroPython (host only).
# Each check prints nothing when it passes; the script ends with done(), which prints the
# count that pytest reads ("MPTEST-DONE <n>"). A failed check raises at once.
import sys

_count = 0


class CheckFailed(Exception):
    pass


def check(cond, what=""):
    global _count
    _count += 1
    if not cond:
        raise CheckFailed("check failed: " + str(what))


def eq(got, want, what=""):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


def near(got, want, tol, what=""):
    check(got is not None and abs(got - want) <= tol,
          "%s: got %r, want %r +- %r" % (what, got, want, tol))


def raises(exc, fn, *args, **kw):
    global _count
    _count += 1
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise CheckFailed("%s did not raise %s" % (getattr(fn, "__name__", fn), exc.__name__))


def done():
    print("MPTEST-DONE", _count)
    sys.stdout.flush() if hasattr(sys.stdout, "flush") else None


class ListLog:
    """Stands in for app.log.Log in tests: keeps every message in .lines."""

    def __init__(self):
        self.lines = []
        self.secrets = []

    def info(self, msg):
        self.lines.append(msg)

    warn = error = info


class MemRTC:
    """Stands in for machine.RTC() in tests: memory() kept in RAM."""

    def __init__(self):
        self.data = b""

    def memory(self, data=None):
        if data is None:
            return self.data
        self.data = bytes(data)
