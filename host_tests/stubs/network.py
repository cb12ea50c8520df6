# ESP32-like `network` for the unix port (host only). The station "joins" the loopback
# network at once unless ESPSIM_WIFI (or the state file .wifi) says otherwise:
#   ok | wrong_password | no_ap | down   (the file wins, so a test can change it while running:
#   "down" after "ok" is an outage, "ok" again is the router back; a join attempt while "down"
#   reports "network not found" after a scan of _SCAN_MS, like the chip with its router off)
# The access point lives on 127.0.0.1 too; the state file .ap_stations holds how many phones
# are joined to it (0 when missing), for status("stations").
# On the chip this module is C in flash; here its code takes heap that the set-up portal is
# measured against, so it is kept small: few functions, no tables built at import.
import os
import time
from micropython import const
import _espsim

_SCAN_MS = const(1500)
STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_WRONG_PASSWORD = 202
STAT_NO_AP_FOUND = 201
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
STAT_BEACON_TIMEOUT = 200
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4

_hostname = "espressif"


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


class WLAN:
    _ifs = {}  # one object per interface, like the chip's

    def __new__(cls, interface=STA_IF):
        self = cls._ifs.get(interface)
        if self is None:
            self = cls._ifs[interface] = object.__new__(cls)
            self._if = interface
            self._active = False
            self._status = STAT_IDLE
            self._ssid = None
            self._t_connect = 0
            self._cfg = {"ssid": "ESP_123456" if interface == AP_IF else "", "key": "",
                         "security": AUTH_WPA2_PSK, "channel": 1, "hidden": False,
                         "max_clients": 4, "txpower": 20, "reconnects": -1,
                         "mac": b"\x24\x0a\xc4\x12\x34\x56", "dhcp_hostname": _hostname}
        return self

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._status = STAT_IDLE

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._ssid = ssid
        self._status = STAT_CONNECTING
        self._t_connect = time.ticks_ms()

    def disconnect(self):
        self._status = STAT_IDLE

    def status(self, param=None):
        if param == "rssi":
            return -61
        if param == "stations":
            if self._if != AP_IF:
                raise ValueError("AP required")
            raw = _espsim.read_file(".ap_stations") if self._active else None
            n = int(raw.decode().strip() or "0") if raw else 0
            out = []
            while len(out) < n:
                out.append((bytes((0x02, 0, 0, 0, 0, len(out))),))
            return out
        if param is not None:
            raise ValueError("unknown status param")
        if self._if == AP_IF:
            return STAT_GOT_IP if self._active else STAT_IDLE
        if self._status != STAT_IDLE:  # an attempt or a link: the state file says how it goes
            raw = _espsim.read_file(".wifi")
            mode = raw.decode().strip() if raw else os.getenv("ESPSIM_WIFI") or "ok"
            if mode == "ok":
                self._status = STAT_GOT_IP
            elif mode == "wrong_password":
                self._status = STAT_WRONG_PASSWORD
            elif mode == "no_ap":
                self._status = STAT_NO_AP_FOUND
            # else down: a link that was up is "signal lost" (kept while it stays down, like the
            # chip's disconnect reason); a new attempt finds no network once its scan is over
            elif self._status in (STAT_GOT_IP, STAT_BEACON_TIMEOUT):
                self._status = STAT_BEACON_TIMEOUT
            elif time.ticks_diff(time.ticks_ms(), self._t_connect) >= _SCAN_MS:
                self._status = STAT_NO_AP_FOUND
            else:
                self._status = STAT_CONNECTING
        return self._status

    def isconnected(self):
        if self._if == AP_IF:
            return self._active
        return self.status() == STAT_GOT_IP

    def scan(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        return [(b"HomeNet", b"\x11\x22\x33\x44\x55\x66", 6, -58, AUTH_WPA2_PSK, False),
                (b"Neighbour 5G", b"\x11\x22\x33\x44\x55\x77", 11, -81, AUTH_WPA_WPA2_PSK, False)]

    def ifconfig(self, cfg=None):
        if cfg is None:
            if self._if == AP_IF:
                return ("127.0.0.1", "255.255.255.0", "127.0.0.1", "127.0.0.1")
            ip = "127.0.0.1" if self.isconnected() else "0.0.0.0"
            return (ip, "255.0.0.0" if ip != "0.0.0.0" else ip, ip, ip)

    def config(self, *args, **kw):
        alias = {"password": "key", "essid": "ssid", "authmode": "security"}
        if kw:
            for k, v in kw.items():
                k = alias.get(k, k)
                if k not in self._cfg and k != "pm":
                    raise ValueError("unknown config param")
                if k == "key" and self._if == AP_IF and 0 < len(v) < 8:
                    raise OSError("Wifi Invalid Password")  # WPA2 needs 8..63 characters
                if k == "ssid" and self._if == AP_IF and not 0 < len(v) <= 32:
                    raise OSError("Wifi Invalid Argument")
                self._cfg[k] = v
            return
        if len(args) != 1:
            raise TypeError("can query only one param")
        k = alias.get(args[0], args[0])
        if k == "rssi":
            return -61
        if k == "ssid" and self._if == STA_IF:
            return self._ssid or ""
        if k not in self._cfg:
            raise ValueError("unknown config param")
        return self._cfg[k]
