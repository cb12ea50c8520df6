# app.wifi (join, reasons), app.wifi_supervisor and app.setup_mode under MicroPython against the
# network stand-in, with the state file .wifi switched while running: outages, router reboots,
# wrong passwords, the set-up network opening after the fallback time (sooner for a network that
# never worked), staying out of the way while a phone uses it, closing when idle or healed.
import asyncio
import os
import socket
import time
import _espsim
import network
import mptest
from mptest import ListLog
from app.system import wifi
from app.system import wifi_supervisor
from app.web import setup_mode
from app.core import config


def mode(m):
    _espsim.write_file(".wifi", m.encode())


def stations(n):
    _espsim.write_file(".ap_stations", str(n).encode())


async def until(cond, max_ms=8000, what="condition"):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > max_ms:
            raise mptest.CheckFailed("gave up waiting for: " + what)
        await asyncio.sleep_ms(10)


def has(log, text):
    return any(text in line for line in log.lines)


def count(log, text):
    return sum(1 for line in log.lines if text in line)


# a port of our own (the unix port's sockets have no getsockname to learn an ephemeral one)
DNS_PORT = 20000 + int.from_bytes(os.urandom(2), "big") % 40000


def cfg_with(**portal):
    raw = {"portal": {"dns_port": DNS_PORT}, "source": {"type": "simulated"},
           "chargehq": {"api_key": "k"}, "wifi": {"ssid": "HomeNet", "password": "pw"}}
    raw["portal"].update(portal)
    c = config.validate(raw)
    mptest.eq(c.errors, [], "test config")
    return c


FAST = dict(join_timeout_ms=150, check_ms=40, backoff_min_ms=30, backoff_max_ms=120)


def sup_for(log, setup, ssid="HomeNet", **kw):
    args = dict(FAST)
    args.update(kw)
    return wifi_supervisor.Supervisor(ssid, "pw", log, "meter", setup, **args)


async def t_join_reasons():
    for m, want in (("wrong_password", "wrong password"), ("no_ap", "network not found")):
        mode(m)
        sta, why = await wifi.join("HomeNet", "pw", "meter", 2000)
        mptest.eq(why, want, "join reason for " + m)
        mptest.check(not sta.isconnected(), "not connected")
    mode("down")
    sta, why = await wifi.join("HomeNet", "pw", None, 200)
    mptest.check(why.startswith("no connection after 0 s"), why)
    mptest.eq(sta.status(), network.STAT_IDLE, "a timed-out attempt is stopped (disconnect)")
    mode("ok")
    sta, why = await wifi.join("HomeNet", "pw", None, 2000)
    mptest.eq(why, None, "joined")
    mptest.check(sta.isconnected(), "connected")
    sta2, why = await wifi.join("HomeNet", "pw", None, 2000)
    mptest.check(sta2 is sta and why is None, "already joined: nothing to do")
    mptest.eq(wifi.reason(202), "wrong password", "reason 202")
    mptest.eq(wifi.reason(15), "handshake timeout (wrong password?)", "reason 15")
    mptest.eq(wifi.reason(9999), "status 9999", "unknown status")
    sta.disconnect()


