"""Fault part `push`: the push path (bench/fault_push.py against the fake Charge HQ): DNS, TCP
and TLS failures, 4xx/5xx answers, dropped and slow connections, each followed by a good push."""
import os
import shutil

from fault_parts.common import ROOT, Result, check_driver, run_mp


def run(tmp, n, seed):
    import fake_chargehq
    r = Result("push", "push path: DNS, TCP, TLS failures, 4xx/5xx, dropped and slow connections")
    chq = tmp / "push-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 0, out=open(os.devnull, "w"))
    dev = tmp / "push-dev"
    dev.mkdir()
    shutil.copy(ca, dev / "ca.der")
    shutil.copy(ROOT / "firmware" / "ca" / "roots.der", dev / "wrong.der")  # real roots: not this CA
    try:
        res = run_mp("bench/fault_push.py", [url, "ca.der", "wrong.der", chq / "mode", n, seed], dev)
    finally:
        srv.shutdown()
    s = check_driver(r, res)
    if s:
        kinds = {}
        for line in res.stdout.splitlines():
            if line.startswith("FAULT "):
                kinds[line.split()[1]] = kinds.get(line.split()[1], 0) + 1
        r.detail = "each followed by a good push (%d of %d delivered); kinds: %s" % (
            s["recovered"], s["n"], ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
        if s["handled"] != s["n"]:
            r.fail("%d faults went unnoticed" % (s["n"] - s["handled"]))
    return r
