"""A watcher of a broker for the MQTT tests (lib, outputs, evcc, OpenEVSE, fault suite): a paho-mqtt
client that keeps every message it sees."""
import threading
import time

import paho.mqtt.client as paho

from mp import free_port


class Watcher:
    """A paho-mqtt client subscribed to `topic`, keeping (topic, payload, retain) of every message."""

    def __init__(self, port, topic="#", auth=None):
        self.msgs = []
        self.times = []  # arrival time of each message in msgs
        self.lock = threading.Lock()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="watcher-%d" % free_port(),
                        protocol=paho.MQTTv311)
        if auth:
            c.username_pw_set(*auth)
        c.on_message = self._on_message
        subscribed = threading.Event()
        c.on_subscribe = lambda *a: subscribed.set()
        c.on_connect = lambda cl, ud, fl, rc, props=None: cl.subscribe(topic)
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert subscribed.wait(10), "watcher could not subscribe"
        self.c = c

    def _on_message(self, c, ud, m):
        with self.lock:
            self.msgs.append((m.topic, m.payload, m.retain))
            self.times.append(time.time())

    def on(self, topic):
        with self.lock:
            return [(p, r) for t, p, r in self.msgs if t == topic]

    def wait_for(self, pred, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if pred():
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()
