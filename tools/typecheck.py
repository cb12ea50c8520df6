#!/usr/bin/env python3
"""Static check of firmware/ and lib/ against the ESP32's MicroPython API (mypy + micropython stubs).

    tools/typecheck.py            # prints mypy's findings, exit 1 when there is any

The pinned micropython-esp32-stubs describe the board's modules (machine, network, esp32, time, ...)
and micropython-stdlib-stubs its cut-down standard library (used as mypy's typeshed), so a wrong
keyword to WLAN.config(), a UART method the ESP32 does not have or a CPython-only os call is an error
here before it meets a board. The stubs are installed as loose .pyi files in site-packages, where mypy
does not look for untyped top-level modules, so they are linked into build/typings first.
Settings: mypy.ini.

Two kinds of findings are left out, and listed as such: an import inside `try:` with an
`except ImportError:` (the code handles its absence on the board), and the body of such a handler
when the imports it stands in for all exist on the ESP32 (a CPython fallback: it never runs on the
board). Also left out: `"X" has no attribute "a"` for a project class X when `.a` is assigned
somewhere in that file (records filled from outside their methods: mypy cannot follow, a typo that
is never assigned still counts). Arithmetic on ticks_ms()/ticks_us() values
(wrong once the counter wraps: use ticks_diff) is an error; other [operator] findings, which come
from types mypy guesses for unannotated code, are left out. The stubs type WLAN.config(**kwargs) loosely, so its keywords are checked here against the
ones the ESP32 port accepts.
"""
import ast
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TYPINGS = ROOT / "build" / "typings"
DISTS = ("micropython_esp32_stubs", "micropython_stdlib_stubs")


def site_packages():
    for p in sorted((ROOT / ".venv" / "lib").glob("python3*/site-packages")):
        return p
    raise SystemExit("no .venv: run `make setup`")


def link_stubs():
    """build/typings/<top-level name> -> the stub files of the pinned stub distributions."""
    sp = site_packages()
    tops = set()
    for dist in DISTS:
        records = list(sp.glob(dist + "-*.dist-info/RECORD"))
        if not records:
            raise SystemExit("%s is not installed: run `make setup` (requirements.txt pins it)" % dist)
        for line in records[0].read_text().splitlines():
            top = line.split(",")[0].split("/")[0]
            if top.endswith(".dist-info") or top in ("stdlib", "stubs") or not (
                    top.endswith(".pyi") or (sp / top).is_dir()):
                continue
            tops.add(top)
    TYPINGS.mkdir(parents=True, exist_ok=True)
    for top in sorted(tops):
        link = TYPINGS / top
        if not os.path.lexists(link):
            try:
                link.symlink_to(sp / top)
            except FileExistsError:
                pass  # a concurrent run made it
    return TYPINGS


_LINE = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+): (?P<kind>error|note): (?P<msg>.*)$")


def parse_mypy(out):
    """-> [{"path", "line", "msg", "notes": [...]}] (notes follow the error they belong to)."""
    found = []
    for text in out.splitlines():
        m = _LINE.match(text)
        if not m:
            continue
        if m["kind"] == "error":
            found.append({"path": m["path"], "line": int(m["line"]), "msg": m["msg"], "notes": []})
        elif found:
            found[-1]["notes"].append(m["msg"])
    return found


def _catches_import_error(handler):
    names = []
    t = handler.type
    for n in (t.elts if isinstance(t, ast.Tuple) else [t]):
        if isinstance(n, ast.Name):
            names.append(n.id)
    return "ImportError" in names or "ModuleNotFoundError" in names


def _lines(nodes):
    return set(range(nodes[0].lineno, max(getattr(n, "end_lineno", n.lineno) for n in nodes) + 1))


