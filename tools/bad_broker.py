"""Misbehaving MQTT brokers on 127.0.0.1 for tests and the fault suite: each mode is one way a
broker (or something that is not one) can treat a client. Built from the MQTT 3.1.1 packet
layout (CONNACK 0x20 0x02 flags code; PINGRESP 0xD0 0x00), not from the client under test.

    srv = BadBroker("oversize").start(); ... srv.port ...; srv.stop()
"""
import socket
import threading
import time

CONNACK_OK = b"\x20\x02\x00\x00"
MODES = {
    "close": "accepts the connection and closes it at once",
    "silent": "accepts and never answers",
    "http": "answers the CONNECT with an HTTP error page",
    "refuse_auth": "answers CONNACK code 4 (bad user name or password)",
    "oversize": "CONNACK, then a packet announcing 1,000,000 bytes",
    "malformed": "CONNACK, then a remaining length of 5 bytes (at most 4 are allowed)",
    "junk_type": "CONNACK, then a SUBACK-type packet a publisher never asked for",
    "drop_later": "CONNACK, then closes after 1.5 s",
    "no_pingresp": "CONNACK, then reads everything and never answers a PINGREQ",
}


class BadBroker:
    def __init__(self, mode):
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.connects = 0

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        m = self.mode
        try:
            if m == "close":
                c.close()
                return
            c.settimeout(30)
            c.recv(1024)  # the CONNECT
            self.connects += 1
            if m == "silent":
                return
            if m == "http":
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            elif m == "refuse_auth":
                c.sendall(b"\x20\x02\x00\x04")
            else:
                c.sendall(CONNACK_OK)
                time.sleep(0.2)
                if m == "oversize":
                    c.sendall(b"\x30\xc0\x84\x3d")  # 1,000,000 as a remaining length
                elif m == "malformed":
                    c.sendall(b"\xd0\xff\xff\xff\xff\x01")
                elif m == "junk_type":
                    c.sendall(b"\x90\x03\x00\x01\x00")
                elif m == "drop_later":
                    time.sleep(1.3)
                    c.close()
                elif m == "no_pingresp":
                    while c.recv(1024):
                        pass
        except OSError:
            pass

    def stop(self):
        self.sock.close()
        for c in self.held:
            try:
                c.close()
            except OSError:
                pass


class BrokerFront:
    """One fixed port in front of a real broker whose behaviour can be switched: "ok" relays to
    the real broker, any BadBroker mode relays to such a broker, "refused" stops listening.
    switch() also cuts the connections in flight, so the client meets the new mode at once."""

    def __init__(self, real_port):
        self.real_port = real_port
        self.bad = {}
        self.mode = "ok"
        self.conns = []
        self.port = None
        self.sock = None
        self._listen()

    def _listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port or 0))
        s.listen(8)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            mode = self.mode
            if mode == "refused":  # accepted as the listener was closing
                c.close()
                continue
            if mode == "ok":
                port = self.real_port
            else:
                if mode not in self.bad:
                    self.bad[mode] = BadBroker(mode).start()
                port = self.bad[mode].port
            try:
                up = socket.create_connection(("127.0.0.1", port), 2)
                up.settimeout(None)  # (the 2 s were for connecting: an idle link is fine)
            except OSError:
                c.close()
                continue
            self.conns += [c, up]
            for a, b in ((c, up), (up, c)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def switch(self, mode):
        if (mode == "refused") != (self.mode == "refused"):
            if mode == "refused":
                self.sock.close()
            else:
                self._listen()
        self.mode = mode
        conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def stop(self):
        self.switch("refused")
        for b in self.bad.values():
            b.stop()


def _pump(a, b):
    try:
        while True:
            d = a.recv(4096)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.close()
        except OSError:
            pass
