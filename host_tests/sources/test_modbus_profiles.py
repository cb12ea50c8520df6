"""Every Modbus profile, decoded by the firmware's source under MicroPython:

- against register maps written by hand from the device notes (host_tests/modbus_cases.py),
  served by the pymodbus RTU peer on a pseudo-terminal (tools/modbus_peer.py) and read by the
  firmware's RTU master over the line;
- against tools/modbus_values.registers_for (the simulator's maps), in memory;
- the request plan of each profile (device limits), config errors, several devices on one bus,
  missing optional parts, a dead slave, allocation per poll;
- the simulator end to end with --source modbus --profile sdm630.
"""
import json
import shutil
import subprocess
import sys

import pytest

from mp import ROOT, check_mp

sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
import modbus_values  # noqa: E402
from modbus_cases import cases  # noqa: E402

FOLDER = str(ROOT / "firmware" / "profiles")
PROFILES = modbus_values.profile_names()
FX = "fx_modbus_profiles.py"
LOGS = {"sunspec": "): Fronius Symo GEN24",  # model 1 (manufacturer, model) read at discovery
        "huawei_alone": "no meter/export/import"}          # the optional parts not fitted


def _cfg(profile, slave, options=None, **kw):
    dev = {"profile": profile, "slave": slave}
    if options:
        dev["options"] = options
    dev.update(kw)
    return {"type": "modbus", "uart": 1, "baud": 9600, "devices": [dev]}


def _note_runs():
    """-> (slave map, runs): one slave id per hand-written case."""
    slaves, runs = {}, []
    for sid, (label, (profile, regs, expect, opts)) in enumerate(sorted(cases().items()), 1):
        slaves[sid] = regs.maps()
        runs.append({"label": label, "cfg": _cfg(profile, sid, opts), "expect": expect})
        if label in LOGS:
            runs[-1]["log"] = LOGS[label]
    return slaves, runs


def _run(tmp_path, spec, extra_profiles=None, **kw):
    # the device's filesystem: profiles/ next to the working folder, as tools/sim.py lays it out
    shutil.copytree(FOLDER, tmp_path / "profiles", dirs_exist_ok=True)
    for name, text in (extra_profiles or {}).items():
        (tmp_path / "profiles" / (name + ".json")).write_text(text)
    spec.setdefault("folder", "profiles")
    path = tmp_path / "modbus_runs.json"
    path.write_text(json.dumps(spec))
    return check_mp(FX, str(path), state_dir=tmp_path, heap=1024 * 1024, **kw)


def test_every_profile_has_a_case_from_the_notes():
    covered = {c[0] for c in cases().values()}
    assert covered == set(PROFILES), set(PROFILES) ^ covered


@pytest.mark.parametrize("name", PROFILES)
def test_request_plan_respects_device_limits(name):
    prof = modbus_values.load_profile(name)
    if prof.sunspec:  # addresses known only after discovery: resolve against a typical layout
        prof.resolve({1: 40002, 103: 40070, 203: 40122, 124: 40229, 802: 40255})
    blocks = prof.blocks + prof.once_blocks
    placed = {v.id for b in blocks for v in b.values}
    assert placed == {v.id for v in prof.values if v.active}
    for b in blocks:
        assert 1 <= b.count <= prof.max_regs
        if name.startswith("sdm"):  # Eastron: even-aligned pairs, at most 80 registers
            assert b.start % 2 == 0 and b.count % 2 == 0 and b.count <= 80
        if name.startswith("huawei"):
            assert b.count <= 64
        for v in b.values:
            lo, hi = v.span()
            assert b.start <= lo and hi < b.start + b.count
    print("%s: %d request(s) per poll: %s; at start: %s" % (
        name, len(prof.blocks), prof.blocks, prof.once_blocks))
    assert len(prof.blocks) <= {"sdm": 1, "dts": 2, "dds": 2}.get(name[:3], 4)


