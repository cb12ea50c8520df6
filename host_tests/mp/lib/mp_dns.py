# lib/dns_catchall.py's handle() under MicroPython with hand-made datagrams: the edge cases a
# client library would never send (the live server is probed by dnspython in test_dns.py).
import gc
import mptest
from dns_catchall import DnsCatchAll

d = DnsCatchAll("10.1.2.3", 5353)


def q(name=b"\x03abc\x03com\x00", qtype=1, qclass=1, flags=b"\x01\x00", counts=b"\x00\x01\x00\x00\x00\x00\x00\x00", tail=b""):
    return b"\xbe\xef" + flags + counts + name + bytes((qtype >> 8, qtype & 255, qclass >> 8, qclass & 255)) + tail


def rcode(r):
    return r[3] & 15


OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # root, OPT, size 1232, version 0, no options

r = bytes(d.handle(q()))
mptest.eq(r[:2], b"\xbe\xef", "same id")
mptest.eq(r[2], 0x85, "QR AA RD")
mptest.eq(rcode(r), 0, "NOERROR")
mptest.eq(r[4:12], b"\x00\x01\x00\x01\x00\x00\x00\x00", "one question, one answer")
mptest.eq(r[-4:], bytes((10, 1, 2, 3)), "the AP's address")
mptest.eq(r[-6:-4], b"\x00\x04", "rdlength 4")

r = bytes(d.handle(q(qtype=28)))
mptest.eq((rcode(r), r[7]), (0, 0), "AAAA: NOERROR, no answer")

r = bytes(d.handle(q(counts=b"\x00\x01\x00\x00\x00\x00\x00\x01", tail=OPT)))
mptest.eq((rcode(r), r[7], r[11]), (0, 1, 1), "EDNS0: answer plus OPT")
mptest.eq(r[-11:-8], b"\x00\x00\x29", "OPT record last")
mptest.eq(r[-8:-6], b"\x02\x00", "our UDP size 512")

bad_ver = OPT[:6] + b"\x01" + OPT[7:]
r = bytes(d.handle(q(counts=b"\x00\x01\x00\x00\x00\x00\x00\x01", tail=bad_ver)))
mptest.eq((rcode(r), r[7], r[-6]), (0, 0, 1), "EDNS version 1: BADVERS (ext-rcode 1 in OPT)")

two = b"\x00\x01\x00\x00\x00\x00\x00\x02"
mptest.eq(rcode(d.handle(q(counts=two, tail=OPT + OPT))), 1, "two OPT records: FORMERR")
named_opt = b"\x01x\x00" + OPT[1:]
mptest.eq(rcode(d.handle(q(counts=b"\x00\x01\x00\x00\x00\x00\x00\x01", tail=named_opt))), 1,
          "OPT not owned by the root: FORMERR")
mptest.eq(rcode(d.handle(q(counts=b"\x00\x01\x00\x00\x00\x00\x00\x01"))), 1, "promised OPT missing: FORMERR")
mptest.eq(rcode(d.handle(q(name=b"\xc0\x0c"))), 1, "pointer in the question: FORMERR")
mptest.eq(rcode(d.handle(q(name=b"\x40" + b"a" * 64 + b"\x00"))), 1, "label of 64: FORMERR")
mptest.eq(rcode(d.handle(q(name=(b"\x3f" + b"a" * 63) * 4 + b"\x00"))), 1, "name over 255: FORMERR")
mptest.eq(rcode(d.handle(q(name=b"\x03abc"))), 1, "name runs off the end: FORMERR")
mptest.eq(rcode(d.handle(q(counts=b"\x00\x02\x00\x00\x00\x00\x00\x00"))), 1, "two questions: FORMERR")
mptest.eq(rcode(d.handle(q(counts=b"\x00\x00\x00\x00\x00\x00\x00\x00"))), 1, "no question: FORMERR")
mptest.eq(rcode(d.handle(q(counts=b"\x00\x01\x00\x01\x00\x00\x00\x00"))), 1, "answers in a query: FORMERR")
mptest.eq(rcode(d.handle(q(flags=b"\x28\x00"))), 4, "UPDATE opcode: NOTIMP")
mptest.eq(rcode(d.handle(q(qclass=3))), 5, "class CHAOS: REFUSED")
mptest.eq(len(d.handle(q(flags=b"\x28\x00"))), 12, "error replies are a bare header")
mptest.eq(d.handle(q(flags=b"\x81\x00")), None, "a response is never answered (no loops)")
for n in range(12):
    mptest.eq(d.handle(b"\x00" * n), None, "%d bytes: ignored" % n)
mptest.eq(rcode(d.handle(q(name=b"\x00"))), 0, "the root name is a name")
mptest.eq(d.handle(q(qtype=255))[7], 1, "ANY: the A record")

# The reply lives in one preallocated buffer: a query costs only the returned memoryview.
probe = q()
d.handle(probe)
gc.collect()
before = gc.mem_alloc()
for _ in range(200):
    d.handle(probe)
grown = gc.mem_alloc() - before
print("dns handle(): %d bytes allocated over 200 queries" % grown)
mptest.check(grown <= 200 * 48, "no big allocation per query (%d bytes)" % grown)

# a server that cannot bind says so with OSError (the caller reports it), never hangs
a = DnsCatchAll("127.0.0.1", 0, bind_ip="127.0.0.1")
s = a.open()
mptest.check(a.sock is s, "open")
a.close()
a.close()
mptest.check(a.sock is None, "close twice is fine")
mptest.raises(ValueError, DnsCatchAll, "1.2.3", 53)
mptest.done()
