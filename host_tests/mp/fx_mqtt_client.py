# lib/mqtt_client.py under MicroPython against a real mosquitto and misbehaving brokers (started
# by test_mqtt.py, which watches the broker with paho-mqtt).
# argv: broker_port auth_port refused_port then name=port for each bad broker
import sys
import asyncio
import mqtt_client
from mptest import check, eq, done

port, auth_port, refused = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
bad = {}
for a in sys.argv[4:]:
    k, v = a.split("=")
    bad[k] = int(v)
ticks = [0]


async def ticker():  # stands for sampling: must keep running while the client waits
    while True:
        ticks[0] += 1
        await asyncio.sleep_ms(50)


async def fails(c, words, timeout_ms=3000, then=None):
    try:
        await c.connect(timeout_ms)
        if then:
            await then(c)
    except mqtt_client.MQTTError as e:
        text = str(e)
        check(any(w in text for w in words), "%r should mention %s" % (text, words))
        check(not c.connected, "not connected after: " + text)
        print("error:", text)
        return text
    check(False, "should fail with %s" % (words,))


async def main():
    t = asyncio.create_task(ticker())
    will = ("mptest/dev1/status", b"offline", True)
    c = mqtt_client.Client("mptest-dev1", "127.0.0.1", port, keepalive_s=2, will=will)
    await c.connect()
    check(c.connected, "connected to mosquitto")
    await c.publish("mptest/dev1/status", "online", retain=True)
    await c.publish("mptest/dev1/state", b'{"net_import_kw": -1.234}')
    big = "x" * 3000  # longer than 127 and 16383: 2-byte remaining length
    await c.publish("mptest/dev1/big", big)
    # 5 s with a 2 s keepalive: pings go out, PINGRESPs come back, the connection stays
    for _ in range(25):
        await c.keepalive()
        await asyncio.sleep_ms(200)
    check(c.connected, "keepalive kept the connection")
    await c.publish("mptest/dev1/state", b'{"after": "keepalive"}')
    await asyncio.sleep_ms(300)
    print("MARK published")
    # the device vanishes (no DISCONNECT): the broker sends the will "offline"
    c.close()
    await asyncio.sleep_ms(300)

    # connections closed from our side (reconnects) free their sockets: none may leak
    import os
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(20):
        c = mqtt_client.Client("mptest-cycle", "127.0.0.1", port, keepalive_s=5)
        await c.connect()
        await c.publish("mptest/cycle", str(i))
        c.close()
    await asyncio.sleep_ms(100)
    eq(len(os.listdir("/proc/self/fd")), fds, "open files after 20 connect/close cycles")
    for name in ("malformed", "close"):  # and those the broker's junk or close ended
        for i in range(5):
            c = mqtt_client.Client("x", "127.0.0.1", bad[name])
            try:
                await c.connect(2000)
                for _ in range(10):
                    await asyncio.sleep_ms(50)
                    if not c.connected:
                        break
            except mqtt_client.MQTTError:
                pass
            c.close()
    await asyncio.sleep_ms(100)
    eq(len(os.listdir("/proc/self/fd")), fds, "open files after connections the broker ended")

    # credentials
    c = mqtt_client.Client("mptest-auth", "127.0.0.1", auth_port, user="meter", password="wrong")
    await fails(c, ("bad user name or password", "not authorised"))
    c = mqtt_client.Client("mptest-auth", "127.0.0.1", auth_port, user="meter", password="s3cret")
    await c.connect()
    check(c.connected, "connected with user and password")
    await c.publish("mptest/auth", "ok")
    await c.disconnect()
    check(not c.connected, "disconnected")

    # nobody listening / a DNS name that does not exist
    await fails(mqtt_client.Client("x", "127.0.0.1", refused), ("refused", "network error"))
    await fails(mqtt_client.Client("x", "nonexistent.invalid", 1883), ("DNS",))
    # misbehaving peers: each a clear error, the ticker runs on
    before = ticks[0]
    await fails(mqtt_client.Client("x", "127.0.0.1", bad["silent"]), ("no answer",), timeout_ms=1500)
    check(ticks[0] - before >= 15, "the loop ran while the broker stayed silent (%d ticks)" % (ticks[0] - before))
    await fails(mqtt_client.Client("x", "127.0.0.1", bad["close"]), ("closed", "reset"))
    await fails(mqtt_client.Client("x", "127.0.0.1", bad["http"]), ("not an MQTT broker",))
    await fails(mqtt_client.Client("x", "127.0.0.1", bad["refuse_auth"]), ("bad user name or password",))

    async def wait_error(c):
        for _ in range(40):
            await asyncio.sleep_ms(100)
            if not c.connected:
                await c.publish("t", "x")  # raises with the reader's reason
        check(False, "connection should have ended")

    await fails(mqtt_client.Client("x", "127.0.0.1", bad["oversize"]), ("oversize",), then=wait_error)
    await fails(mqtt_client.Client("x", "127.0.0.1", bad["malformed"]), ("malformed",), then=wait_error)
    await fails(mqtt_client.Client("x", "127.0.0.1", bad["junk_type"]), ("unexpected packet",), then=wait_error)
    await fails(mqtt_client.Client("x", "127.0.0.1", bad["drop_later"]), ("closed", "reset"), then=wait_error)

    async def pinger(c):
        for _ in range(40):
            await c.keepalive()
            await asyncio.sleep_ms(100)
        check(False, "a broker that never answers PINGREQ must end the connection")

    await fails(mqtt_client.Client("x", "127.0.0.1", bad["no_pingresp"], keepalive_s=1), ("silent",), then=pinger)
    # packets built to the 3.1.1 layout
    eq(mqtt_client._remaining(0), b"\x00", "remaining length 0")
    eq(mqtt_client._remaining(127), b"\x7f", "remaining length 127")
    eq(mqtt_client._remaining(128), b"\x80\x01", "remaining length 128")
    eq(mqtt_client._remaining(16383), b"\xff\x7f", "remaining length 16383")
    eq(mqtt_client._remaining(16384), b"\x80\x80\x01", "remaining length 16384")
    p = mqtt_client.connect_packet("id", 60, "u", "p", ("w", b"off", True))
    eq(p[0], 0x10, "CONNECT type")
    eq(p[2:9], b"\x00\x04MQTT\x04", "protocol name and level 4")
    eq(p[9], 0x80 | 0x40 | 0x20 | 0x04 | 0x02, "flags: user, password, will retain, will, clean")
    t.cancel()

asyncio.run(main())
done()
