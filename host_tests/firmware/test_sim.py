"""The whole firmware, unchanged, in the simulator: pushes reach a local HTTPS Charge HQ at least
30 s apart with valid payloads, a meter fault becomes an `error` push, an endpoint signed by
another CA is refused, and the API key never appears in any output."""
import json
import subprocess
import sys
import threading
import time

import trustme

from mp import ROOT

SIM = [sys.executable, str(ROOT / "tools" / "sim.py")]
KEY = "test-key-SECRET-0123456789-WXYZ"


def run_sim(args, timeout):
    return subprocess.run(SIM + args, capture_output=True, text=True, timeout=timeout)


def test_sim_pushes_and_reports_meter_faults(tmp_path):
    state, chq = tmp_path / "dev", tmp_path / "chq"

    def inject_fault():  # the meter fails between the 2nd and 3rd push
        time.sleep(42)
        (state / "sim_fault").write_text("meter: no reply from slave 1")
    threading.Thread(target=inject_fault, daemon=True).start()
    res = run_sim(["--fresh", "--source", "simulated", "--state-dir", str(state), "--chq-dir", str(chq),
                   "--api-key", KEY,
                   "--interval", "30", "--duration", "68"], timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert KEY not in out and KEY[:-4] not in out, "API key leaked into the output"
    pushes = [json.loads(line) for line in (chq / "pushes.jsonl").read_text().splitlines()]
    assert len(pushes) >= 3, out
    assert all(p["status"] == 200 for p in pushes), pushes
    gaps = [p["gap"] for p in pushes[1:]]
    assert all(g >= 29.9 for g in gaps), gaps
    good, bad = pushes[:2], pushes[2]
    for p in good:
        assert p["problems"] == [], p
        sm = p["body"]["siteMeters"]
        assert {"production_kw", "net_import_kw", "consumption_kw", "imported_kwh",
                "exported_kwh", "battery_discharge_kw", "battery_soc"} <= set(sm), sm
        bal = sm["production_kw"] + sm["net_import_kw"] + sm["battery_discharge_kw"]
        assert abs(sm["consumption_kw"] - bal) < 0.002, sm
    assert bad["body"].get("error") == "meter: no reply from slave 1", bad
    assert "siteMeters" not in bad["body"]
    assert good[1]["body"]["siteMeters"]["exported_kwh"] >= good[0]["body"]["siteMeters"]["exported_kwh"]
    assert "pushed (HTTP 200)" in out and "meter: no reply from slave 1" in out
    # the status LED's states in the log: fine, then the meter fault
    assert out.index("led: all fine (steady on)") < out.index("led: meter error (fast blink)"), out


def test_sim_refuses_endpoint_signed_by_another_ca(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import fake_chargehq
    srv, url, _ca = fake_chargehq.serve(str(tmp_path / "chq"), 0)
    rogue = trustme.CA(key_type=trustme.KeyType.RSA)
    rogue_pem = tmp_path / "rogue-ca.pem"
    rogue.cert_pem.write_to_path(str(rogue_pem))
    try:
        res = run_sim(["--fresh", "--state-dir", str(tmp_path / "dev"), "--endpoint", url,
                       "--ca", str(rogue_pem), "--api-key", KEY, "--duration", "6"], timeout=60)
    finally:
        srv.shutdown()
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "push failed: TLS" in out and "retry in 30 s" in out, out
    assert not (tmp_path / "chq" / "pushes.jsonl").exists(), "nothing may reach an unverified server"
    assert KEY not in out


def test_watchdog_resets_a_hung_device_and_it_recovers(tmp_path):
    """A driver stuck in a blocking call: the watchdog resets the chip (RTC memory kept), the
    firmware boots again with reset cause 'watchdog' and pushes."""
    state, chq = tmp_path / "dev", tmp_path / "chq"
    state.mkdir()
    (state / "config.json").write_text(json.dumps({
        "wifi": {"ssid": "HomeNet"}, "chargehq": {"api_key": KEY},
        "device": {"watchdog_s": 3}, "source": {"type": "simulated"}}))
    (state / "sim_hang").write_text("")

    def unhang():  # the fault clears once the first reset has happened
        # (match the reset message, not "watchdog": pytest's tmp_path holds the test's name)
        for _ in range(200):
            if (state / ".reset_reason").exists() or b"watchdog timeout" in b"".join(out_lines):
                break
            time.sleep(0.1)
        (state / "sim_hang").unlink()
    out_lines = []
    proc = subprocess.Popen(SIM + ["--state-dir", str(state), "--chq-dir", str(chq), "--duration", "14"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    threading.Thread(target=unhang, daemon=True).start()
    for line in proc.stdout:
        out_lines.append(line)
    proc.wait(60)
    out = b"".join(out_lines).decode()
    assert "watchdog timeout" in out and "chip reset (wdt)" in out, out
    assert "boot: watchdog" in out, out
    assert "pushed (HTTP 200)" in out.split("boot: watchdog", 1)[1], out
    assert KEY not in out