async def t_outage_backoff_ap_and_heal():
    """Provisioned and known network: outages heal, a long one opens the set-up network, the
    station keeps retrying while it is up and the router's return closes it again."""
    mode("ok")
    wifi.remember("HomeNet", "pw")
    log = ListLog()
    ap_cfg = cfg_with()
    said = []
    setup = setup_mode.SetupAP(ap_cfg, log, http=False, say=said.append)
    sup = sup_for(log, setup, ap_after_ms=600, ap_new_ms=50, idle_close_ms=3000)
    mptest.check(sup.worked, "known network")
    task = asyncio.create_task(sup.run())
    await until(lambda: sup.up, what="first join")
    # many short outages a day: each heals, none opens the set-up network
    for k in range(3):
        mode("down")
        await until(lambda: not sup.up, what="outage noticed")
        await asyncio.sleep_ms(100)
        mode("ok")
        await until(lambda: sup.up, what="rejoined")
    mptest.eq(sup.outages, 3, "three outages counted")
    mptest.eq(setup.opens, 0, "short outages: no set-up network")
    mptest.eq(count(log, "Wi-Fi connection to HomeNet lost (signal lost)"), 3, "lost lines with reason: %r" % log.lines)
    # a long outage: backoff, then the set-up network opens
    mode("down")
    await until(lambda: setup.active, what="set-up network opens")
    ap = network.WLAN(network.AP_IF)
    mptest.check(ap.active(), "AP interface on")
    mptest.eq(ap.config("essid"), "ChargeHQ-Meter-123456", "AP name with the chip's suffix")
    mptest.eq(ap.config("security"), network.AUTH_WPA2_PSK, "WPA2")
    mptest.eq(said, ['set-up network "ChargeHQ-Meter-123456": WPA2 password ' + setup.password],
              "password on the serial console")
    mptest.check(not has(log, setup.password), "... and not in the log ring")
    mptest.check(has(log, "opening the set-up network, still retrying HomeNet"), "fallback line")
    mptest.check(count(log, "cannot join HomeNet: network not found") + count(log, "cannot join HomeNet: no connection")
                 >= 2, "several attempts before the AP")
    mptest.eq(sup.backoff_ms, 120, "backoff doubled up to its cap (30, 60, 120 ms)")
    # the station keeps trying while the set-up network is up (nobody on it)
    before = sup.failures
    await until(lambda: sup.failures >= before + 2, what="retries while the AP is up")
    mptest.check(setup.active, "AP still up")
    # the router comes back: the station rejoins by itself and the set-up network closes
    mode("ok")
    await until(lambda: sup.up, what="healed")
    # (close() marks the network closed, lets its tasks unwind, then switches the AP off)
    await until(lambda: not setup.active and not ap.active(), what="set-up network closed after healing")
    mptest.check(not ap.active(), "AP interface off")
    mptest.check(has(log, "HomeNet is back: closing the set-up network"), "healed line")
    mptest.eq(sup.backoff_ms, 30, "backoff back to its start after the heal")
    mptest.eq(setup.dns, None, "DNS stopped")
    st = sup.status()
    mptest.check(st["connected"] and st["reason"] is None and not st["setup_ap"], "status: %r" % st)
    task.cancel()
    await asyncio.sleep_ms(0)


async def t_quiet_log_in_long_outages():
    """A long outage logs its first attempts, then stays quiet (one line per 10 minutes); the next
    outage logs again."""
    mode("no_ap")
    log = ListLog()
    sup = sup_for(log, None, backoff_min_ms=10, backoff_max_ms=20)
    task = asyncio.create_task(sup.run())
    await until(lambda: sup.failures >= 10, what="ten attempts")
    mptest.eq(count(log, "cannot join HomeNet: network not found"), 3, "first three attempts logged")
    mptest.eq(sup.status()["reason"], "network not found", "reason kept")
    mode("ok")
    await until(lambda: sup.up, what="up")
    mode("no_ap")
    await until(lambda: sup.failures >= 14, what="next outage")
    mptest.eq(count(log, "cannot join HomeNet: network not found"), 6, "a new outage is logged again")
    task.cancel()
    await asyncio.sleep_ms(0)


async def t_open_on_request():
    """Console `portal` while the home network is fine: the set-up network opens, and closes
    after idle_close (not the short after-healing grace)."""
    mode("ok")
    log = ListLog()
    setup = setup_mode.SetupAP(cfg_with(), log, http=False, dns=False)
    sup = sup_for(log, setup, idle_close_ms=400)
    task = asyncio.create_task(sup.run())
    await until(lambda: sup.up, what="joined")
    sup.open_setup_now()
    await until(lambda: setup.active, what="opened on request")
    mptest.check(has(log, "opening the set-up network on request"), "request line")
    await until(lambda: not setup.active, what="closed when unused")
    mptest.check(has(log, "set-up network unused for"), "idle line")
    mptest.check(sup.up and sup.failures == 0, "the home network was never dropped")
    task.cancel()
    await asyncio.sleep_ms(0)