def test_profiles_in_memory_notes_and_simulator_maps(tmp_path):
    slaves, runs = _note_runs()
    # the simulator's maps: registers_for(profile) must decode back to the site values
    sid = 100
    for name in PROFILES:
        sid += 1
        site = modbus_values.plausible_site(name)
        slaves[sid] = modbus_values.registers_for(name, site)
        prof = modbus_values.load_profile(name)
        fed = {r.field for r in prof.rules}
        want = {k: v for k, v in site.items()
                if modbus_values.mp.FIELDS.index(k) in fed}
        if name == "solis_string":  # one lifetime counter alone is not pushed
            want.pop("hw_import_wh")
        if name == "sunspec":  # battery power needs the sign option; no 802 SoC x WHRtg here
            want.pop("battery_w", None)
        runs.append({"label": "sim-" + name, "cfg": _cfg(name, sid), "expect": want})
    # an optional inverter that goes to sleep and wakes up again, next to a grid meter
    slaves[70] = cases()["solis_hybrid"][1].maps()
    slaves[71] = cases()["sdm630"][1].maps()
    runs.append({"label": "sleep-cycle", "cfg": {"type": "modbus", "devices": [
        {"profile": "solis_hybrid", "slave": 70, "optional": True}, {"profile": "sdm630", "slave": 71}]},
        "expect": {"grid_w": -1523, "solar_w": 4100, "battery_w": -1500, "hw_import_wh": 12345678},
        "cycle": {"slave": 70, "expect_down": {"grid_w": -1523, "solar_w": None, "battery_w": None,
                                                "hw_import_wh": 12345678}}})
    # configuration mistakes are named
    runs += [
        {"label": "bad-profile", "cfg": _cfg("sdm999", 1), "config_error": "profiles/sdm999.json not found"},
        {"label": "bad-option", "cfg": _cfg("deye_1p", 1, {"turbo": True}), "config_error": "unknown option 'turbo'"},
        {"label": "bad-role", "cfg": _cfg("sdm630", 1, role="house"), "config_error": "role: must be one of"},
        {"label": "dup-slave", "cfg": {"type": "modbus", "devices": [{"profile": "sdm630", "slave": 3},
                                                                      {"profile": "sdm72", "slave": 3}]},
         "config_error": "used by another device"},
        {"label": "no-devices", "cfg": {"type": "modbus", "devices": []}, "config_error": "source.devices"},
        {"label": "bad-baud", "cfg": dict(_cfg("sdm630", 1), baud=9601), "config_error": "source.baud"},
        {"label": "bad-optional", "cfg": _cfg("sdm630", 1, optional="yes"), "config_error": "optional: must be true or false"},
        {"label": "dead-slave", "cfg": _cfg("sdm630", 77), "error": "sdm630 (id 77): read FC04"},
        {"label": "dead-sunspec", "cfg": _cfg("sunspec", 77), "error": "sunspec (id 77): no reply to the SunSpec probe"},
        {"label": "not-sunspec", "cfg": _cfg("sunspec", 71), "error": "no SunSpec map (\"SunS\" not at 40000, 0, 50000)"},
        {"label": "malformed", "cfg": _cfg("broken", 1), "config_error": "profile broken is malformed"},
        {"label": "not-json", "cfg": _cfg("notjson", 1), "config_error": "profiles/notjson.json is not valid JSON"},
        {"label": "bad-value", "cfg": _cfg("badtype", 1), "config_error": "badtype value x: unknown type 'f64'"},
    ]
    extra = {"broken": '{"values": [1, 2]}', "notjson": '{"values": [',
             "badtype": '{"values": [{"id": "x", "addr": 0, "type": "f64"}]}'}
    # allocation of the source itself per poll (decode + combine), without the line's master
    alloc = ["sdm630", "huawei_sun2000", "sunspec", "deye_3p", "sungrow_sh"]
    out = _run(tmp_path, {"mem": slaves, "runs": runs, "alloc": alloc}, extra)
    print("\n".join(line for line in out.splitlines() if line.startswith("ALLOC")))


