# Dropping a module that was loaded for one job (a boot-time file read, a time-zone parse, a console
# command, a web form), so the garbage collector can take its RAM back; the next use loads it again.
import sys


def forget(name):
    """Forget module `name` ("app.core.tzrules"): out of sys.modules and out of its package,
    both of which keep it alive."""
    sys.modules.pop(name, None)
    pkg, _, leaf = name.rpartition(".")
    parent = sys.modules.get(pkg)
    if parent is not None:
        try:
            delattr(parent, leaf)
        except Exception:  # not there (MicroPython raises KeyError, CPython AttributeError)
            pass
