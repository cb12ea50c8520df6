"""The firmware's shape (docs/architecture.md): app packages import one way, no module imports
another that imports it back (lazily or not), drivers in lib/ know nothing of the app, and no
module grows past ~300 lines. Read from the source with Python's own parser: every import
statement counts, those inside functions too, and so do `__import__("app.x." + name)` calls."""
import ast

from mp import ROOT
APP = ROOT / "firmware" / "app"
# a package may import its own modules and those of the packages it names here
MAY_USE = {
    "sources": set(),
    "core": {"sources"},
    "outputs": {"core", "sources"},
    "system": {"core", "sources"},
    "web": {"outputs", "system", "core", "sources"},
    "console": {"outputs", "system", "core", "sources"},
    "": {"web", "console", "outputs", "system", "core", "sources"},  # app.main: the start-up
}
MAX_LINES = 320  # "no module over ~300 lines"


def module_name(path):
    rel = path.relative_to(ROOT / "firmware").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_modules():
    return {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def imports_of(path, known):
    """The app modules `path` imports -> {module: line}."""
    out = {}
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from pkg import submodule` loads the submodule (its package is loaded for any
            # submodule: that is no import of the package's own code); a name: the module
            subs = ["%s.%s" % (node.module, a.name) for a in node.names]
            names = [n for n in subs if n in known]
            if len(names) < len(subs):
                names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args:
            a = node.args[0]
            if isinstance(a, ast.BinOp) and isinstance(a.left, ast.Constant):  # "app.x." + name
                prefix = a.left.value
                names = [m for m in known if m.startswith(prefix)]
            elif isinstance(a, ast.Constant):
                names = [a.value]
        for n in names:
            if n in known:
                out.setdefault(n, node.lineno)
    return out


def package_of(mod):
    parts = mod.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (APP / parts[1]).is_dir()) else ""


def graph():
    mods = app_modules()
    return mods, {m: imports_of(p, mods) for m, p in mods.items()}


def test_packages_import_one_way():
    mods, g = graph()
    wrong = []
    for m, deps in g.items():
        pkg = package_of(m)
        for d, line in deps.items():
            dp = package_of(d)
            if d == "app" or dp == pkg or dp in MAY_USE[pkg]:
                continue
            wrong.append("%s:%d imports %s (%s may not use %s)" % (mods[m].relative_to(ROOT), line, d,
                                                                   pkg or "app", dp or "app"))
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    mods, g = graph()
    # a package's __init__ is not a dependency of its modules for this purpose: Python loads it
    # first anyway, and none of them imports a module that imports the package's modules back
    seen, stack, circles = {}, [], []

    def visit(m):
        seen[m] = 1
        stack.append(m)
        for d in g[m]:
            if d == "app" or d == m:
                continue
            if seen.get(d) == 1:
                circles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in seen:
                visit(d)
        stack.pop()
        seen[m] = 2

    for m in sorted(g):
        if m not in seen:
            visit(m)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_lib_knows_nothing_of_the_app():
    wrong = []
    for p in sorted((ROOT / "lib").glob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            mod = None
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
            elif isinstance(node, ast.Import):
                mod = node.names[0].name
            if mod and (mod == "app" or mod.startswith("app.")):
                wrong.append("%s:%d imports %s" % (p.relative_to(ROOT), node.lineno, mod))
    assert not wrong, "\n".join(wrong)


def test_no_module_over_300_lines():
    files = sorted(APP.rglob("*.py")) + sorted((ROOT / "lib").glob("*.py")) + \
        sorted((ROOT / "firmware").glob("*.py")) + sorted((ROOT / "tools").glob("**/*.py"))
    long = ["%s: %d lines" % (p.relative_to(ROOT), n) for p in files
            for n in [len(p.read_text().splitlines())] if n > MAX_LINES]
    assert not long, "split these by what they do:\n" + "\n".join(long)


def test_every_package_says_what_it_may_import():
    for pkg in MAY_USE:
        if not pkg:
            continue
        init = APP / pkg / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import:" in doc, "%s has no docstring naming what it may import" % init
        named = set(doc.split("May import:")[1].replace(",", " ").replace(".", " ").split())
        assert MAY_USE[pkg] <= named, (init, MAY_USE[pkg] - named)
