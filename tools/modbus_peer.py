"""A real Modbus RTU peer on a pseudo-terminal, for tests and the simulator (host only, CPython).

    path, stop = start_peer({"ir": {0x34: 0x4366, 0x35: 0x3334}, "hr": {...}}, slave=1, baud=9600)
    # open `path` as the UART (machine.UART(1, port=path) in the stand-in, ESPSIM_UART1=path) ...
    stop()

- pymodbus (RTU server) answers; it sits behind a small bridge thread that owns the device end
  of the line. The bridge injects faults and keeps a log of the requests it saw
  (`stop.requests`: list of (slave, fc, addr, count)). No root, no socat: two os.openpty() pairs.
- `registers`: {"hr": {addr: u16}, "ir": {addr: u16}} with 0-based wire addresses; or a profile
  name (the values come from tools/modbus_values.registers_for(name)); or several slaves on one bus:
  {slave_id: registers-or-profile-name, ...} (then `slave` is ignored). They become pymodbus
  devices in tools/modbus_peer_registers.py; the CRC and the raw ptys are tools/modbus_peer_wire.py.
  Interior gaps shorter than 125 registers read as 0 (a real meter answers a grouped read over
  registers it does not document); addresses far from any defined register give exception 02.
  Slave ids not on the bus get no answer, like on a real line.
- The bridge paces replies like the wire (10 bits per byte at `baud`): the reply starts when the
  request would have arrived and comes in pieces of at most ~5 ms.
- `faults`: {addr or (slave, addr): fault} applied to requests starting at that address:
    "silent"        no reply
    "crc"           reply with a corrupted CRC
    "excNN"         exception reply with code NN (hex: "exc02", "exc06", "exc0B")
    "busy"          = "exc06"
    "garbage"       random bytes instead of the reply
    "short"         the reply loses its last 3 bytes
    "wrong_slave"   the reply comes from slave id + 1 (valid CRC)
    "wrong_fc"      the reply carries another function code (valid CRC)
    "noise"         a burst of junk, then (after a pause) nothing
    "slow:N"        the reply comes N ms late
    "glitch"        a 0x00 byte (line turn-around) before the reply
    "gap:N"         the reply stops for N ms after its 4th byte, then goes on
    "trailing"      the reply, then 3 junk bytes
    "echo"          the request echoed back before the reply (adapters that hear themselves)
  Append "_once" (e.g. "busy_once", "crc_once") to hit the first request only, then answer normally.
"""
import asyncio
import os
import select
import threading
import time

from modbus_peer_registers import device, slave_map
from modbus_peer_wire import crc16, raw_pty, reply_len, with_crc


