# Wi-Fi station: join the configured network with a bounded attempt and readable reasons.
import asyncio
import network
from micropython import const

_JOIN_TIMEOUT_MS = const(20000)

REASONS = {
    getattr(network, "STAT_WRONG_PASSWORD", 202): "wrong password",
    getattr(network, "STAT_NO_AP_FOUND", 201): "network not found",
    getattr(network, "STAT_ASSOC_FAIL", 203): "association failed",
    getattr(network, "STAT_HANDSHAKE_TIMEOUT", 204): "handshake timeout (wrong password?)",
    getattr(network, "STAT_BEACON_TIMEOUT", 200): "signal lost",
}


def reason(status):
    return REASONS.get(status, "status %s" % status)


async def join(ssid, password, hostname=None, timeout_ms=_JOIN_TIMEOUT_MS):
    """-> (wlan, None) when connected, (wlan, reason) when not. Never raises."""
    sta = network.WLAN(network.STA_IF)
    try:
        if hostname and hasattr(network, "hostname"):
            network.hostname(hostname)
        sta.active(True)
        if sta.isconnected():
            return sta, None
        sta.connect(ssid, password)
    except OSError as e:
        return sta, "Wi-Fi error %s" % e
    waited = 0
    while waited < timeout_ms:
        if sta.isconnected():
            return sta, None
        st = sta.status()
        if st in (getattr(network, "STAT_WRONG_PASSWORD", 202),
                  getattr(network, "STAT_NO_AP_FOUND", 201)):
            return sta, reason(st)
        await asyncio.sleep_ms(250)
        waited += 250
    return sta, "no connection after %d s (%s)" % (timeout_ms // 1000, reason(sta.status()))


async def supervise(sta, ssid, password, log, hostname=None):
    """Keep the station connected forever: re-join with backoff after outages."""
    backoff = 5
    was_up = sta.isconnected()
    while True:
        if sta.isconnected():
            if not was_up:
                log.info("Wi-Fi connected to %s, IP %s" % (ssid, sta.ifconfig()[0]))
            was_up = True
            backoff = 5
            await asyncio.sleep(5)
            continue
        if was_up:
            log.warn("Wi-Fi connection lost (%s)" % reason(sta.status()))
            was_up = False
        sta, why = await join(ssid, password, hostname)
        if why:
            log.warn("Wi-Fi: cannot join %s: %s; retry in %d s" % (ssid, why, backoff))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 300)
