"""firmware/manifest.py (freezing the firmware into a custom MicroPython image) names exactly the
modules `make build` compiles for the filesystem, and every path in it exists. The manifest is run
with recording stand-ins for MicroPython's manifest functions (include/package/freeze/module);
the image itself is not built here (that needs ESP-IDF)."""
import os
import pathlib
import sys

from mp import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import build as build_tool  # noqa: E402

MANIFEST = ROOT / "firmware" / "manifest.py"


def frozen_modules():
    base_dir = MANIFEST.parent
    mods, includes = set(), []

    def _py_files(root):
        return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)

    def _name(rel):
        parts = list(pathlib.PurePosixPath(rel).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    def include(path):
        includes.append(path)

    def package(name, files=None, base_path=".", opt=None):
        base = (base_dir / base_path).resolve()
        assert (base / name).is_dir(), "manifest: package %s not found under %s" % (name, base)
        paths = [base / name / f for f in files] if files else _py_files(base / name)
        for p in paths:
            assert p.is_file(), "manifest: %s does not exist" % p
            mods.add(_name(p.relative_to(base).as_posix()))

    def freeze(path, script=None, opt=None):
        root = (base_dir / path).resolve()
        assert root.is_dir() and script is None, "manifest: freeze(%r) expects a folder" % path
        for p in _py_files(root):
            mods.add(_name(p.relative_to(root).as_posix()))

    def module(name, base_path=".", opt=None):
        p = (base_dir / base_path / name).resolve()
        assert p.is_file(), "manifest: module %s not found" % p
        mods.add(_name(name))

    prev = os.getcwd()
    os.chdir(base_dir)  # as makemanifest.py runs a manifest: from its own folder
    try:
        exec(compile(MANIFEST.read_text(), str(MANIFEST), "exec"),
             {"include": include, "package": package, "freeze": freeze, "module": module})
    finally:
        os.chdir(prev)
    return mods, includes


def built_modules():
    mods = set()
    for _src, rel, compiled in build_tool.plan():
        if compiled:
            rel = rel[:-4]
            rel = rel[4:] if rel.startswith("lib/") else rel
            mods.add(rel.replace("/__init__", "").replace("/", "."))
    return mods


def test_manifest_freezes_what_the_build_compiles():
    frozen, includes = frozen_modules()
    assert includes == ["$(PORT_DIR)/boards/manifest.py"], "keep the port's own frozen modules (asyncio)"
    built = built_modules()
    assert "app.main" in built and "microdot" in built and "https_post" in built
    assert frozen == built, "only frozen: %s; only built: %s" % (sorted(frozen - built), sorted(built - frozen))