class _Peer:
    def __init__(self, slaves, baud, faults):
        self.slaves = slaves
        self.baud = baud
        self.faults = dict(faults or {})
        self.fired = set()
        self.requests = []
        self.stopping = threading.Event()
        self.dev_m, self.dev_s, self.path = raw_pty()      # the firmware's end
        self.srv_m, self.srv_s, self.srv_path = raw_pty()  # pymodbus's end
        self.ready = threading.Event()
        self.error = None
        self.loop = None
        self.server = None

    # -- pymodbus in its own thread and event loop
    def _serve(self):
        from pymodbus import FramerType
        from pymodbus.server import ModbusSerialServer

        async def main():
            self.loop = asyncio.get_running_loop()
            devices = [device(sid, regs) for sid, regs in sorted(self.slaves.items())]
            self.server = ModbusSerialServer(devices, framer=FramerType.RTU, port=self.srv_path,
                                             baudrate=self.baud, ignore_missing_devices=True)
            await self.server.serve_forever(background=True)
            self.ready.set()
            await self.server.serving
        try:
            asyncio.run(main())
        except Exception as e:  # reported by start_peer
            self.error = e
            self.ready.set()

    # -- the bridge: device end <-> pymodbus end, with faults
    def _read_frame(self, fd, first_timeout):
        """Bytes of one request: 8 bytes with a good CRC, or whatever came before 20 ms of silence."""
        buf = b""
        t = first_timeout
        while not self.stopping.is_set():
            r, _, _ = select.select([fd], [], [], t)
            if not r:
                return buf
            try:
                buf += os.read(fd, 512)
            except OSError:
                return buf
            if len(buf) == 8 and crc16(buf[:6]) == buf[6] | (buf[7] << 8):
                return buf
            t = 0.02
        return buf

    def _ask_server(self, req):
        os.write(self.srv_m, req)
        # RTU replies are length-prefixed: read until complete (or pymodbus stays silent)
        buf = b""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            need = reply_len(buf)
            if need and len(buf) >= need:
                return buf[:need]
            r, _, _ = select.select([self.srv_m], [], [], 0.05)
            if r:
                buf += os.read(self.srv_m, 512)
        return buf

    def _send_paced(self, n_req, reply):
        # A pty delivers at once; a wire needs 10 bits per byte. The reply starts once the request
        # would have arrived, then comes in pieces of at most ~5 ms, on an absolute schedule.
        byte_s = 10.0 / self.baud
        step = max(1, int(0.005 / byte_s))
        t0 = time.monotonic() + n_req * byte_s
        for i in range(0, len(reply), step):
            piece = reply[i:i + step]
            wait = t0 + (i + len(piece)) * byte_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                os.write(self.dev_m, piece)
            except OSError:
                return

    def _fault_for(self, slave, addr):
        for key in ((slave, addr), addr):
            f = self.faults.get(key)
            if f is None:
                continue
            if f.endswith("_once"):
                if key in self.fired:
                    return None
                self.fired.add(key)
                f = f[:-5]
            return f
        return None

    def _bridge(self):
        while not self.stopping.is_set():
            req = self._read_frame(self.dev_m, 0.1)
            if len(req) < 8:
                continue  # noise or nothing
            if crc16(req[:6]) != req[6] | (req[7] << 8):
                continue  # a real slave ignores a frame with a bad CRC
            slave, fc = req[0], req[1]
            addr, count = (req[2] << 8) | req[3], (req[4] << 8) | req[5]
            self.requests.append((slave, fc, addr, count))
            if slave not in self.slaves:
                continue
            reply = self._reply(req[:8], slave, fc, addr)
            if isinstance(reply, tuple):  # a pause inside the frame
                head, pause_ms, tail = reply
                self._send_paced(len(req), head)
                time.sleep(pause_ms / 1000.0)
                self._send_paced(0, tail)
            elif reply:
                self._send_paced(len(req), reply)

    def _reply(self, req, slave, fc, addr):
        fault = self._fault_for(slave, addr)
        if fault == "silent":
            return b""
        if fault == "busy":
            fault = "exc06"
        if fault and fault.startswith("exc"):
            return with_crc(bytes([slave, fc | 0x80, int(fault[3:], 16)]))
        if fault == "noise":
            return os.urandom(5) + b"\xff\x00\xff"
        if fault == "garbage":
            junk = bytearray(os.urandom(9))
            junk[1] = 0x55  # never a function code the master could take for a reply
            return bytes(junk)
        reply = self._ask_server(req)
        if not reply:
            return b""
        if fault == "crc":
            return reply[:-1] + bytes([reply[-1] ^ 0x5A])
        if fault == "short":
            return reply[:-3]
        if fault == "wrong_slave":
            return with_crc(bytes([(slave + 1) & 0xFF]) + reply[1:-2])
        if fault == "wrong_fc":
            return with_crc(bytes([slave, 3 if fc == 4 else 4]) + reply[2:-2])
        if fault and fault.startswith("slow:"):
            time.sleep(int(fault[5:]) / 1000.0)
        if fault and fault.startswith("gap:"):
            return (reply[:4], int(fault[4:]), reply[4:])
        if fault == "trailing":
            return reply + b"\x13\x37\x42"
        if fault == "glitch":
            return b"\x00" + reply
        if fault == "echo":
            return bytes(req) + reply
        return reply

    def stop(self):
        self.stopping.set()
        if self.loop is not None and self.server is not None:
            try:
                asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(5)
            except Exception:
                pass
        for t in self.threads:
            t.join(5)
        for fd in (self.dev_m, self.dev_s, self.srv_m, self.srv_s):
            try:
                os.close(fd)
            except OSError:
                pass


def start_peer(registers, slave=1, baud=9600, faults=None):
    """Start the peer; returns (path of the device end, stop()). stop.requests lists what it saw."""
    import logging
    logging.getLogger("pymodbus").setLevel(logging.ERROR)  # its deprecation chatter
    peer = _Peer(slave_map(registers, slave), baud, faults)
    server = threading.Thread(target=peer._serve, daemon=True)
    bridge = threading.Thread(target=peer._bridge, daemon=True)
    peer.threads = [server, bridge]
    server.start()
    if not peer.ready.wait(10) or peer.error:
        peer.stop()
        raise RuntimeError("modbus peer did not start: %r" % (peer.error,))
    _wait_answering(peer)
    bridge.start()

    def stop():
        peer.stop()
    stop.requests = peer.requests
    stop.peer = peer
    return peer.path, stop


def _wait_answering(peer):
    # pymodbus opens the port asynchronously: ask it once (any slave, FC03 @0) until it answers
    sid = sorted(peer.slaves)[0]
    probe = with_crc(bytes([sid, 3, 0, 0, 0, 1]))
    for _ in range(50):
        if _probe(peer, probe):
            return
    raise RuntimeError("modbus peer: pymodbus never answered on %s" % peer.srv_path)


def _probe(peer, probe):
    os.write(peer.srv_m, probe)
    r, _, _ = select.select([peer.srv_m], [], [], 0.1)
    if not r:
        return False
    while select.select([peer.srv_m], [], [], 0.05)[0]:
        os.read(peer.srv_m, 512)  # drop the probe's answer
    return True


if __name__ == "__main__":  # a quick look: python tools/modbus_peer.py
    p, s = start_peer({"ir": {0: 0x4366, 1: 0x3334}})
    print("peer on", p, "- Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        s()
