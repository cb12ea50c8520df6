# Runs lib/dns_catchall.py's server under MicroPython for test_dns.py (the peer is dnspython on
# CPython). Usage: fx_dns.py PORT ANSWER_IP. Serves on 127.0.0.1:PORT until a file "stop"
# appears in the working folder, then prints its counters.
import sys
import os
import asyncio
import mptest
from dns_catchall import DnsCatchAll

port = int(sys.argv[1])
ip = sys.argv[2]
dns = DnsCatchAll(ip, port, bind_ip="127.0.0.1")


def _exists(name):
    try:
        os.stat(name)
        return True
    except OSError:
        return False


async def watch():
    while not _exists("stop"):
        await asyncio.sleep_ms(50)
    dns.close()


async def main():
    dns.open()
    print("DNS-READY")
    t = asyncio.create_task(dns.serve())
    await watch()
    await asyncio.sleep_ms(100)
    mptest.check(dns.sock is None, "closed")
    t.cancel()


asyncio.run(main())
print("DNS-STATS replied=%d ignored=%d answered=%d" % (dns.replied, dns.ignored, dns.answered))
mptest.check(dns.replied > 0, "answered something")
mptest.done()
