"""The simulator's device folder between runs: what the user's device saved is kept, what an
earlier run's flags put there is not; a config.json with a syntax error is kept aside (as the
firmware does) and the device starts in set-up mode; a misspelt --profile names the choices;
the console (and its prompt) only with --console."""
import json
import subprocess
import sys

from mp import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import sim  # noqa: E402


def prep(state, *flags):
    a = sim.parse_args(["--state-dir", str(state)] + list(flags))
    return sim.prepare_device(a, "https://127.0.0.1:1/x", None)[1]


def test_flags_do_not_stick_but_the_devices_own_settings_do(tmp_path):
    state = tmp_path / "dev"
    cfg = prep(state, "--fresh", "--source", "simulated", "--http-port", "9123", "--interval", "45")
    assert cfg["source"] == {"type": "simulated"} and cfg["portal"]["http_port"] == 9123
    assert cfg["console"]["enabled"] is False  # no --console: no prompt that ignores keys
    # the user changes a setting on the device (console or settings page)
    saved = json.loads((state / "config.json").read_text())
    saved["validation"] = {"tolerance_w": 250}
    saved["device"]["timezone"] = "AEST-10"
    (state / "config.json").write_text(json.dumps(saved))
    cfg = prep(state)  # a plain run afterwards: the default device, the user's settings kept
    assert cfg["source"]["type"] == "atm90e32" and cfg["device"]["board"] == "circuitsetup_split"
    assert cfg["portal"]["http_port"] == 8080
    assert "push_interval_s" not in cfg["chargehq"]
    assert cfg["validation"] == {"tolerance_w": 250} and cfg["device"]["timezone"] == "AEST-10"
    assert prep(state, "--console")["console"]["enabled"] is True


def test_corrupt_config_is_kept_and_the_device_needs_set_up(tmp_path, capsys):
    state = tmp_path / "dev"
    prep(state, "--fresh")
    (state / "config.json").write_text('{"wifi": {"ssid": "HomeNet",}')  # a hand edit gone wrong
    cfg = prep(state)
    assert (state / "config.json.bad").read_text() == '{"wifi": {"ssid": "HomeNet",}'
    assert "source" not in cfg and cfg["portal"]["http_port"] == 8080  # set-up mode, on the sim's port
    out = capsys.readouterr().out
    assert "not valid JSON" in out and "config.json.bad" in out


def test_misspelt_profile_lists_the_profiles(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "sim.py"), "--fresh", "--state-dir",
                          str(tmp_path / "d"), "--source", "modbus", "--profile", "sdm603", "--duration", "1"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr
    assert "no Modbus profile 'sdm603'" in res.stderr and "sdm630" in res.stderr, res.stderr
