#!/usr/bin/env python3
"""The status page's heap on the ESP32 shape: runs bench/mp_status_heap.py (the 24 h history ring,
the view module, one render of the live part, the day's chart and /api/history) on the 32-bit
unix port (tools/unix32.py, -X heapsize=114688) with the firmware as .mpy, and prints the figures.

    .venv/bin/python tools/status_heap.py [--micropython BINARY]
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host_tests"))
sys.path.insert(0, str(ROOT / "tools"))


def measure(binary, heap=114688):
    """-> {figure: int} from one run."""
    from mp import MPY_CROSS, mp_env
    import build_microdot
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        for p in list((ROOT / "firmware" / "app").rglob("*.py")) + [ROOT / "bench" / "mp_status_heap.py"]:
            rel = p.relative_to(ROOT / "firmware") if "firmware" in p.parts else pathlib.Path(p.name)
            out = d / rel.with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([MPY_CROSS, "-o", str(out), str(p)], check=True)
        (d / "run.py").write_text("import mp_status_heap\n")
        env = mp_env(d, extra_path=[str(d), str(build_microdot.ensure())])
        res = subprocess.run([binary, "-X", "heapsize=%d" % heap, str(d / "run.py")], cwd=d, env=env,
                             capture_output=True, text=True, timeout=120)
    line = [x for x in res.stdout.splitlines() if x.startswith("STATUS-HEAP")]
    if res.returncode or not line:
        raise SystemExit("status_heap: the run failed:\n%s\n%s" % (res.stdout[-2000:], res.stderr[-2000:]))
    return dict((k, int(v) if v.lstrip("-").isdigit() else v) for k, v in
                (kv.split("=") for kv in line[0].split()[1:]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--micropython", help="interpreter (default: the 32-bit plain build, tools/unix32.py)")
    a = ap.parse_args(argv)
    binary = a.micropython
    if not binary:
        import unix32
        binary = unix32.ensure("plain")
    for k, v in measure(binary).items():
        print("%-26s %s" % (k, v))


if __name__ == "__main__":
    main()
