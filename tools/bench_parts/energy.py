"""Bench figure `energy`: energy counted over a simulated day against the source's own truth
(bench/mp_energy_day.py)."""
from bench_parts.common import ROOT


def measure(env, rows, quick):
    """Energy counted over a simulated day against the source's own truth."""
    script = ROOT / "bench" / "mp_energy_day.py"
    if not script.exists():
        rows.append(("Energy error over a simulated 24 h", "0.01 %", "not measured", False,
                     "bench/mp_energy_day.py missing"))
        return
    state = env.device_dir("energy")
    res, b = env.run("bench/mp_energy_day.py", ["3600" if quick else "86400"], state)
    if res.returncode != 0 or "error_ppm" not in b:
        rows.append(("Energy error over a simulated 24 h", "0.01 %", "failed", False,
                     (res.stdout + res.stderr)[-300:]))
        return
    ppm = float(b["error_ppm"])
    rows.append(("Energy error over a simulated %s with 12 kW peaks (%s)" % (
        "24 h" if not quick else "1 h", b.get("what", "")), "0.01 %", "%.4f %%" % (ppm / 1e4),
        ppm <= 100, b.get("detail", "")))
