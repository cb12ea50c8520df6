# lib/mqtt_client.py over verified TLS to a real mosquitto (test_mqtt.py starts it with a
# certificate for "localhost" from a throw-away CA). argv: port ca.der other-ca.der
import sys
import asyncio
import https_post
import mqtt_client
from mptest import check, done

port = int(sys.argv[1])
good = https_post.tls_context(open(sys.argv[2], "rb").read())
other = https_post.tls_context(open(sys.argv[3], "rb").read())


async def main():
    c = mqtt_client.Client("tls-dev", "localhost", port, keepalive_s=10, ssl_ctx=good)
    await c.connect(8000)
    check(c.connected, "verified TLS connection")
    await c.publish("tls/test", "hello", retain=False)
    await c.keepalive()
    await c.disconnect()
    print("TLS ok")
    for ctx, words, what in ((other, ("TLS", "signed", "verif"), "another CA"),):
        c = mqtt_client.Client("tls-dev", "localhost", port, ssl_ctx=ctx)
        try:
            await c.connect(8000)
            check(False, what + " must be refused")
        except mqtt_client.MQTTError as e:
            check(any(w in str(e) for w in words), "%s: %s" % (what, e))
            check(not c.connected, "not connected")
            print("refused:", e)

asyncio.run(main())
done()
