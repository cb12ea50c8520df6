# The web server under MicroPython, driven from CPython by host_tests/web/test_portal.py and
# test_portal_browser.py. argv: PORT MODE [debug]; MODE = setup (unprovisioned portal) | status
# (a running App). Prints "PORTAL-READY <port>" once listening. Test-only routes: /_test/mem (the
# live heap), /_test/lag (with `lag`: the longest event-loop stall since the last ask, and the
# connections dropped to make room) and /_test/finish (runs fx_portal_checks.py, prints PORTAL-HEAP and MPTEST-DONE,
# stops). Kept small: the heap it uses is counted in the portal's figure.
import asyncio
import gc
import sys
import network
from app.core import config
from app.web import portal

gc.collect()
BASE = gc.mem_alloc()
PORT = int(sys.argv[1])
MODE = sys.argv[2]
DEBUG = "debug" in sys.argv
HOSTILE = [(b"<script>alert('x')</script>", b"\x01\x02\x03\x04\x05\x06", 1, -40, 0, False),
           (b'"><img src=x onerror=alert(2)>', b"\x01\x02\x03\x04\x05\x07", 1, -45, 3, False),
           (b"\xff\xfe\x00bad\nutf8", b"\x01\x02\x03\x04\x05\x08", 1, -90, 3, False)]
lines = []
saved = []
heap = [0, 0, 0]  # most in use before collecting, most live after, requests
stop = []  # not an asyncio.Event: that module costs 1 KB of the heap being measured


class Log:  # like mptest.ListLog (mptest loads only at the end)
    secrets = []

    def info(self, msg):
        lines.append(msg)
        print(msg)

    warn = error = info

    def recent(self):  # app.log.Log's, for the /log page
        return [(0, "I", m) for m in lines[-50:]]


def on_saved(cfg, joined):
    saved.append((cfg.get("wifi", "ssid"), joined))
    print("ON-SAVED", cfg.get("wifi", "ssid"), joined)


def measure(req, res):
    heap[0] = max(heap[0], gc.mem_alloc())
    gc.collect()
    heap[1] = max(heap[1], gc.mem_alloc())
    heap[2] += 1
    if DEBUG:
        print("HEAP", req.path if req else None, gc.mem_alloc(), [k for k in sys.modules if k[:4] == "app."])
    return res


async def main():
    log = Log()
    cfg = config.load()
    app = wlan = None
    if MODE == "setup":
        if not cfg.needs_setup:
            raise SystemExit("the set-up test must start unprovisioned")
        network.WLAN(network.AP_IF).active(True)
        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        real_scan = wlan.scan
        wlan.scan = lambda: real_scan() + HOSTILE  # hostile network names in the scan list
    else:
        if cfg.needs_setup:
            raise SystemExit("status mode must start provisioned: %s" % cfg.problem)
        from app.outputs.chargehq import ChargeHQApp as App
        app = App(cfg, log)
        app.reset_cause = "power-on"
        app.wifi = network.WLAN(network.STA_IF)
        app.wifi.active(True)
        app.wifi.connect("HomeNet", "pw")
        if "day" in sys.argv:  # up a day, with a day of history (screenshots)
            import fx_day
            fx_day.fill(app, log)
        if "ap" in sys.argv:  # the set-up network up too (a fallback while the app runs)
            network.WLAN(network.AP_IF).active(True)
            from app.web.setup_mode import SetupAP

            class Sup:  # app.wifi_supervisor.Supervisor, as far as the pages look
                def status(self):
                    return {"reason": "signal lost", "down_s": 700, "outages": 1, "setup_ap": True}
            app.wifi_sup = Sup()
            app.wifi_sup.setup = ap = SetupAP(cfg, log, http=False, dns=False)
            ap.active = True  # as open() leaves it, without starting a second web server
            ap.ip = "127.0.0.1"
    web = portal.make(cfg, log, app, PORT, wlan, on_saved)
    web.after_request(measure)
    web.after_error_request(measure)
    failed = []

    def mem(req):
        gc.collect()
        return "%d" % gc.mem_alloc()

    def finish(req):
        try:
            import fx_portal_checks
            fx_portal_checks.run(MODE, saved, lines)
        except Exception as e:
            sys.print_exception(e)
            failed.append(e)
        stop.append(1)
        return "failed" if failed else "bye"

    web.on("/_test/mem", mem)
    web.on("/_test/finish", finish)

    tasks = [asyncio.create_task(portal.run(web, "127.0.0.1", PORT, log))]
    if "lag" in sys.argv:  # how long the event loop was held at most (test_security)
        import time
        gap = [0]

        async def ticker():
            last = time.ticks_ms()
            while True:
                await asyncio.sleep_ms(5)
                now = time.ticks_ms()
                gap[0] = max(gap[0], time.ticks_diff(now, last))
                last = now
        tasks.append(asyncio.create_task(ticker()))

        def lag(req):
            most, gap[0] = gap[0], 0
            return "%d %d" % (most, getattr(web, "dropped", -1))
        web.on("/_test/lag", lag)
    if DEBUG:
        async def watch():
            while True:
                await asyncio.sleep(2)
                gc.collect()
                print("MEM", gc.mem_alloc(), "conns", web.conns, [k for k in sys.modules if k[:4] == "app."])
        tasks.append(asyncio.create_task(watch()))
    if app is not None:
        tasks.append(asyncio.create_task(app.run()))
    await asyncio.sleep_ms(50)
    gc.collect()
    print("PORTAL-READY", PORT, "heap at import", BASE, "in use", gc.mem_alloc(), "free", gc.mem_free())
    while not stop:
        await asyncio.sleep_ms(50)
    await asyncio.sleep_ms(100)
    gc.collect()
    print("PORTAL-HEAP mode=%s requests=%d base=%d max_live=%d max_alloc=%d free_now=%d" % (
        MODE, heap[2], BASE, heap[1], heap[0], gc.mem_free()))
    if failed:
        raise SystemExit(1)
    from mptest import done
    done()
    for t in tasks:
        t.cancel()


asyncio.run(main())
