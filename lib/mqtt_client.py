"""A small MQTT 3.1.1 publisher for MicroPython (and CPython), asyncio only.

Why not umqtt.simple / umqtt.robust: they block (socket reads and time.sleep in the reconnect
loop), which would stop sampling for as long as a broker is slow or away. Why not mqtt_as: it
manages Wi-Fi itself (connects, disconnects, waits for the station), which here belongs to the
app's Wi-Fi supervisor, and it carries QoS 1/2, subscriptions and clean-session logic a meter that
only publishes does not need (RAM). This one publishes QoS 0 and never touches the network
interface: the caller decides when to (re)connect and how long to back off.

    import mqtt_client
    c = mqtt_client.Client("meter-a1b2c3", "192.168.1.10", 1883, user="u", password="p",
                           keepalive_s=60, will=("meter/a1b2c3/status", b"offline", True))
    await c.connect(timeout_ms=10000)         # raises MQTTError with a short reason
    await c.publish("meter/a1b2c3/state", b'{"w": 1}', retain=False)
    await c.keepalive()                       # call every second or so: pings when idle
    await c.disconnect()

- TLS: pass an ssl.SSLContext that verifies (https_post.tls_context) as ssl_ctx; the host name is
  checked against the certificate.
- A reader task takes every packet the broker sends: PINGRESP counts as a sign of life; anything
  malformed, oversize (over max_packet bytes) or not expected from a broker to a publisher that
  never subscribed ends the connection with an MQTTError naming it.
- Every wait (DNS aside: getaddrinfo blocks on MicroPython, see https_post.resolve) has a deadline.
"""
import asyncio
import struct

from ticks import ticks_ms, ticks_diff  # lib/ticks.py: MicroPython's, or the same on CPython

_CONNECT = 0x10
_CONNACK = 0x20
_PUBLISH = 0x30
_PINGREQ = 0xC0
_PINGRESP = 0xD0
_DISCONNECT = 0xE0
_REFUSED = {1: "unacceptable protocol version", 2: "client id rejected", 3: "server unavailable",
            4: "bad user name or password", 5: "not authorised"}


class MQTTError(Exception):
    pass


def _str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    if len(b) > 65535:
        raise ValueError("MQTT string too long")
    return struct.pack("!H", len(b)) + b


