# The MQTT output: availability (retained "online", will "offline"), Home Assistant discovery
# (retained, app.outputs.ha_discovery) and every mqtt.interval_s a JSON state with the fields and signs
# of /api/status, taken from App.values() (the push's reading, check and totals). The broker
# connection is lib/mqtt_client; this task never touches Wi-Fi (the supervisor owns it): while
# the station is down it waits. Failures back off (2 s doubling to 5 min) with one log line
# per new reason; sampling and the other outputs never wait for the broker.
import asyncio
import json
from micropython import const
from app.core.modules import forget

_BACKOFF_MIN_S = const(2)
_BACKOFF_MAX_S = const(300)
_CONNECT_MS = const(10000)
_FIRST_READ_WAIT_MS = const(10000)
_STABLE_MS = const(10000)
KEEPALIVE_S = const(60)  # the broker says "offline" (the will) 90 s after a silent loss  # a connection that held this long ends a run of failures
MARK = "mqtt_announced.json"  # what discovery announced, to take it back when MQTT is removed
_STATE = ("meter_ok", "meter_error", "production_kw", "net_import_kw", "consumption_kw",
          "battery_discharge_kw", "battery_soc", "imported_kwh", "exported_kwh",
          "today_imported_kwh", "today_exported_kwh")


def device_id():
    """Stable across reboots and re-flashing: the chip's unique id (its MAC on the ESP32)."""
    try:
        import machine
        return "".join("%02x" % b for b in machine.unique_id())
    except Exception:
        return "000000"


def make_client(c, ca_file, dev, will_topic):
    import mqtt_client
    ctx = None
    if c["tls"]:
        import https_post
        with open(ca_file, "rb") as f:
            ctx = https_post.tls_context(f.read())
    return mqtt_client.Client("chargehq-meter-" + dev, c["host"], c["port"], c["user"], c["password"],
                              c.get("keepalive_s", 60), ctx, (will_topic, b"offline", True) if will_topic else None)