async def t_never_worked_opens_sooner():
    mode("down")
    try:
        os.remove("wifi_ok.txt")
    except OSError:
        pass
    log_new, log_old = ListLog(), ListLog()
    new = setup_mode.SetupAP(cfg_with(), log_new, http=False, dns=False)
    sup_new = sup_for(log_new, new, ssid="NewNet", ap_after_ms=60000, ap_new_ms=200, idle_close_ms=60000)
    wifi.remember("OldNet", "pw")
    old = setup_mode.SetupAP(cfg_with(), log_old, http=False, dns=False)
    sup_old = sup_for(log_old, old, ssid="OldNet", ap_after_ms=60000, ap_new_ms=200, idle_close_ms=60000)
    mptest.check(not sup_new.worked and sup_old.worked, "one new, one known network")
    mptest.check(not wifi.known("OldNet", "a new password"), "a new password has not worked yet")
    name, digest = open("wifi_ok.txt").read().split("\n")
    mptest.check(name == "OldNet" and len(digest) == 16 and all(c in "0123456789abcdef" for c in digest),
                 "name and a digest on flash, not the password: %r" % digest)
    t1 = asyncio.create_task(sup_new.run())
    t2 = asyncio.create_task(sup_old.run())
    await until(lambda: new.active, what="never-worked network: set-up network soon")
    mptest.check(not old.active, "known network: still waiting its (longer) time")
    t1.cancel()
    t2.cancel()
    await asyncio.sleep_ms(0)
    await new.close()