def test_profiles_over_rtu_against_pymodbus_peer(tmp_path):
    from modbus_peer import start_peer
    slaves, runs = _note_runs()
    # several devices on one bus, combined: a Sungrow hybrid (id 50) and an SDM630 grid meter
    # (id 51) whose reading wins for net import and the lifetime counters
    sh = cases()["sungrow_sh"][1].maps()
    meter_regs, _ = _sdm_meter(-1900.0, 4321.5, 1234.25)
    slaves[50], slaves[51] = sh, meter_regs
    runs.append({"label": "sungrow+sdm630", "cfg": {"type": "modbus", "devices": [
        {"profile": "sungrow_sh", "slave": 50}, {"profile": "sdm630", "slave": 51, "role": "grid"}]},
        "expect": {"grid_w": -1900, "solar_w": 5200, "battery_w": -1300, "load_w": 1800,
                   "soc_pm": 455, "hw_import_wh": 4321500, "hw_export_wh": 1234250}})
    # a PV meter (role solar) next to a grid meter: production from its export
    slaves[52], _ = _sdm_meter(-2750.0, 1.0, 5000.0)
    runs.append({"label": "grid+solar meters", "cfg": {"type": "modbus", "devices": [
        {"profile": "sdm630", "slave": 51}, {"profile": "sdm120", "slave": 52, "role": "solar"}]},
        "expect": {"grid_w": -1900, "solar_w": 2750, "hw_import_wh": 4321500}})
    # a meter without counters of its own is integrated from power; a dead slave is an error
    runs.append({"label": "dead-slave", "cfg": _cfg("sdm630", 99, timeout_ms=200),
                 "error": "sdm630 (id 99): read FC04 52+24 failed"})
    # exception 02 on a block that is not optional: a clear error, not zeros
    runs.append({"label": "exc02", "cfg": _cfg("sungrow_sg", 53), "error": "sungrow_sg (id 53): read FC04"})
    slaves[53] = cases()["sungrow_sg"][1].maps()
    # a slow device (replies after 1.5 s) read with its profile's timeout (Huawei: 5 s) although
    # the bus default is 0.5 s; a busy reply (exception 06) once, retried by the master
    slaves[54] = cases()["huawei_sun2000"][1].maps()
    runs.append({"label": "huawei-slow", "cfg": _cfg("huawei_sun2000", 54),
                 "expect": {"solar_w": 3900, "grid_w": 640, "battery_w": 800}})
    slaves[55] = cases()["sdm72"][1].maps()
    runs.append({"label": "sdm72-busy-once", "cfg": _cfg("sdm72", 55),
                 "expect": {"grid_w": -1523, "hw_import_wh": 12345678}})
    # an inverter that sleeps at night (RS485 off), marked optional: the grid meter still reads,
    # the inverter's fields are left out; with no device answering it is an error
    runs.append({"label": "inverter-asleep", "cfg": {"type": "modbus", "devices": [
        {"profile": "sungrow_sh", "slave": 60, "optional": True, "timeout_ms": 200},
        {"profile": "sdm630", "slave": 51}]},
        "expect": {"grid_w": -1900, "solar_w": None, "load_w": None, "soc_pm": None,
                   "hw_import_wh": 4321500}})
    runs.append({"label": "all-asleep", "cfg": {"type": "modbus", "devices": [
        {"profile": "sungrow_sh", "slave": 61, "optional": True, "timeout_ms": 200}]},
        "error": "modbus: no device answered"})
    # the source opening the port itself (as on the device, here a pty)
    # with the board file's pins (boards/esp32_rs485.json: DE on GPIO4)
    board = json.loads((ROOT / "boards" / "esp32_rs485.json").read_text())
    runs.append({"label": "own-uart", "own_uart": True, "board": board, "check_de": 4,
                 "cfg": {"type": "modbus", "devices": [{"profile": "sdm630", "slave": 51}]},
                 "expect": {"grid_w": -1900, "hw_export_wh": 1234250}})
    # 38400 baud: the same frames in a quarter of the line time (the test stays quick)
    path, stop = start_peer(slaves, baud=38400, faults={(53, 5030): "exc02", (54, 32064): "slow:1500",
                                                       (55, 52): "busy_once"})
    runs[-1]["cfg"]["port"] = path
    try:
        out = _run(tmp_path, {"port": path, "baud": 38400, "timeout_ms": 500, "runs": runs,
                              "alloc": ["sdm630", "huawei_sun2000", "sunspec", "sungrow+sdm630"]},
                   timeout=120)
    finally:
        stop()
    print(out)
    for line in out.splitlines():
        if line.startswith("ALLOC"):
            print(line)
    assert "ALLOC sdm630" in out


def _sdm_meter(power, imp, exp):
    from modbus_cases import Regs
    r = Regs().f32(4, 0x34, power).f32(4, 0x0C, power).f32(4, 0x48, imp).f32(4, 0x4A, exp)
    return r.maps(), None


