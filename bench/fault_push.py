# Fault driver (host only, MicroPython unix port): the push path against network and server
# faults, each followed by a good push that must get through (recovery).
#
#   micropython espsim_run.py bench/fault_push.py ENDPOINT CA_FILE WRONG_CA MODE_FILE COUNT SEED
# MODE_FILE is the fake Charge HQ's `mode` file (tools/fake_chargehq.py reads it per request).
# Prints "FAULT kind outcome" per fault and "FAULTS n=.. handled=.. unhandled=.. recovered=..".
import sys
import asyncio
import random
from app.core import config
from app.core.log import Log
from app.outputs.chargehq import ChargeHQApp as App

endpoint, ca, wrong_ca, mode_file = sys.argv[1:5]
count, seed = int(sys.argv[5]), int(sys.argv[6])
random.seed(seed)
port = endpoint.split("//")[1].split("/")[0].split(":")[1]
cfg = config.validate({"wifi": {"ssid": "x"}, "source": {"type": "simulated"},
                       "chargehq": {"api_key": "fault-key-0123456789", "endpoint": endpoint,
                                    "ca_file": ca, "timeout_s": 5},
                       "device": {"watchdog_s": 0}})
ch = cfg.section("chargehq")
app = App(cfg, Log(echo=False))

# (kind, what to change, how long the fault costs at most)
KINDS = ("dns", "tcp", "tls", "http400", "http401", "http429", "http500", "http503", "close",
         "badpath", "slow")


def set_mode(text):
    with open(mode_file, "w") as f:
        f.write(text)


def inject(kind):
    ch["endpoint"], ch["ca_file"] = endpoint, ca
    set_mode("ok")
    if kind == "dns":
        ch["endpoint"] = "https://no-such-host.invalid/api/public/push-solar-data"
    elif kind == "tcp":
        ch["endpoint"] = "https://127.0.0.1:1/api/public/push-solar-data"
    elif kind == "tls":
        ch["ca_file"] = wrong_ca
    elif kind.startswith("http"):
        set_mode("status " + kind[4:])
    elif kind == "close":
        set_mode("close")
    elif kind == "badpath":
        ch["endpoint"] = "https://localhost:%s/wrong/path" % port
    elif kind == "slow":
        set_mode("slow 6")  # longer than timeout_s: the request must give up in time
    elif kind == "stall":
        set_mode("stall")


def clear():
    ch["endpoint"], ch["ca_file"] = endpoint, ca
    set_mode("ok")


async def send():
    app.pusher.last_attempt_up = None  # faults harness: the fake server allows any gap
    app.pusher._first_wait_ms = -(1 << 29)
    app.pusher.last_end_up = None
    body, _ = app.build_body()
    return await app.pusher.send(body)


async def main():
    await app._start_source()
    scratch = app._scratch
    n = handled = unhandled = recovered = 0
    kinds = list(KINDS)
    for i in range(count):
        kind = kinds[random.getrandbits(16) % len(kinds)] if i >= len(kinds) else kinds[i]
        if kind == "slow" and random.getrandbits(3):
            kind = "close"  # slow faults cost seconds each: keep them to one in eight
        scratch.clear()
        await app.source.poll(scratch)
        app._accept(scratch)
        inject(kind)
        n += 1
        try:
            ok = await send()
            if ok:
                print("FAULT", kind, "not-noticed")
            else:
                handled += 1
                print("FAULT", kind, "handled:", app.pusher.last_result)
        except Exception as e:
            unhandled += 1
            print("FAULT", kind, "UNHANDLED %s: %s" % (type(e).__name__, e))
        clear()
        try:
            if await send():
                recovered += 1
            else:
                print("FAULT", kind, "NOT RECOVERED:", app.pusher.last_result)
        except Exception as e:
            unhandled += 1
            print("FAULT", kind, "UNHANDLED on recovery %s: %s" % (type(e).__name__, e))
    print("FAULTS n=%d handled=%d unhandled=%d recovered=%d" % (n, handled, unhandled, recovered))


asyncio.run(main())
