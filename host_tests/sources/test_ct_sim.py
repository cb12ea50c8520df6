"""The simulator's default meter is a simulated CircuitSetup split-phase CT board (the chip model
on the SPI stand-in, grid CT on phase A, solar CT on phase C): the unchanged firmware finds the
chip, and its first push carries plausible values for a sunny noon."""
import json
import subprocess
import sys

from mp import ROOT


def test_sim_default_source_is_the_ct_board(tmp_path):
    state, chq = tmp_path / "dev", tmp_path / "chq"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "sim.py"), "--fresh", "--state-dir",
                          str(state), "--chq-dir", str(chq), "--duration", "9", "--quiet-server"],
                         capture_output=True, text=True, timeout=90)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "source atm90e32" in out and "CT meter: 1 chip(s), chip 0 A=grid, chip 0 C=solar" in out, out
    cfg = json.loads((state / "config.json").read_text())
    assert cfg["device"]["board"] == "circuitsetup_split" and cfg["source"]["type"] == "atm90e32"
    pushes = [json.loads(line) for line in (chq / "pushes.jsonl").read_text().splitlines()]
    assert pushes and pushes[0]["status"] == 200 and pushes[0]["problems"] == [], pushes
    sm = pushes[0]["body"]["siteMeters"]
    # noon in the model's day profile: about 5 kW of solar, a house drawing about half a kW
    assert 4.0 < sm["production_kw"] < 5.3, sm
    assert 0.3 < sm["consumption_kw"] < 0.8, sm
    assert -5.0 < sm["net_import_kw"] < -3.5, sm
    assert abs(sm["production_kw"] + sm["net_import_kw"] - sm["consumption_kw"]) < 0.002, sm
    assert "battery_soc" not in sm, sm


def test_sim_ct_faults_through_the_unchanged_firmware(tmp_path):
    """Faults injected into the simulated chip (file atm90e32_fault in the device's folder): bus
    garbage becomes the meter's error (not zeros), the meter reads again when it clears, and a
    chip reset is noticed, logged and followed by a new set-up, while the firmware keeps running."""
    import os
    import signal
    import threading
    state, chq = tmp_path / "dev", tmp_path / "chq"
    fault = state / "atm90e32_fault"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "sim.py"), "--fresh", "--state-dir",
                             str(state), "--chq-dir", str(chq), "--quiet-server"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cap = threading.Timer(90, proc.kill)  # no --duration: its timer would outlive the SIGINT below
    cap.start()
    steps = [("source atm90e32 started", lambda: fault.write_text("garbage")),
             ("meter: chip 0: ATM90E32 bus garbage", lambda: fault.unlink()),
             ("meter read again", lambda: fault.write_text("reset")),
             ("chip 0: ATM90E32 set up again", None)]
    out = []
    for line in proc.stdout:
        out.append(line)
        if steps and steps[0][0] in line:
            _, act = steps.pop(0)
            if act:
                act()
            else:
                break
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)  # the simulator stops the device and exits
    rest, _ = proc.communicate(timeout=30)
    cap.cancel()
    text = "".join(out) + rest
    assert not steps, "stuck before %r:\n%s" % (steps[0][0], text[-3000:])
    assert "chip 0: ATM90E32 reset (MeterEn=0, brown-out?): setting it up again" in text, text
    assert proc.returncode == 0, text
    reading = [l for l in text.splitlines() if "reading:" in l][-1]
    assert "solar" in reading and "grid" in reading, reading
