# A catch-all DNS server for a captive portal: every A query is answered with one address
# (the access point's), so a phone that joins the set-up network finds the portal whatever
# name it looks up. Knows nothing of the app.
#
# handle(datagram) is a pure function of the query (easy to test, never raises); serve() runs
# it on a non-blocking UDP socket, polled from asyncio. RFC 1035 message format; EDNS0 per
# RFC 6891: a query with an OPT record gets a reply with our own OPT record (version 0, UDP
# size 512), a query with an unknown EDNS version gets BADVERS.
import asyncio
import socket
from micropython import const

_HDR = const(12)
_MAX_NAME = const(255)
_T_A = const(1)
_T_OPT = const(41)
_T_ANY = const(255)
_C_IN = const(1)
_C_ANY = const(255)
_NOERROR = const(0)
_FORMERR = const(1)
_NOTIMP = const(4)
_REFUSED = const(5)
_BADVERS = const(16)  # extended RCODE: upper 8 bits go in the OPT record
_TTL = const(10)      # short: once the portal closes, names should resolve normally again soon
_UDP_SIZE = const(512)
_OUT_MAX = const(_HDR + _MAX_NAME + 4 + 16 + 11)
_IDLE_POLL_MS = const(25)


class DnsCatchAll:
    def __init__(self, ip, port=53, bind_ip=None):
        self.ip = bytes(int(x) for x in ip.split("."))
        if len(self.ip) != 4:
            raise ValueError("bad IPv4 address %r" % ip)
        self.port = port
        self.bind_ip = bind_ip or ip
        self._out = bytearray(_OUT_MAX)  # the reply is built here (no allocation per query)
        self._mv = memoryview(self._out)
        self.sock = None
        self.answered = 0   # A records handed out
        self.replied = 0    # datagrams answered (any RCODE)
        self.ignored = 0    # datagrams dropped (too short, responses, ...)

    # --- the pure part -------------------------------------------------------------------
    def handle(self, q):
        """Query datagram -> reply (a memoryview valid until the next call) or None."""
        try:
            return self._handle(q)
        except Exception:  # belt and braces: a hostile datagram must never stop the server
            self.ignored += 1
            return None

    def _handle(self, q):
        n = len(q)
        if n < _HDR or q[2] & 0x80:  # too short to reply to, or a response (no loops)
            self.ignored += 1
            return None
        opcode = (q[2] >> 3) & 0x0F
        if opcode != 0:
            return self._bare(q, _NOTIMP)
        if q[4] or q[5] != 1:  # exactly one question
            return self._bare(q, _FORMERR)
        # the question: a name of labels (no compression in a question), then type and class
        i = _HDR
        while True:
            if i >= n:
                return self._bare(q, _FORMERR)
            ln = q[i]
            if ln == 0:
                i += 1
                break
            if ln & 0xC0 or i + 1 + ln - _HDR > _MAX_NAME:
                return self._bare(q, _FORMERR)
            i += 1 + ln
        if i + 4 > n:
            return self._bare(q, _FORMERR)
        q_end = i + 4
        qtype = (q[i] << 8) | q[i + 1]
        qclass = (q[i + 2] << 8) | q[i + 3]
        # the other sections: a query carries at most an OPT record in "additional"
        an = (q[6] << 8) | q[7]
        ns = (q[8] << 8) | q[9]
        ar = (q[10] << 8) | q[11]
        if an or ns:
            return self._bare(q, _FORMERR)
        opt = False
        version = 0
        i = q_end
        for _ in range(ar):
            start = i
            i = _skip_name(q, i, n)
            if i < 0 or i + 10 > n:
                return self._bare(q, _FORMERR)
            rtype = (q[i] << 8) | q[i + 1]
            rdlen = (q[i + 8] << 8) | q[i + 9]
            if rtype == _T_OPT:
                if opt or i != start + 1:
                    return self._bare(q, _FORMERR)  # two OPTs, or an OPT not owned by the root
                opt = True
                version = q[i + 5]
            i += 10 + rdlen
            if i > n:
                return self._bare(q, _FORMERR)
        if opt and version != 0:
            return self._reply(q, q_end, _BADVERS, False, opt)
        if qclass != _C_IN and qclass != _C_ANY:
            return self._reply(q, q_end, _REFUSED, False, opt)
        answer = qtype == _T_A or qtype == _T_ANY
        return self._reply(q, q_end, _NOERROR, answer, opt)

    def _bare(self, q, rcode):
        # header only (the question is not trusted): same ID, QR set, opcode and RD kept
        o = self._out
        o[0] = q[0]
        o[1] = q[1]
        o[2] = 0x80 | (q[2] & 0x79)
        o[3] = rcode
        for k in range(4, _HDR):
            o[k] = 0
        self.replied += 1
        return self._mv[:_HDR]

    def _reply(self, q, q_end, rcode, answer, opt):
        o = self._out
        o[0] = q[0]
        o[1] = q[1]
        o[2] = 0x84 | (q[2] & 0x01)  # QR, AA (we are the authority here), RD copied
        o[3] = rcode & 0x0F
        o[4] = 0
        o[5] = 1
        o[6] = 0
        o[7] = 1 if answer else 0
        o[8] = o[9] = o[10] = 0
        o[11] = 1 if opt else 0
        for k in range(_HDR, q_end):  # the question, as asked (same case); no slice copies
            o[k] = q[k]
        j = q_end
        if answer:
            # name = pointer to the question's name at offset 12; type A, class IN, TTL, 4 bytes
            o[j] = 0xC0
            o[j + 1] = _HDR
            o[j + 2] = 0
            o[j + 3] = _T_A
            o[j + 4] = 0
            o[j + 5] = _C_IN
            o[j + 6] = o[j + 7] = o[j + 8] = 0
            o[j + 9] = _TTL
            o[j + 10] = 0
            o[j + 11] = 4
            ip = self.ip
            o[j + 12] = ip[0]
            o[j + 13] = ip[1]
            o[j + 14] = ip[2]
            o[j + 15] = ip[3]
            j += 16
            self.answered += 1
        if opt:
            # root name, type OPT, class = our UDP payload size, TTL = ext-RCODE, version 0,
            # flags 0 (no DNSSEC), no options
            o[j] = 0
            o[j + 1] = 0
            o[j + 2] = _T_OPT
            o[j + 3] = _UDP_SIZE >> 8
            o[j + 4] = _UDP_SIZE & 0xFF
            o[j + 5] = rcode >> 4
            o[j + 6] = o[j + 7] = o[j + 8] = o[j + 9] = o[j + 10] = 0
            j += 11
        self.replied += 1
        return self._mv[:j]

    # --- the network part ----------------------------------------------------------------
    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # reopen at once after close()
        except (AttributeError, OSError):
            pass
        try:
            s.bind(socket.getaddrinfo(self.bind_ip, self.port)[0][-1])
            s.setblocking(False)
        except Exception:
            s.close()
            raise
        self.sock = s
        return s

    async def serve(self):
        """Answer queries until close() (or the task is cancelled). Raises OSError only when the
        socket cannot be opened (port taken)."""
        s = self.sock or self.open()
        try:
            while self.sock is s:
                try:
                    q, addr = s.recvfrom(_UDP_SIZE)
                except OSError:  # EAGAIN: nothing waiting (or a transient error): poll again soon
                    await asyncio.sleep_ms(_IDLE_POLL_MS)
                    continue
                r = self.handle(q)
                if r is not None:
                    try:
                        s.sendto(r, addr)
                    except OSError:
                        pass  # the client went away or the buffer is full: it will ask again
                await asyncio.sleep_ms(0)  # let other tasks run between datagrams
        finally:
            self.close()

    def close(self):
        s = self.sock
        self.sock = None
        if s is not None:
            try:
                s.close()
            except OSError:
                pass


def _skip_name(q, i, n):
    """Index just after a (possibly compressed) name at i, or -1 when malformed."""
    for _ in range(128):  # a name has at most 127 labels
        if i >= n:
            return -1
        ln = q[i]
        if ln == 0:
            return i + 1
        if ln & 0xC0 == 0xC0:
            return i + 2 if i + 2 <= n else -1
        if ln & 0xC0:
            return -1
        i += 1 + ln
    return -1

