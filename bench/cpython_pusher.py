#!/usr/bin/env python3
"""The same job as the firmware, written the obvious way for CPython (bench only): read the same
simulated meter once a second, push to Charge HQ over verified HTTPS every 30 s. tools/bench.py
compares the peak memory of this process with the firmware on the MicroPython unix port.

    python bench/cpython_pusher.py ENDPOINT CA_DER API_KEY
"""
import asyncio
import json
import pathlib
import ssl
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "host_tests" / "cpython"), str(ROOT / "firmware")]

# the simulated meter reads MicroPython's tick clock
time.ticks_ms = lambda: int(time.monotonic() * 1000)
time.ticks_diff = lambda a, b: a - b

from app.core.site import Site  # noqa: E402  (the same simulated meter as the firmware's)
from app.sources.simulated import SimulatedSource  # noqa: E402


class PrintLog:
    def info(self, msg):
        print(msg, flush=True)
    warn = error = info


def main():
    endpoint, ca_der, key = sys.argv[1:4]
    ctx = ssl.create_default_context(cadata=open(ca_der, "rb").read())
    src = SimulatedSource({"type": "simulated"}, None, PrintLog())
    asyncio.run(src.start())
    site = Site()
    imported = exported = 0
    last_push = 0
    while True:
        site.clear()
        asyncio.run(src.poll(site))
        imported += site.d_import_uwh
        exported += site.d_export_uwh
        if time.monotonic() - last_push >= 30:
            last_push = time.monotonic()
            body = {"apiKey": key, "siteMeters": {
                "production_kw": site.solar_w / 1000, "net_import_kw": site.grid_w / 1000,
                "consumption_kw": site.load_w / 1000,
                "battery_discharge_kw": (site.battery_w or 0) / 1000,
                "imported_kwh": round(imported / 1e9, 3), "exported_kwh": round(exported / 1e9, 3)}}
            req = urllib.request.Request(endpoint, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
                    print("pushed", r.status, flush=True)
            except Exception as e:  # keep going, as the firmware does
                print("push failed:", e, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
