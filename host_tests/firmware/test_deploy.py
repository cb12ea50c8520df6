"""`make build` + `make deploy` against a virtual board: the MicroPython unix port's REPL on a
pseudo-terminal (tools/vboard.py), driven by the real mpremote, as an ESP32 on /dev/ttyUSB0 would be.

Measures: every file of the build arrives byte for byte; a second deploy copies nothing; a changed
file is the only one copied; config.json on the board is never touched; modules the build no longer
has and .py files that would shadow a new .mpy are removed; BOARD= ships one profile; and the
deployed image (compiled .mpy only, no source on the path) imports under MicroPython."""
import os
import pathlib
import subprocess
import sys
import time

import pytest

from mp import MICROPYTHON, ROOT, STUBS, assert_mp_passed, mp32

sys.path.insert(0, str(ROOT / "tools"))
import build as build_tool  # noqa: E402
import deploy as deploy_tool  # noqa: E402

CONFIG = b'{"wifi": {"ssid": "home", "password": "kept"}, "device": {"board": "mine"}}\n'


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    rows = build_tool.build(out, quiet=True)
    # two board profiles, to see BOARD= pick one (the repo's own boards/ may be empty or not there yet)
    (out / "boards").mkdir(exist_ok=True)
    extra = []
    for name in ("vtest_a", "vtest_b"):
        (out / "boards" / (name + ".json")).write_text('{"name": "%s"}\n' % name)
        extra.append("boards/%s.json" % name)
    listing = out / ".files"
    listing.write_text(listing.read_text() + "".join(e + "\n" for e in extra))
    return out, [r[0] for r in rows] + extra


@pytest.fixture(scope="module")
def vboard(tmp_path_factory):
    base = tmp_path_factory.mktemp("vboard")
    fs, link = base / "fs", base / "tty"
    fs.mkdir()
    (fs / "config.json").write_bytes(CONFIG)
    (fs / "app").mkdir()
    (fs / "app" / "gone.mpy").write_bytes(b"M\x06old module the build no longer has")
    (fs / "app" / "config.py").write_text("raise ImportError('stale source shadowing config.mpy')\n")
    # an over-the-air update (docs/ota.md) left a slot and a pointer: a USB deploy must win over them
    (fs / "ota" / "a" / "app").mkdir(parents=True)
    (fs / "ota" / "a" / "app" / "main.mpy").write_bytes(b"M\x06an update's module")
    (fs / "ota" / "state").write_text('{"cur": "a", "trial": false}')
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "vboard.py"), "--dir", str(fs),
                             "--link", str(link), "--esp32-stand-ins"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("VBOARD "), "virtual board did not start: %r" % line
        yield fs, str(link)
    finally:
        proc.terminate()
        proc.wait(10)


def test_deploy_to_virtual_board(image, vboard):
    out, files = image
    fs, port = vboard
    log = []
    first = deploy_tool.deploy(port, out, board="vtest_a", log=log.append)
    assert first["platform"] == "linux" and first["reset"] is False
    shipped = [f for f in files if not f.startswith("boards/") or f == "boards/vtest_a.json"]
    assert sorted(first["copied"]) == sorted(shipped)
    for rel in shipped:
        assert (fs / rel).read_bytes() == (out / rel).read_bytes(), rel
    assert os.listdir(fs / "boards") == ["vtest_a.json"], "BOARD=vtest_a must ship only that profile"
    assert (fs / "boot.py").exists() and (fs / "main.py").exists(), "boot.py/main.py stay source"
    assert first["removed"] == ["ota/state", "app/config.py", "app/gone.mpy", "ota/a/app/main.mpy"], \
        "stale modules and the update slots go, the update pointer first"
    assert (fs / "config.json").read_bytes() == CONFIG

    second = deploy_tool.deploy(port, out, board="vtest_a", log=log.append)
    assert second["copied"] == [] and second["removed"] == []
    assert second["unchanged"] == len(shipped)

    # as on a chip (the ESP32 stand-ins on the virtual board's path): watchdog stretched, then
    # machine.reset(), which ends the interpreter; the bridge boots a new one, as the chip reboots
    (out / "boot.py").write_bytes((out / "boot.py").read_bytes() + b"# changed\n")
    third = deploy_tool.deploy(port, out, board="vtest_a", log=log.append, as_esp32=True)
    assert third["copied"] == ["boot.py"] and third["reset"] is True
    assert (fs / "boot.py").read_bytes().endswith(b"# changed\n")
    assert (fs / "config.json").read_bytes() == CONFIG
    for _ in range(100):  # wait for the reset to land (an event, not a time limit on anything)
        if (fs / ".reset_reason").exists():
            break
        time.sleep(0.1)
    assert (fs / ".reset_reason").read_text() == "soft", "machine.reset() was not called"
    fourth = deploy_tool.deploy(port, out, board="vtest_a", log=log.append)
    assert fourth["copied"] == [] and fourth["platform"] == "linux", "the board answers after its reset"

    with pytest.raises(deploy_tool.DeployError, match="no board profile boards/nope.json"):
        deploy_tool.deploy(port, out, board="nope", log=log.append)


