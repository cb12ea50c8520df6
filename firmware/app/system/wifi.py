# Wi-Fi station: join a network with a bounded attempt and a readable reason, and remember which
# network has worked on this device. Kept small: the set-up portal imports it to try the network
# the user enters; app.system.wifi_supervisor keeps the station joined while the app runs. Never raises.
import asyncio
import time
import network
from micropython import const

_JOIN_TIMEOUT_MS = const(20000)
_JOIN_POLL_MS = const(100)
_KNOWN_FILE = "wifi_ok.txt"      # the last network (and password digest) this device joined

STAT_IDLE = getattr(network, "STAT_IDLE", 1000)
STAT_CONNECTING = getattr(network, "STAT_CONNECTING", 1001)
STAT_GOT_IP = getattr(network, "STAT_GOT_IP", 1010)
STAT_WRONG_PASSWORD = getattr(network, "STAT_WRONG_PASSWORD", 202)
STAT_NO_AP_FOUND = getattr(network, "STAT_NO_AP_FOUND", 201)

# ESP-IDF disconnect reasons (wifi_err_reason_t) as the ESP32 port reports them in status()
REASONS = {
    STAT_IDLE: "not trying",
    STAT_CONNECTING: "still connecting",
    STAT_GOT_IP: "connected",
    STAT_WRONG_PASSWORD: "wrong password",
    STAT_NO_AP_FOUND: "network not found",
    getattr(network, "STAT_ASSOC_FAIL", 203): "association failed",
    getattr(network, "STAT_HANDSHAKE_TIMEOUT", 204): "handshake timeout (wrong password?)",
    getattr(network, "STAT_BEACON_TIMEOUT", 200): "signal lost",
    2: "authentication expired", 3: "router ended the connection", 4: "association expired",
    5: "router has too many devices", 8: "disconnected", 15: "handshake timeout (wrong password?)",
    205: "connection failed", 210: "network not found (security mode not supported)",
    211: "network not found (security below the threshold)", 212: "network not found (signal too weak)",
}
_FINAL = (STAT_WRONG_PASSWORD, STAT_NO_AP_FOUND, 15, 210, 211, 212)  # no point waiting longer

_lock = None  # one join at a time (the supervisor and the set-up page may both try)


def reason(status):
    return REASONS.get(status, "status %s" % status)


def _ms():
    return time.ticks_ms()


async def join(ssid, password, hostname=None, timeout_ms=_JOIN_TIMEOUT_MS):
    """-> (wlan, None) when connected, (wlan, reason) when not. Never raises."""
    global _lock
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        return await _join(ssid, password, hostname, timeout_ms)


async def _join(ssid, password, hostname, timeout_ms):
    sta = network.WLAN(network.STA_IF)
    try:
        if hostname and hasattr(network, "hostname"):
            network.hostname(hostname)
        sta.active(True)
        if sta.isconnected():
            if sta.config("essid") == ssid:
                return sta, None
            sta.disconnect()
        elif sta.status() != STAT_IDLE:
            sta.disconnect()  # the ESP32 refuses connect() while an attempt is still running
        sta.connect(ssid, password)
    except Exception as e:  # OSError from the driver; anything else is a bug not worth a crash
        return sta, "Wi-Fi error: %s" % e
    t0 = _ms()
    st = STAT_CONNECTING
    while time.ticks_diff(_ms(), t0) < timeout_ms:
        if sta.isconnected():
            return sta, None
        st = sta.status()
        if st in _FINAL:
            break
        await asyncio.sleep_ms(_JOIN_POLL_MS)
    else:
        st = sta.status()
        if st == STAT_GOT_IP:
            return sta, None
    try:
        sta.disconnect()  # stop the driver's own retries: the supervisor decides when to try again
    except Exception:
        pass
    if st in _FINAL:
        return sta, reason(st)
    return sta, "no connection after %d s (%s)" % (timeout_ms // 1000, reason(st))


def _mark(ssid, password):
    # the network's name and a short digest of its password (not the password): new credentials
    # for the same network count as "never worked" too (a mistyped new password)
    import hashlib
    import binascii
    h = hashlib.sha256((ssid + "\n" + (password or "")).encode())
    return ssid + "\n" + binascii.hexlify(h.digest()[:8]).decode()


def known(ssid, password):
    """True when this device has joined `ssid` with `password` before (kept in flash)."""
    from app.core.statefile import read_text, unload
    text = read_text(_KNOWN_FILE, 128)  # a bad file: kept aside, the network not known
    unload()
    return text == _mark(ssid, password)


def remember(ssid, password):
    if known(ssid, password):
        return  # written once per new network, not per connection (flash wear)
    try:
        with open(_KNOWN_FILE, "w") as f:
            f.write(_mark(ssid, password))
    except OSError:
        pass
