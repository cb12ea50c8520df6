"""docs/modbus.md "## Linux", followed literally: the firmware under the unix port as a Linux
pusher, its Modbus source on a tty named in config.json ("port"), without the simulator.
The tty is the Modbus peer's pseudo-terminal standing in for /dev/ttyUSB0; Charge HQ is the fake."""
import json
import os
import shutil
import subprocess
import sys
import termios
import time

from mp import MICROPYTHON, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import fake_chargehq  # noqa: E402
from modbus_peer import start_peer  # noqa: E402


def test_firmware_as_linux_pusher(tmp_path):
    srv, url, ca = fake_chargehq.serve(str(tmp_path / "chq"), 0, out=open(os.devnull, "w"))
    # a meter at 2400 baud, 8E1, id 3: the line settings must reach the tty
    path, stop = start_peer("sdm120", 3, 2400)
    fs = tmp_path / "chq-pusher"
    fs.mkdir()
    shutil.copytree(ROOT / "firmware" / "ca", fs / "ca")
    shutil.copytree(ROOT / "firmware" / "profiles", fs / "profiles")
    shutil.copy(ca, fs / "test_ca.der")  # the fake Charge HQ's CA instead of the real roots
    cfg = {"wifi": {"ssid": "any", "password": "anything1"},
           "chargehq": {"api_key": "linux-pusher-key-0123456789", "endpoint": url, "ca_file": "test_ca.der"},
           "source": {"type": "modbus", "port": path, "baud": 2400, "parity": "E",
                      "devices": [{"profile": "sdm120", "slave": 3}]}}
    (fs / "config.json").write_text(json.dumps(cfg))
    env = dict(os.environ, ESPSIM_STATE=str(fs),
               MICROPYPATH=":".join([".frozen", str(ROOT / "host_tests" / "stubs"), str(ROOT / "firmware"),
                                     str(ROOT / "lib")]))
    proc = subprocess.Popen([MICROPYTHON, str(ROOT / "tools" / "espsim_boot.py"), str(ROOT / "firmware")],
                            cwd=fs, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    pushes = tmp_path / "chq" / "pushes.jsonl"
    try:
        for _ in range(300):  # until the first push arrives (normally within 2 s), at most 30 s
            if pushes.exists() and pushes.read_text().strip() or proc.poll() is not None:
                break
            time.sleep(0.1)
        speed = termios.tcgetattr(stop.peer.dev_s)[4]  # what the firmware set on "its" tty
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
        stop()
        srv.shutdown()
    assert pushes.exists(), "no push; firmware said:\n" + out[-3000:]
    first = json.loads(pushes.read_text().splitlines()[0])
    assert first["status"] == 200 and not first["problems"], first
    meters = first["body"]["siteMeters"]
    assert "net_import_kw" in meters and "imported_kwh" in meters, meters
    assert speed == termios.B2400
    assert any(r[0] == 3 and r[1] == 4 for r in stop.requests), stop.requests