def _remaining(n):
    """Remaining Length: 7 bits a byte, high bit = more (at most 4 bytes)."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def connect_packet(client_id, keepalive_s, user="", password="", will=None):
    flags = 0x02  # clean session: a publisher keeps no state on the broker
    payload = _str(client_id)
    if will:
        topic, msg, retain = will
        flags |= 0x04 | (0x20 if retain else 0)  # will QoS 0
        payload += _str(topic) + _str(msg)
    if user:
        flags |= 0x80
        payload += _str(user)
        if password:
            flags |= 0x40
            payload += _str(password)
    var = b"\x00\x04MQTT\x04" + bytes((flags,)) + struct.pack("!H", keepalive_s)
    return bytes((_CONNECT,)) + _remaining(len(var) + len(payload)) + var + payload


def publish_header(topic, size, retain=False):
    """Fixed header and topic of a QoS 0 PUBLISH whose message is `size` bytes."""
    t = _str(topic)
    return bytes((_PUBLISH | (1 if retain else 0),)) + _remaining(len(t) + size) + t


class Client:
    def __init__(self, client_id, host, port=1883, user="", password="", keepalive_s=60,
                 ssl_ctx=None, will=None, max_packet=1024):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive_s = keepalive_s
        self.ssl_ctx = ssl_ctx
        self.will = will
        self.max_packet = max_packet
        self.error = None       # why the connection ended (set by the reader), or None
        self._r = None
        self._w = None
        self._reader_task = None
        self._ping_at = 0        # ticks of the last PINGREQ (or of the connection)
        self._ping_sent = False

    @property
    def connected(self):
        return self._w is not None and self.error is None

    async def connect(self, timeout_ms=10000):
        self.close()
        self.error = None
        try:
            await _wait(self._connect(), timeout_ms)
        except asyncio.TimeoutError:
            self.close()
            raise MQTTError("no answer from %s:%d within %g s" % (self.host, self.port, timeout_ms / 1000))
        except MQTTError:
            self.close()
            raise
        except OSError as e:
            self.close()
            raise MQTTError("%s:%d %s" % (self.host, self.port, _oserror_text(e)))
        except ValueError as e:  # mbedTLS reports certificate problems as ValueError
            self.close()
            raise MQTTError("TLS with %s failed: %s" % (self.host, str(e).strip()))
        self._reader_task = asyncio.create_task(self._read_loop())

    async def _connect(self):
        import https_post  # its DNS cache (getaddrinfo blocks: asked rarely)
        try:
            ip = https_post.resolve(self.host, self.port)
        except https_post.HttpError as e:
            raise MQTTError(str(e))
        if self.ssl_ctx is not None:
            self._r, self._w = await asyncio.open_connection(ip, self.port, ssl=self.ssl_ctx,
                                                             server_hostname=self.host)
        else:
            self._r, self._w = await asyncio.open_connection(ip, self.port)
        self._w.write(connect_packet(self.client_id, self.keepalive_s, self.user, self.password, self.will))
        await self._w.drain()
        kind, body = await self._packet(_CONNACK)
        if kind != _CONNACK or len(body) != 2:
            https_post.forget(self.host)
            raise MQTTError("%s:%d is not an MQTT broker (no CONNACK)" % (self.host, self.port))
        if body[1]:
            raise MQTTError("broker refused the connection: %s" % _REFUSED.get(body[1], "code %d" % body[1]))
        self._ping_at = ticks_ms()
        self._ping_sent = False

    async def _packet(self, expect=None):
        """-> (packet type byte, body) of the next packet; MQTTError for junk. expect: the only
        type byte acceptable (CONNACK: something else is not a broker; do not read its length)."""
        head = await self._r.read(1)
        if not head:
            raise MQTTError("broker closed the connection")
        if expect is not None and head[0] != expect:
            return head[0], b""
        n = 0
        shift = 0
        for _ in range(4):
            b = await self._r.read(1)
            if not b:
                raise MQTTError("broker closed the connection")
            n |= (b[0] & 0x7F) << shift
            shift += 7
            if not b[0] & 0x80:
                break
        else:
            raise MQTTError("malformed packet from the broker (length over 4 bytes)")
        if n > self.max_packet:
            raise MQTTError("oversize packet from the broker (%d bytes, limit %d)" % (n, self.max_packet))
        body = await self._r.readexactly(n) if n else b""
        return head[0], body

    async def _read_loop(self):
        try:
            while True:
                kind, body = await self._packet()
                t = kind & 0xF0
                if t == _PINGRESP and not body:
                    self._ping_sent = False
                elif t == _PUBLISH:
                    pass  # nothing subscribed, yet a broker may deliver: ignored (size checked)
                else:
                    raise MQTTError("unexpected packet 0x%02x from the broker" % kind)
        except asyncio.CancelledError:
            return
        except MQTTError as e:
            self.error = str(e)
        except EOFError:  # readexactly on a closed stream (CPython: IncompleteReadError)
            self.error = "broker closed the connection"
        except OSError as e:
            self.error = "%s:%d %s" % (self.host, self.port, _oserror_text(e))
        except Exception as e:
            self.error = "broker connection failed (%s)" % type(e).__name__
        self.close(keep_error=True)

    def _check(self):
        if self.error is not None:
            raise MQTTError(self.error)
        if self._w is None:
            raise MQTTError("not connected")

    async def _send(self, *parts, timeout_ms=10000):
        self._check()
        for p in parts:
            self._w.write(p)
        try:
            await _wait(self._w.drain(), timeout_ms)
        except asyncio.TimeoutError:
            self._fail("broker stopped reading (send timed out)")
        except OSError as e:
            self._fail("%s:%d %s" % (self.host, self.port, _oserror_text(e)))

    def _fail(self, why):
        self.error = why
        self.close(keep_error=True)
        raise MQTTError(why)

    async def publish(self, topic, msg, retain=False):
        if isinstance(msg, str):
            msg = msg.encode()
        await self._send(publish_header(topic, len(msg), retain), msg)

    async def keepalive(self):
        """Ping every half keepalive, publishing or not (a QoS 0 publisher gets nothing back, so
        only a PINGRESP shows that the broker is still there); MQTTError when none came within a
        whole keepalive (a dead link the socket cannot see: writes still succeed into it)."""
        self._check()
        now = ticks_ms()
        ka = self.keepalive_s * 1000
        if self._ping_sent:
            if ticks_diff(now, self._ping_at) > ka:
                self._fail("broker silent for %d s (no PINGRESP)" % self.keepalive_s)
        elif ticks_diff(now, self._ping_at) >= ka // 2:
            self._ping_sent = True
            self._ping_at = now
            await self._send(bytes((_PINGREQ, 0)))

    async def disconnect(self):
        """A clean DISCONNECT (the broker then drops the will), then close."""
        try:
            if self.connected:
                await self._send(bytes((_DISCONNECT, 0)), timeout_ms=2000)
        except MQTTError:
            pass
        self.close()

    def close(self, keep_error=False):
        t = self._reader_task
        self._reader_task = None
        if t is not None:
            try:
                if t is not _current_task():
                    t.cancel()
            except Exception:
                pass
        w = self._w
        self._w = self._r = None
        if w is not None:
            try:
                w.close()
            except Exception:
                pass
            # MicroPython's Stream.close() only marks the stream (wait_closed() closes the
            # socket): close the socket now, or every reconnect would leak one (the ESP32 has ~10)
            s = getattr(w, "s", None)
            if s is not None:
                try:
                    s.close()
                except Exception:
                    pass
        if not keep_error:
            self.error = None


def _current_task():
    try:
        return asyncio.current_task()
    except Exception:
        return None


async def _wait(coro, timeout_ms):
    if hasattr(asyncio, "wait_for_ms"):
        return await asyncio.wait_for_ms(coro, timeout_ms)
    return await asyncio.wait_for(coro, timeout_ms / 1000)


_ERRNO_TEXT = {104: "connection reset", 110: "timed out", 111: "connection refused",
               113: "no route to host", 118: "host unreachable", 32: "connection closed (broken pipe)"}


def _oserror_text(e):
    code = e.args[0] if e.args else None
    return _ERRNO_TEXT.get(code, "network error %s" % (code,))