def guarded(path, errors_in_file):
    """-> {line: why} for lines whose findings do not count (see the module docstring)."""
    try:
        tree = ast.parse(pathlib.Path(ROOT / path).read_text())
    except (OSError, SyntaxError):
        return {}
    bad_lines = set(e["line"] for e in errors_in_file)
    out = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        handlers = [h for h in node.handlers if h.type is not None and _catches_import_error(h)]
        imports = [n for n in node.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if not handlers or not imports:
            continue
        import_lines = set()
        for n in imports:
            import_lines |= _lines([n])
        for ln in import_lines:
            out[ln] = "optional import (its ImportError is handled)"
        if not import_lines & bad_lines:  # everything the try imports exists on the ESP32
            for h in handlers:
                for ln in _lines(h.body):
                    out.setdefault(ln, "CPython fallback (the ESP32 has the import above)")
    return out


# WLAN.config(**kw) keywords the ESP32 port accepts (ports/esp32/network_wlan.c: aliases and AP-only
# ones the stub folds into **kwargs); the stub's own keyword list is added at run time.
ESP32_WLAN_CONFIG_EXTRA = ("essid", "authmode", "password", "dhcp_hostname", "max_clients", "protocol", "bandwidth")


def wlan_config_keywords():
    tree = ast.parse((TYPINGS / "network.pyi").read_text())
    names = set(ESP32_WLAN_CONFIG_EXTRA)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "WLAN":
            for f in node.body:
                if isinstance(f, ast.FunctionDef) and f.name == "config":
                    names.update(a.arg for a in f.args.kwonlyargs)
    return names


def check_wlan_config(paths):
    """`<x>.config(kw=...)` calls with a keyword the ESP32's WLAN.config() rejects ("unknown config param")."""
    known = wlan_config_keywords()
    found = []
    for base in paths:
        for p in sorted((ROOT / base).rglob("*.py")) if (ROOT / base).is_dir() else [ROOT / base]:
            try:
                name = p.relative_to(ROOT).as_posix()
            except ValueError:
                name = str(p)
            try:
                tree = ast.parse(p.read_text())
            except SyntaxError:
                continue  # mypy reports it
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "config":
                    for kw in node.keywords:
                        if kw.arg and kw.arg not in known:
                            found.append({"path": name, "line": node.lineno, "notes": [],
                                          "msg": "WLAN.config() has no keyword %r on the ESP32 (it raises "
                                                 "'unknown config param'; known: %s)  [wlan-config]"
                                                 % (kw.arg, ", ".join(sorted(known)))})
    return found


def check(paths=("firmware", "lib")):
    """-> (errors that count, findings left out with the reason, mypy's raw output)"""
    link_stubs()
    # a fresh cache each run: concurrent runs (8 people share the checkout) and files that move
    # between runs (the test's canary) must never get another run's results
    with tempfile.TemporaryDirectory(prefix="mypy-cache-") as cache:
        cmd = [str(ROOT / ".venv" / "bin" / "mypy"), "--config-file", str(ROOT / "mypy.ini"),
               "--cache-dir", cache, "--custom-typeshed-dir", str(site_packages())] + list(paths)
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    raw = res.stdout + res.stderr
    found = parse_mypy(raw)
    if res.returncode not in (0, 1) or (res.returncode == 1 and not found):
        found.append({"path": "mypy.ini", "line": 0, "msg": "mypy did not run: " + raw.strip()[-2000:], "notes": []})
    by_file = {}
    for e in found:
        by_file.setdefault(e["path"], []).append(e)
    errors, left_out = [], []
    for path, errs in by_file.items():
        skip = guarded(path, errs) if path.endswith(".py") else {}
        for e in errs:
            if e["line"] in skip:
                left_out.append(dict(e, why=skip[e["line"]]))
            else:
                errors.append(e)
    errors += check_wlan_config(paths)
    kept = []
    for e in errors:
        why = _inference_noise(e) or _outside_attribute(e)
        if why:
            left_out.append(dict(e, why=why))
        else:
            kept.append(e)
    return kept, left_out, raw


def _inference_noise(e):
    """The stubs give ticks_ms()/ticks_us() an opaque type so that arithmetic on ticks (wrong once the
    counter wraps at 2**30) is an [operator] error: those count. Other [operator] findings come from
    types mypy guessed for unannotated code (None + int after `x = None`), and a tick stored in a
    list that held ints is fine on the board."""
    msg = e["msg"]
    if msg.endswith("[operator]") and "_Ticks" not in msg:
        return "operator on a type mypy inferred from unannotated code (only tick arithmetic counts)"
    if msg.endswith("[call-overload]") and "_Ticks" in msg and '"__setitem__" of "list"' in msg:
        return "a tick value stored in a list that held ints (ticks are ints on the board)"
    return None


_NO_ATTR = re.compile(r'"(\w+)" has no attribute "(\w+)"')


def _outside_attribute(e):
    """A project class whose attribute is set from outside its methods (`web.cfg = cfg`): mypy
    cannot follow that, the board can. Left out when that attribute is assigned somewhere in the file;
    a name never assigned anywhere (a typo) still counts."""
    m = _NO_ATTR.match(e["msg"])
    if not m or not e["path"].endswith(".py"):
        return None
    cls, attr = m.groups()
    text = _read(e["path"])
    if not re.search(r"^\s*class %s\b" % cls, text, re.M):
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.ctx, ast.Store):
            return "attribute of %s set outside its methods (mypy cannot follow; the name is assigned in this file)" % cls
    return None



def _read(path):
    try:
        return (ROOT / path).read_text()
    except OSError:
        return ""


def report(errors, left_out):
    lines = []
    for e in left_out:
        lines.append("left out: %s:%d: %s  <- %s" % (e["path"], e["line"], e["msg"], e["why"]))
    for e in errors:
        lines.append("%s:%d: error: %s" % (e["path"], e["line"], e["msg"]))
        lines += ["    " + n for n in e["notes"]]
    files = sorted(set(e["path"] for e in errors))
    lines.append("typecheck: %d error(s)%s; %d finding(s) left out (CPython fallbacks, optional imports, "
                 "attributes set from outside a class, inferred-type noise)"
                 % (len(errors), (" in " + ", ".join(files)) if files else "", len(left_out)))
    return "\n".join(lines)


if __name__ == "__main__":
    errs, skipped, _raw = check(tuple(sys.argv[1:]) or ("firmware", "lib"))
    print(report(errs, skipped))
    sys.exit(1 if errs else 0)
