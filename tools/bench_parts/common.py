"""What every figure of `make bench` (tools/bench.py) shares: the compiled firmware tree, the
device folders and the fake Charge HQ (Env), the sources measured and their hardware stand-ins,
simulated devices, and the log."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host_tests"))
from mp import MICROPYTHON, MPY_CROSS, compile_stand_ins  # noqa: E402,F401  (the test harness's)
KB = 1024
SIM_ARGV = []  # --micropython: the interpreter of the simulated devices (boot, reboots, period)


def log(msg):
    print("[bench] " + msg, flush=True)


# --- compiled firmware (as deployed: .mpy) ------------------------------------------------------
def compile_tree(dest):
    """mpy-cross every module of firmware/ and lib/ into dest; -> {relative path: size}."""
    sizes = {}
    for base in ("firmware", "lib"):
        for src in sorted((ROOT / base).rglob("*.py")):
            rel = src.relative_to(ROOT / base)
            if rel.parts[0] in ("boot.py", "main.py", "manifest.py"):
                continue
            out = dest / rel.with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([MPY_CROSS, "-o", str(out), str(src)], check=True, cwd=ROOT)
            sizes[str(pathlib.Path(base) / rel.with_suffix(".mpy"))] = out.stat().st_size
    return sizes


def microdot_mpy(dest):
    """Compile the installed Microdot into dest/microdot; -> total size or None."""
    import importlib.util
    spec = importlib.util.find_spec("microdot")
    if spec is None or not spec.submodule_search_locations:
        return None
    src_dir = pathlib.Path(list(spec.submodule_search_locations)[0])
    total = 0
    for src in src_dir.glob("*.py"):
        out = dest / "microdot" / (src.stem + ".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([MPY_CROSS, "-o", str(out), str(src)], check=True)
        total += out.stat().st_size
    return total


class Env:
    """A compiled firmware tree, a device folder and a fake Charge HQ, shared by the figures."""

    def __init__(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
        self.mpy = self.tmp / "mpy"
        self.sizes = compile_tree(self.mpy)
        self.microdot = microdot_mpy(self.mpy)
        self.stubs = compile_stand_ins(self.tmp / "stubs")  # as .mpy, like the firmware
        import fake_chargehq
        self.srv, self.url, self.ca = fake_chargehq.serve(str(self.tmp / "chq"), 0, 0,
                                                          out=open(os.devnull, "w"))

    def device_dir(self, name):
        d = self.tmp / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        shutil.copy(self.ca, d / "ca.der")
        for sub in ("boards", "firmware/profiles"):
            if (ROOT / sub).exists():
                shutil.copytree(ROOT / sub, d / pathlib.Path(sub).name)
        return d

    def env(self, state, extra=None):
        env = dict(os.environ)
        # compiled modules first (as on the device), then the stand-ins
        env["MICROPYPATH"] = ":".join([".frozen", str(self.mpy), str(self.stubs)])
        env["ESPSIM_STATE"] = str(state)
        env["ESPSIM_RESET_CAUSE"] = "power"
        env.update(extra or {})
        return env

    def run(self, script, args, state, heap=None, extra_env=None, timeout=900, micropython=None):
        cmd = [micropython or MICROPYTHON]
        if heap:
            cmd += ["-X", "heapsize=%d" % heap]
        cmd += [str(self.stubs / "espsim_run.py"), str(ROOT / script)] + [str(a) for a in args]
        try:
            res = subprocess.run(cmd, cwd=state, env=self.env(state, extra_env), capture_output=True,
                                 text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:  # at a heap's edge the collector can thrash: a fail
            res = subprocess.CompletedProcess(cmd, None, (e.stdout or b"").decode("utf-8", "replace")
                                              if isinstance(e.stdout, bytes) else (e.stdout or ""),
                                              "timed out after %d s" % timeout)
        return res, dict(bench_lines(res.stdout))

    def close(self):
        self.srv.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


def bench_lines(out):
    """The `BENCH name value` lines a bench script printed -> (name, value) pairs."""
    for line in out.splitlines():
        if line.startswith("BENCH "):
            parts = line.split(None, 2)
            yield parts[1], parts[2] if len(parts) > 2 else ""


# --- the sources measured -----------------------------------------------------------------------
def sources(env):
    """-> [(label, source config, board dict or None, extra env, stop callable)]."""
    out = [("simulated", {"type": "simulated", "speed": 60}, None, {}, None)]
    board_file = ROOT / "boards" / "circuitsetup_split.json"
    if (ROOT / "firmware" / "app" / "sources" / "ct.py").exists() and board_file.exists():
        import sim_config
        src = sim_config.default_source("atm90e32", None)
        # (long or multi-line arguments crash the PyPI micropython launcher: boards go by name)
        out.append(("ATM90E32 (split-phase board, chip model)", src, "circuitsetup_split",
                    {"ESPSIM_ATM90E32": "day"}, None))
    if (ROOT / "firmware" / "app" / "sources" / "modbus.py").exists() \
            and (ROOT / "tools" / "modbus_peer.py").exists():
        import sim_config
        src = sim_config.default_source("modbus", None)
        out.append(("Modbus RTU (SDM630 on a pty, pymodbus peer)", src, None, None, "sdm630"))
    return out


def with_source(label, src, board, extra_env, peer_profile, fn):
    """Run fn(src, board, extra_env) with the source's hardware stand-in running."""
    stop = None
    extra = dict(extra_env or {})
    if extra.get("ESPSIM_ATM90E32") == "day":  # the chip in its own process, as on a board
        from atm90e32_peer import start_peer as start_chip
        chip_env, stop = start_chip(ROOT)
        extra.update(chip_env)
    elif peer_profile:
        from modbus_peer import start_peer
        dev = (src.get("devices") or [{}])[0]
        path, stop = start_peer(peer_profile, dev.get("slave", 1), src.get("baud", 9600))
        extra["ESPSIM_UART%d" % src.get("uart", 1)] = path
    try:
        return fn(src, board, extra)
    finally:
        if stop:
            stop()


# --- whole firmware in the simulator -------------------------------------------------------------
def sim_device(env, name, interval=60, key=None, source=None, heap=None):
    """The unchanged firmware (boot.py, main.py) under the stand-ins, as tools/sim.py runs it,
    output captured (sim.Device with capture=True), no reading lines in its log."""
    argv = ["--interval", str(interval), "--api-key", key or ("bench-" + name + "-key")] + SIM_ARGV
    argv += (["--source", source] if source else []) + (["--heap", str(heap)] if heap else [])
    import sim
    return sim.new_device(env.tmp / name, env.url, open(env.ca, "rb").read(), argv,
                           {"device": {"report_s": 0}})


def pushes(env):
    """Every push the fake Charge HQ recorded, oldest first."""
    path = env.tmp / "chq" / "pushes.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]