async def t_wrong_password_and_phone_on_ap():
    mode("wrong_password")
    try:
        os.remove("wifi_ok.txt")
    except OSError:
        pass
    stations(0)
    log = ListLog()
    setup = setup_mode.SetupAP(cfg_with(), log, http=False, dns=False)
    sup = sup_for(log, setup, ap_after_ms=60000, ap_new_ms=100, idle_close_ms=300)
    task = asyncio.create_task(sup.run())
    await until(lambda: setup.active, what="set-up network for a wrong password")
    mptest.eq(sup.status()["reason"], "wrong password", "readable reason")
    mptest.check(has(log, "cannot join HomeNet: wrong password"), "reason on the console")
    # a phone joins the set-up network: no scans (they would drop it), no idle close
    stations(1)
    await asyncio.sleep_ms(60)
    before = sup.failures
    steps = [0]
    real_step = sup.step

    async def counted():
        steps[0] += 1
        return await real_step()
    sup.step = counted
    await asyncio.sleep_ms(700)
    mptest.eq(sup.failures, before, "no join attempts while a phone uses the set-up network")
    mptest.check(steps[0] <= 700 // 40 + 3, "waiting calmly meanwhile (%d looks in 700 ms)" % steps[0])
    mptest.check(setup.active, "not closed while in use")
    # the phone leaves: attempts resume; unused for idle_close -> closes, reopens later
    stations(0)
    await until(lambda: sup.failures > before, what="attempts resume")
    await until(lambda: not setup.active, what="idle close")
    mptest.check(has(log, "it opens again if HomeNet stays away"), "idle close line")
    await until(lambda: setup.active and setup.opens == 2, what="reopens while the network stays away")
    task.cancel()
    await asyncio.sleep_ms(0)
    await setup.close()


async def t_setup_dns():
    """The set-up network's DNS answers with the AP's address, counts as use, and the port is
    free again after closing."""
    log = ListLog()
    # DNS through the real socket on a known port
    c = cfg_with()
    s2 = setup_mode.SetupAP(c, log, http=False)
    mptest.check(await s2.open(), "opened")
    used0 = s2.used_ms()
    mptest.eq(used0, None, "nobody used it yet")
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
    cl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cl.setblocking(False)
    cl.sendto(q, socket.getaddrinfo("127.0.0.1", DNS_PORT)[0][-1])
    reply = None
    for _ in range(200):
        await asyncio.sleep_ms(10)
        try:
            reply = cl.recv(512)
            break
        except OSError:
            pass
    cl.close()
    mptest.check(reply is not None, "DNS reply")
    mptest.eq(reply[-4:], bytes((127, 0, 0, 1)), "the AP's address (the stand-in AP is on 127.0.0.1)")
    mptest.check(s2.used_ms() is not None, "a DNS query counts as use")
    await s2.close()
    mptest.check(s2.dns is None, "closed")
    # the DNS port taken by someone else: said plainly, the set-up network still opens
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(socket.getaddrinfo("127.0.0.1", DNS_PORT + 2)[0][-1])
    s3 = setup_mode.SetupAP(cfg_with(dns_port=DNS_PORT + 2), log, http=False)
    mptest.check(await s3.open(), "opened without its DNS")
    mptest.check(s3.active and s3.dns is None and has(log, "set-up DNS on port %d: OSError" % (DNS_PORT + 2)),
                 "DNS failure logged: %r" % log.lines[-2:])
    await s3.close()
    blocker.close()
    # and it opens again on the same port (the socket was really closed)
    mptest.check(await s2.open(), "reopened")
    mptest.check(s2.dns is not None, "DNS again")
    await s2.close()


async def t_http_task_and_errors():
    """The web side runs while the set-up network is open and is cancelled with it; failures
    (AP refusing the password, a crashing web task, a broken setup object) are logged, not fatal."""
    log = ListLog()
    seen = []

    async def fake_http(cfg, lg, host, port):
        seen.append(("start", host, port))
        try:
            while True:
                await asyncio.sleep_ms(20)
        finally:
            seen.append(("stop",))

    s = setup_mode.SetupAP(cfg_with(http_port=8080), log, dns=False, http_serve=fake_http)
    await s.open()
    await asyncio.sleep_ms(50)
    mptest.eq(seen, [("start", "127.0.0.1", 8080)], "portal started on the AP address")
    mptest.check(s.is_client("127.0.0.7") and not s.is_client("10.0.0.7") and not s.is_client(None),
                 "a phone on the set-up network is recognised by its address")
    mptest.check(has(log, "then open http://127.0.0.1:8080/"), "URL on the console")
    await s.close()
    await asyncio.sleep_ms(20)
    mptest.eq(seen[-1], ("stop",), "portal cancelled with the set-up network")

    async def crashing_http(cfg, lg, host, port):
        raise OSError(5)
    s = setup_mode.SetupAP(cfg_with(), log, dns=False, http_serve=crashing_http)
    await s.open()
    await asyncio.sleep_ms(20)
    mptest.check(s.active and has(log, "set-up web portal stopped: OSError"), "web crash logged, AP stays")
    await s.close()

    # the app's web server already has the port (bound on every interface): it serves the AP too
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(socket.getaddrinfo("0.0.0.0", DNS_PORT + 1)[0][-1])
    taken.listen(1)

    async def real_http(cfg, lg, host, port):
        srv = await asyncio.start_server(lambda r, w: None, host, port)
        await srv.wait_closed()
    s = setup_mode.SetupAP(cfg_with(http_port=DNS_PORT + 1), log, dns=False, http_serve=real_http)
    await s.open()
    await asyncio.sleep_ms(50)
    mptest.check(has(log, "port in use, the running web server serves the set-up network"),
                 "port taken: said plainly, not an error: %r" % log.lines[-3:])
    await s.close()
    taken.close()

    # a password the radio refuses: no open network is left behind
    s = setup_mode.SetupAP(cfg_with(), log, http=False, dns=False)
    s.password = "short"
    mptest.eq(await s.open(), False, "refused")
    mptest.check(not s.active and not network.WLAN(network.AP_IF).active(), "AP off again")
    mptest.check(has(log, "set-up network failed to start"), "logged")

    class Broken:
        active = False

        async def open(self):
            raise RuntimeError("boom")

        def idle_ms(self):
            return 0

        def used_ms(self):
            return None
    mode("down")
    sup = sup_for(log, Broken(), ap_after_ms=0, ap_new_ms=0)
    task = asyncio.create_task(sup.run())
    await until(lambda: count(log, "Wi-Fi supervisor: RuntimeError: boom") >= 2, what="errors logged")
    mptest.check(not task.done(), "the supervisor keeps running")
    mptest.eq(await sup.step(), sup.check_ms, "a look that fails says so and returns (main awaits the first)")
    task.cancel()
    await asyncio.sleep_ms(0)


def t_names_and_passwords():
    mptest.eq(setup_mode.device_suffix(), "123456", "suffix from machine.unique_id()")
    mptest.eq(setup_mode.ap_name("X" * 30), "X" * 25 + "-123456", "capped at 32, suffix kept")
    mptest.eq(len(setup_mode.ap_name("X" * 30)), 32, "32 characters max")
    wide = setup_mode.ap_name("\u00e9" * 24)
    mptest.check(len(wide.encode()) <= 32 and wide.endswith("-123456"), "32 bytes max (not characters)")
    try:
        os.remove("ap_key.txt")
    except OSError:
        pass
    log = ListLog()
    k1 = setup_mode.ap_password("", log)
    k2 = setup_mode.ap_password("", log)
    mptest.check(len(k1) == 10 and k1 == k2, "own password made once and kept: %r %r" % (k1, k2))
    mptest.eq(setup_mode.ap_password("configured-pw", log), "configured-pw", "configured one wins")
    mptest.eq(setup_mode.ap_password("short", log), k1, "too short for WPA2: the device's own")
    mptest.check(has(log, "8..63"), "and says why")


async def t_first_setup_open_then_password():
    """Never set up: the set-up network is open (a phone alone can set up) for open_setup_s, then
    it needs the password; set up, its password is the admin password."""
    log = ListLog()
    said = []
    s = setup_mode.SetupAP(cfg_with(), log, http=False, dns=False, say=said.append, open_for_s=1800)
    await s.open()
    ap = network.WLAN(network.AP_IF)
    mptest.check(s.is_open and ap.config("security") == network.AUTH_OPEN, "first set-up: an open network")
    mptest.check(has(log, "without a password for 30 min"), "and the log says so: %r" % log.lines)
    mptest.eq(said, [], "no password to print")
    await s.close()
    s.open_until = time.ticks_add(time.ticks_ms(), 300)
    await asyncio.sleep_ms(400)
    mptest.eq(s.open_window_s(), 0, "the window is over")
    await s.open()
    mptest.check(not s.is_open and ap.config("security") == network.AUTH_WPA2_PSK, "then WPA2")
    mptest.eq(said, ['set-up network "ChargeHQ-Meter-123456": WPA2 password ' + s.password], "on the console")
    await s.close()
    raw = {"portal": {"dns_port": DNS_PORT}, "source": {"type": "simulated"}, "chargehq": {"api_key": "k"},
           "wifi": {"ssid": "HomeNet"}, "device": {"admin_password": "owner-pass-9"}}
    said = []
    s = setup_mode.SetupAP(config.validate(raw), log, http=False, dns=False, say=said.append)
    await s.open()
    mptest.check(not s.is_open and ap.config("key") == "owner-pass-9", "set up: the admin password is the key")
    mptest.check(said and "admin password" in said[0] and "owner-pass-9" not in said[0], "named, not printed")
    await s.close()
    raw["portal"]["ap_password"] = "own-ap-pass-1"
    s = setup_mode.SetupAP(config.validate(raw), log, http=False, dns=False, say=said.append)
    await s.open()
    mptest.eq(ap.config("key"), "own-ap-pass-1", "portal.ap_password wins when set")
    await s.close()


async def main():
    stations(0)  # a clean radio whatever an earlier run left in the state folder
    mode("ok")
    t_names_and_passwords()
    await t_join_reasons()
    await t_outage_backoff_ap_and_heal()
    await t_quiet_log_in_long_outages()
    await t_open_on_request()
    await t_never_worked_opens_sooner()
    await t_wrong_password_and_phone_on_ap()
    await t_setup_dns()
    await t_http_task_and_errors()
    await t_first_setup_open_then_password()


asyncio.run(main())
mptest.done()
