# Fault driver (host only, MicroPython unix port): corrupt settings and corrupt energy records.
# - config.json: random byte flips, truncations, junk and wrong types -> config.load() never
#   raises and either accepts the file or names the problem;
# - RTC memory and the flash slots: random bit flips, truncation, random bytes -> the store
#   never trusts a corrupt record: the totals restored are the last good ones, never garbage.
#
#   micropython espsim_run.py bench/fault_state.py COUNT SEED     (ESPSIM_RESET_CAUSE=soft)
import sys
import json
import random
from app.core import config
from app.core.log import Log
from app.outputs.chargehq import ChargeHQApp as App
from app.core.persist import Store
from mptest import MemRTC  # host_tests/mp is on the fault suite's path

count, seed = int(sys.argv[1]), int(sys.argv[2])
random.seed(seed)
GOOD = {"wifi": {"ssid": "Home", "password": "secret-pass"},
        "chargehq": {"api_key": "state-key-0123456789", "push_interval_s": 60},
        "device": {"watchdog_s": 0},
        "source": {"type": "simulated", "speed": 10}}
GOOD_TEXT = json.dumps(GOOD)
JUNK = (b"\x00", b"\xff", b"{", b"}", b"\"", b"[1,", b"null", b"1e999", b"-", b"\xc3\x28", b"tru")
TYPES = ("text", 1.5, -1, None, [], {}, True, 10 ** 30, "\u202e\x00")


def mutate_bytes(raw, n):
    b = bytearray(raw)
    for _ in range(n):
        op = random.getrandbits(2)
        if op == 0 and b:
            b[random.getrandbits(16) % len(b)] ^= 1 << random.getrandbits(3)
        elif op == 1 and b:
            b = b[:random.getrandbits(16) % len(b)]
        elif op == 2:
            i = random.getrandbits(16) % (len(b) + 1)
            b = b[:i] + JUNK[random.getrandbits(8) % len(JUNK)] + b[i:]
        else:
            b = bytearray(random.getrandbits(8) for _ in range(random.getrandbits(5)))
    return bytes(b)


def mutate_types():
    d = json.loads(GOOD_TEXT)
    for _ in range(1 + random.getrandbits(2)):
        sec = ("wifi", "chargehq", "device", "source", "energy", "portal")[random.getrandbits(8) % 6]
        v = TYPES[random.getrandbits(8) % len(TYPES)]
        if random.getrandbits(1) or sec not in d:
            d[sec] = v if random.getrandbits(1) else {"push_interval_s": v, "ssid": v, "type": v}
        elif isinstance(d[sec], dict) and d[sec]:
            keys = list(d[sec])
            d[sec][keys[random.getrandbits(8) % len(keys)]] = v
    return json.dumps(d).encode()


def config_faults(n):
    unhandled = accepted = refused = 0
    for i in range(n):
        raw = mutate_types() if i % 3 == 0 else mutate_bytes(GOOD_TEXT.encode(), 1 + i % 4)
        with open("config.json", "wb") as f:
            f.write(raw)
        try:
            cfg = config.load()
            if cfg.needs_setup or cfg.errors:
                refused += 1
            else:
                accepted += 1
            cfg.get("chargehq", "push_interval_s") >= 30 or print("FAULT config: interval < 30")
        except Exception as e:
            unhandled += 1
            print("FAULT config UNHANDLED %s: %s (%r)" % (type(e).__name__, e, raw[:60]))
    return unhandled, accepted, refused


def record_faults(n):
    cfg = config.validate(json.loads(GOOD_TEXT))
    log = Log(echo=False)
    rtc = MemRTC()
    app = App(cfg, log)
    store = Store(log, rtc=rtc)
    store.restore(app)
    app.energy.add(7654321000, 1234567000)  # 7654 Wh in, 1234 Wh out
    store.checkpoint(app, "bench")            # flash holds it
    app.energy.add(1000000000, 0)             # RTC memory is 1000 Wh newer
    store.on_poll(app)
    good_rtc = rtc.data
    slot_files = store.paths
    good_flash = [store.fs.read(p) for p in slot_files]
    flash_wh = [7654, 1234]
    rtc_wh = [8654, 1234]
    unhandled = trusted_garbage = 0
    for i in range(n):
        rtc.data = good_rtc
        for p, raw in zip(slot_files, good_flash):
            if raw is not None:
                with open(p, "wb") as f:
                    f.write(raw)
        target = i % 3  # 0: RTC memory, 1: a flash slot, 2: both
        if target in (0, 2):
            rtc.data = mutate_bytes(good_rtc, 1 + i % 3)
        if target in (1, 2):
            for p in slot_files:
                raw = store.fs.read(p)
                if raw:
                    with open(p, "wb") as f:
                        f.write(mutate_bytes(raw, 1 + i % 3))
        a2 = App(cfg, log)
        try:
            Store(log, rtc=rtc).restore(a2)
        except Exception as e:
            unhandled += 1
            print("FAULT record UNHANDLED %s: %s" % (type(e).__name__, e))
            continue
        wh = list(a2.energy.wh)
        if wh not in (rtc_wh, flash_wh, [0, 0]):
            trusted_garbage += 1
            print("FAULT record: restored %r (good: %r or %r)" % (wh, rtc_wh, flash_wh))
    return unhandled, trusted_garbage


half = count // 2
cu, ca, cr = config_faults(half)
ru, rg = record_faults(count - half)
print("FAULTS n=%d handled=%d unhandled=%d config_accepted=%d config_refused=%d "
      "records_garbage_trusted=%d" % (count, count - cu - ru - rg, cu + ru, ca, cr, rg))
