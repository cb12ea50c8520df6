"""Fault part `boot` of `make faults` (tools/faults.py): every state file the firmware reads at
boot is mutated in turn, and the whole firmware (boot.py, main.py on a simulated chip) must come
up every time, in running mode (a reading) or in set-up mode (the set-up network open), without
a traceback. Files: config.json, config.json.tmp (config.json gone: a cut in the middle of a
save), wifi_ok.txt, ap_key.txt, energy.0, energy.1 and the board file. Mutations: bit flips,
truncation, random bytes, empty, bytes that are not UTF-8, JSON nested 8000 deep, wrong JSON
types, and a file larger than the interpreter's whole heap."""
import json
import os
import random
import shutil
import time

from fault_parts.common import Result, make_device

HEAP = 512 * 1024          # the interpreter's heap for these boots (the big file is larger)
BIG = HEAP + 256 * 1024
BOARD = "circuitsetup_split"
FILES = ("config.json", "config.json.tmp", "wifi_ok.txt", "ap_key.txt", "energy.0", "energy.1",
         "boards/%s.json" % BOARD)
KINDS = ("flip", "truncate", "random", "empty", "not-utf8", "deep", "types", "huge")
# first the files and faults that stopped every boot before issue 19, then every other pair
FIRST = (("config.json", "deep"), ("config.json", "huge"), ("config.json", "not-utf8"),
         ("wifi_ok.txt", "not-utf8"), ("ap_key.txt", "not-utf8"), ("config.json.tmp", "deep"),
         ("boards/%s.json" % BOARD, "deep"), ("energy.0", "huge"))
PAIRS = FIRST + tuple((f, k) for k in KINDS for f in FILES if (f, k) not in FIRST)
# running (a reading or a push line: a mutated config may switch the reading lines off) /
# set-up mode (network open)
RUNNING = ("] reading: ", "] pushed (")
UP = (RUNNING, "set-up network \"")


def mutate(raw, kind, rng):
    if kind == "flip" and raw:
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "truncate" and raw:
        return raw[:rng.randrange(len(raw))]
    if kind == "random":
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    if kind == "empty":
        return b""
    if kind == "not-utf8":
        i = rng.randrange(len(raw) + 1)
        return raw[:i] + rng.choice((b"\xff\xfe", b"\xc3\x28", b"\x80\xff")) + raw[i:]
    if kind == "deep":
        return rng.choice((b"[", b"{\"a\":")) * 8000
    if kind == "types":
        return json.dumps(rng.choice((None, 1, "text", [1, 2], {"wifi": 5}, {"source": []},
                                      {"chargehq": {"api_key": 12}}))).encode()
    return b" " * BIG  # huge: more than the whole heap (and "flip"/"truncate" of an absent file)


def run(tmp, n, seed):
    import fake_chargehq
    srv, url, ca = fake_chargehq.serve(str(tmp / "boot-chq"), 0, 0, out=open(os.devnull, "w"))
    try:
        return _boots(tmp, n, seed, ca, url)
    finally:
        srv.shutdown()


def _boots(tmp, n, seed, ca, url):
    r = Result("boot", "every state file read at boot mutated (%s); the firmware must come up in "
                       "running or set-up mode" % ", ".join(FILES))
    rng = random.Random(seed)
    dev = make_device(tmp, "boot-dev", url, ca, "boot-key-0123456789-abcd", interval=30,
                      extra_cfg={"device": {"board": BOARD, "watchdog_s": 0}})
    dev.a.heap = HEAP
    fs = dev.fs
    # a first clean boot writes the files the device keeps (energy slots, wifi_ok.txt, ap_key.txt)
    dev.start("power")
    t0 = time.time()
    while time.time() - t0 < 30 and not any(m in l for _, l in dev.lines for m in RUNNING):
        time.sleep(0.1)
    dev.stop(10)
    golden = tmp / "boot-golden"
    shutil.copytree(fs, golden)
    (golden / "ap_key.txt").write_text("golden-ap-key-23456")  # the device's own set-up password
    modes = {"running": 0, "set-up": 0}
    kept_bad = 0
    for i in range(n):
        shutil.rmtree(fs)
        shutil.copytree(golden, fs)
        name, kind = PAIRS[i] if i < len(PAIRS) else (rng.choice(FILES), rng.choice(KINDS))
        path = fs / name
        src = fs / "config.json" if name == "config.json.tmp" else path
        raw = src.read_bytes() if src.exists() else b""
        if name == "config.json.tmp":
            os.remove(fs / "config.json")
        path.write_bytes(mutate(raw, kind, rng))
        if name == "ap_key.txt" and i % 2:  # the set-up network opens during the first join too
            (fs / ".wifi").write_text("no_ap")
            cfg = json.loads((fs / "config.json").read_text())
            cfg.setdefault("portal", {})["ap_after_new_s"] = 0
            (fs / "config.json").write_text(json.dumps(cfg))
            if (fs / "wifi_ok.txt").exists():
                os.remove(fs / "wifi_ok.txt")
        start = len(dev.lines)
        dev.start(rng.choice(("power", "soft")))
        up = None
        t0 = time.time()
        while time.time() - t0 < 40 and dev.alive():
            lines = [l for _, l in dev.lines[start:]]
            if any(m in l for l in lines for m in RUNNING):
                up = "running"
                break
            if any(UP[1] in l and "is open" in l for l in lines):
                up = "set-up"
                break
            time.sleep(0.05)
        # the boot is judged: end it with a power cut (a Ctrl-C by SIGINT can land inside a
        # collection on the unix port and print 'heap is locked', which no ESP32 does)
        dev.kill()
        lines = [l for _, l in dev.lines[start:]]
        r.faults += 1
        tb = [l for l in lines if "Traceback" in l or "Error:" in l and l.startswith(("MemoryError", "UnicodeError"))]
        if tb:
            r.unhandled += 1
            r.fail("%s %s: %s" % (name, kind, " / ".join(lines[-6:])[:300]))
        elif up is None:
            r.fail("%s %s: did not come up: %s" % (name, kind, " / ".join(lines[-6:])[:300]))
        else:
            modes[up] += 1
        if any(".bad" in l for l in lines):
            kept_bad += 1
        if os.environ.get("FAULTS_DEBUG"):
            print("[boot] %s %s -> %s: %s" % (name, kind, up, " / ".join(
                l for l in lines if ".bad" in l or "needs set-up" in l or "config:" in l or "energy:" in l)[:300]))
    r.detail = ("%d boots: %d in running mode, %d in set-up mode; %d times the bad file was kept as "
                ".bad with a message" % (r.faults, modes["running"], modes["set-up"], kept_bad))
    return r