class MqttOutput:
    name = "mqtt"

    def __init__(self, app, log):
        self.app = app
        self.log = log
        self.c = app.cfg.section("mqtt")
        self.dev = device_id()
        base = "%s/%s" % (self.c["topic_prefix"], self.dev)
        self.state_topic = base + "/state"
        self.avail_topic = base + "/status"
        self.disc_topic = "%s/device/%s/config" % (self.c["discovery_prefix"], self.dev) \
            if self.c["discovery"] else None  # (app.outputs.ha_discovery.topic, without loading it)
        self.client = None
        self.last_error = None
        self.backoff_s = 0
        self.published = 0
        self.connects = 0
        self._battery = None   # battery entities announced (None: nothing announced yet)

    def status(self):
        return {"connected": bool(self.client and self.client.connected), "broker": "%s:%d" % (
            self.c["host"], self.c["port"]), "error": self.last_error, "published": self.published,
            "state_topic": self.state_topic}

    def state(self):
        app = self.app
        vals, v = app.values()
        out = {k: vals[k] for k in _STATE}
        out["validation"] = None if v is None else v.text()
        st = getattr(app, "wifi", None)
        rssi = None
        if st is not None and st.isconnected():
            try:
                rssi = st.status("rssi")
            except Exception:
                pass
        out["rssi"] = rssi
        return json.dumps(out)

    def _wifi_up(self):
        w = self.app.wifi
        return w is None or w.isconnected()

    async def run(self):
        from app.core import clock
        while self.app.last_ok_up is None and clock.uptime_ms() < _FIRST_READ_WAIT_MS:
            await asyncio.sleep_ms(100)  # just booted: the first reading is on its way
        while True:
            if not self._wifi_up():
                await asyncio.sleep_ms(1000)
                continue
            try:
                await self._session()
            except _Down:  # the Wi-Fi supervisor says why; reconnect as soon as it is back
                pass
            except Exception as e:  # MQTTError, CA file (OSError/ValueError), MemoryError
                self._failed(_why(e))
            if self.client is not None:
                self.client.close()
                self.client = None
            await asyncio.sleep(self.backoff_s)

    def _failed(self, why):
        self.backoff_s = _BACKOFF_MIN_S if not self.backoff_s else min(self.backoff_s * 2, _BACKOFF_MAX_S)
        if why != self.last_error:
            self.log.error("mqtt: %s; retry in %d s" % (why, self.backoff_s))
        self.last_error = why

    async def _session(self):
        cl = self.client = make_client(self.c, self.app.cfg.get("chargehq", "ca_file"), self.dev, self.avail_topic)
        await cl.connect(_CONNECT_MS)
        self.connects += 1
        if self.connects == 1:
            self.log.info("mqtt: connected to %s:%d, state on %s" % (self.c["host"], self.c["port"],
                                                                   self.state_topic))
        # the failure count and its log line end only once the connection has held a while: a
        # broker that accepts and then drops every connection keeps backing off, logged once
        stable_in = _STABLE_MS
        await cl.publish(self.avail_topic, "online", retain=True)
        self._battery = None  # announce again on every connection (a broker may have lost it)
        interval = self.c["interval_s"] * 1000
        while True:
            await self._announce(cl)
            await cl.publish(self.state_topic, self.state())
            self.published += 1
            waited = 0
            while waited < interval:
                step = min(1000, interval - waited)
                await asyncio.sleep_ms(step)
                waited += step
                if stable_in > 0:
                    stable_in -= step
                    if stable_in <= 0:
                        self._stable()
                if not self._wifi_up():
                    cl.close()  # the link is gone with the station: start afresh when it is back
                    raise _Down()
                await cl.keepalive()

    def _stable(self):
        if self.last_error is not None:
            self.log.info("mqtt: connected again to %s:%d" % (self.c["host"], self.c["port"]))
        self.last_error = None
        self.backoff_s = 0

    async def _announce(self, cl):
        if self.disc_topic is None:
            return
        s = self.app.site
        battery = bool(self._battery) or s.battery_w is not None or s.soc_pm is not None
        if battery == self._battery:
            return
        name = "Charge HQ meter " + self.dev[-6:].upper()
        model = "%s meter" % self.app.cfg.section("source").get("type", "?")
        from app.outputs import ha_discovery  # loaded to announce, dropped after (~4.6 KB on 32-bit)
        msg = ha_discovery.payload(self.dev, name, model, self.state_topic, self.avail_topic, battery)
        ha_discovery = None
        forget("app.outputs.ha_discovery")
        await cl.publish(self.disc_topic, msg, retain=True)
        msg = None
        self._battery = battery
        _write_mark(self.c, self.app.cfg.get("chargehq", "ca_file"), self.disc_topic, self.avail_topic)


class _Down(Exception):
    def __str__(self):
        return "Wi-Fi down"


def _why(e):
    if isinstance(e, OSError):
        return "cannot read CA file (%s)" % e
    if isinstance(e, MemoryError):
        return "out of memory"
    return str(e) or type(e).__name__


def _write_mark(c, ca_file, disc, avail):
    import os
    try:
        old = _read_mark()
        want = {"host": c["host"], "port": c["port"], "user": c["user"], "password": c["password"],
                "tls": c["tls"], "ca_file": ca_file, "keepalive_s": c["keepalive_s"],
                "topics": [disc, avail]}
        if old == want:
            return
        with open(MARK + ".tmp", "w") as f:
            json.dump(want, f)
        os.rename(MARK + ".tmp", MARK)
    except (OSError, ValueError):
        pass


def _read_mark():
    try:
        with open(MARK) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


async def retract(app, log):
    """MQTT was removed from the settings: take back what discovery announced (an empty
    retained message removes the device from Home Assistant) and the retained availability,
    on the broker it went to. Tried until it worked, then the mark is deleted."""
    import os
    m = _read_mark()
    if not m:
        return
    delay = 10
    while True:
        w = app.wifi
        if w is None or w.isconnected():
            cl = None
            try:
                cl = make_client(m, m.get("ca_file", "ca/roots.der"), device_id(), None)
                await cl.connect(_CONNECT_MS)
                for t in m["topics"]:
                    if t:
                        await cl.publish(t, b"", retain=True)
                await cl.disconnect()
                os.remove(MARK)
                log.info("mqtt: removed from the settings: Home Assistant entities withdrawn")
                return
            except Exception as e:
                log.warn("mqtt: withdrawing the Home Assistant entities failed: %s" % _why(e))
                if cl is not None:
                    cl.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 3600)