def test_deployed_image_imports_under_micropython(image, vboard):
    """The compiled modules on the (virtual) board load: only the board's folder and the ESP32
    stand-ins are on the path, no firmware source."""
    fs, _port = vboard
    out, files = image
    modules = sorted(r[:-4].replace("/__init__", "").replace("/", ".").replace("lib.", "", 1)
                     for r in files if r.endswith(".mpy"))
    wanted = [m for m in modules if not m.startswith("microdot.")] + ["microdot"]
    code = ("import mptest, sys\nmptest.check('firmware' not in ':'.join(sys.path), 'no source on path')\n"
            "for m in %r:\n    __import__(m)\n    mptest.check(True, m)\nmptest.done()\n" % wanted)
    script = fs.parent / "import_all.py"
    script.write_text(code)
    env = dict(os.environ, MICROPYPATH=":".join([".frozen", str(STUBS), str(fs), str(fs / "lib"),
                                                  str(ROOT / "host_tests" / "mp")]),
               ESPSIM_STATE=str(fs.parent / "state"), ESPSIM_RESET_CAUSE="power")
    (fs.parent / "state").mkdir(exist_ok=True)
    res = subprocess.run([MICROPYTHON, "-X", "heapsize=%d" % (1024 * 1024), str(STUBS / "espsim_run.py"),
                          str(script)], cwd=str(fs), env=env, capture_output=True, text=True, timeout=60)
    assert_mp_passed(res, "import of the deployed image")


def _start_vboard(base, *args):
    fs, link = base / "fs", base / "tty"
    fs.mkdir()
    (fs / "config.json").write_bytes(CONFIG)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "vboard.py"), "--dir", str(fs),
                             "--link", str(link), "--esp32-stand-ins"] + list(args),
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("VBOARD "), "virtual board did not start: %r" % line
    return proc, fs, str(link)


def test_deploy_refuses_mpy_onto_a_plain_esp32_heap(image, tmp_path):
    """A virtual board with the ESP32's heap (32-bit, 111,936 B: stock ESP32_GENERIC without PSRAM):
    the app as .mpy files does not fit, so deploy refuses before copying anything and names the two
    ways out; --force deploys anyway."""
    out, _files = image
    proc, fs, port = _start_vboard(tmp_path, "--micropython", mp32("plain"), "--heap", "114688")
    try:
        with pytest.raises(deploy_tool.DeployError) as e:
            deploy_tool.deploy(port, out, board="vtest_a", log=lambda m: None)
        msg = str(e.value)
        assert "needs about" in msg and "frozen" in msg and "PSRAM" in msg, msg
        assert sorted(os.listdir(fs)) == ["config.json"], "nothing may be copied before the check"
        log = []
        forced = deploy_tool.deploy(port, out, board="vtest_a", log=log.append, force=True)
        assert forced["copied"] and any("WARNING (--force)" in m for m in log), log
    finally:
        proc.terminate()
        proc.wait(10)


def test_deploy_onto_a_frozen_image_copies_data_only(image, tmp_path):
    """A virtual board running the firmware image (app frozen in) in the ESP32's heap: deploy copies
    boot.py, main.py and the data files, no .mpy, and removes app/ .mpy files an earlier deploy left
    (on the filesystem they would shadow the frozen app); the board then boots the frozen app."""
    out, files = image
    proc, fs, port = _start_vboard(tmp_path, "--micropython", mp32("frozen"), "--heap", "114688")
    try:
        (fs / "app" / "core").mkdir(parents=True)
        (fs / "app" / "core" / "config.mpy").write_bytes((out / "app" / "core" / "config.mpy").read_bytes())
        res = deploy_tool.deploy(port, out, board="vtest_a", log=lambda m: None)
    finally:
        proc.terminate()
        proc.wait(10)
    assert res["frozen"] is True
    assert res["copied"] and not [r for r in res["copied"] if r.endswith(".mpy")], res["copied"]
    data = [f for f in files if not f.endswith(".mpy") and (not f.startswith("boards/") or f == "boards/vtest_a.json")]
    assert sorted(res["copied"]) == sorted(data)
    assert res["removed"] == ["app/core/config.mpy"] and not (fs / "app").exists()
    assert not (fs / "lib").exists(), "no code folders on a frozen board"
    assert (fs / "config.json").read_bytes() == CONFIG


def test_wrong_port_says_so_in_one_line(tmp_path):
    """A port that does not exist: one line saying so (and what is plugged in), not mpremote's
    "may be in use" and the probe script it was sending."""
    import subprocess
    import sys
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "deploy.py"), "--port", str(tmp_path / "ttyUSB9"),
                          "--build", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "there is no serial port %s" % (tmp_path / "ttyUSB9") in lines[0], res.stderr
    assert "may be in use" not in res.stderr and "import" not in res.stderr
    # a path that exists but is no board: mpremote's own words, without the script
    (tmp_path / "notaboard").write_text("")
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "deploy.py"), "--port", str(tmp_path / "notaboard"),
                          "--build", str(ROOT / "build")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "def _h" not in res.stderr