def test_simulator_pushes_from_a_modbus_meter(tmp_path):
    state, chq = tmp_path / "dev", tmp_path / "chq"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "sim.py"), "--fresh", "--state-dir",
                          str(state), "--chq-dir", str(chq), "--source", "modbus", "--profile",
                          "sdm630", "--duration", "35", "--interval", "30"],
                         capture_output=True, text=True, timeout=90)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    pushes = [json.loads(line) for line in (chq / "pushes.jsonl").read_text().splitlines()]
    assert len(pushes) >= 2 and all(p["status"] == 200 and p["problems"] == [] for p in pushes), out
    sm = pushes[0]["body"]["siteMeters"]
    site = modbus_values.plausible_site("sdm630")
    assert sm["net_import_kw"] == site["grid_w"] / 1000, sm
    assert sm["imported_kwh"] == site["hw_import_wh"] / 1000, sm
    assert sm["exported_kwh"] == site["hw_export_wh"] / 1000, sm
    assert "production_kw" not in sm and "battery_soc" not in sm, sm
    assert "sdm630 (id 1): Eastron SDM630" in out, out


def test_simulator_reads_an_existing_port(tmp_path):
    """--modbus-port: no own peer; here a pty served by a peer holding the Huawei map from the notes
    at slave id 7 and 19200 baud (--slave, --baud)."""
    from modbus_peer import start_peer
    state, chq = tmp_path / "dev", tmp_path / "chq"
    path, stop = start_peer({7: cases()["huawei_sun2000"][1].maps()}, baud=19200)
    try:
        res = subprocess.run([sys.executable, str(ROOT / "tools" / "sim.py"), "--fresh", "--state-dir",
                              str(state), "--chq-dir", str(chq), "--source", "modbus", "--profile",
                              "huawei_sun2000", "--slave", "7", "--baud", "19200", "--modbus-port", path,
                              "--duration", "8", "--interval", "30"],
                             capture_output=True, text=True, timeout=60)
    finally:
        stop()
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert json.loads((state / "config.json").read_text())["source"]["baud"] == 19200
    pushes = [json.loads(line) for line in (chq / "pushes.jsonl").read_text().splitlines()]
    assert pushes and pushes[0]["problems"] == [], out
    assert pushes[0]["body"]["siteMeters"] == {
        "production_kw": 3.9, "net_import_kw": 0.64, "consumption_kw": 5.34, "imported_kwh": 6543.21,
        "exported_kwh": 1234.56, "battery_discharge_kw": 0.8, "battery_soc": 0.815,
        "battery_energy_kwh": 8.15}, out
    assert "huawei_sun2000 (id 7)" in out


def test_cpython_decodes_the_notes_alike():
    """The same source under CPython (one source for both interpreters): the notes' maps decode
    to the same site values as under MicroPython."""
    import asyncio
    import importlib
    for p in (str(ROOT / "host_tests" / "cpython"), str(ROOT / "firmware"), str(ROOT / "lib")):
        if p not in sys.path:
            sys.path.insert(0, p)
    modbus = importlib.import_module("app.sources.modbus")
    Site = importlib.import_module("app.core.site").Site

    class Log:
        def __init__(self):
            self.lines = []

        def info(self, m):
            self.lines.append(m)
        warn = error = info

    class Bus:
        def __init__(self, regs):
            self.regs = {3: regs["hr"], 4: regs["ir"]}

        async def read(self, slave, fc, addr, count, timeout_ms=None):
            t = self.regs[fc]
            if not any(a in t for a in range(addr, addr + count)):
                err = Exception("exception 02")
                err.code = 2
                raise err
            return memoryview(b"".join(t.get(a, 0).to_bytes(2, "big") for a in range(addr, addr + count)))

    async def decode(profile, regs, opts):
        dev = {"profile": profile, "slave": 1, "options": opts}
        src = modbus.ModbusSource({"type": "modbus", "devices": [dev]}, None, Log(), bus=Bus(regs),
                                  folder=FOLDER)
        await src.start()
        s = Site()
        await src.poll(s)
        return s

    for label, (profile, regs, expect, opts) in sorted(cases().items()):
        s = asyncio.run(decode(profile, regs.maps(), opts))
        got = {k: getattr(s, k) for k in expect}
        assert got == expect, (label, got, expect)
        assert all(type(getattr(s, k)) in (int, type(None)) for k in Site.__slots__), label
