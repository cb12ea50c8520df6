# Runs the firmware's Modbus source under MicroPython against register maps, one run per case:
# either over a real serial line (a pty served by the pymodbus peer) or against in-memory
# registers. The runs come from a JSON file written by host_tests/sources/test_modbus_profiles.py:
#   {"port": "/dev/pts/N" | null, "mem": {slave: {"hr": {addr: u16}, "ir": {...}}} | null,
#    "folder": profiles folder, "alloc": [labels to measure], "runs": [
#      {"label": .., "cfg": {source config}, "expect": {field: value|null}} |
#      {"label": .., "cfg": .., "error": "text the SourceError must contain"}]}
import sys
import gc
import json
import asyncio
import mptest
from mptest import eq, check, ListLog
from app.core.site import Site
import _espsim_bus
_espsim_bus.RECORD = True  # the DE pin's pulses are read below (Pin.history)
from app.sources import SourceError
from app.sources.modbus import ModbusSource, check_config

spec = json.load(open(sys.argv[1]))


class ModbusError(Exception):
    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


class MemBus:
    """In-memory registers with the master's read() contract (view valid until next call)."""

    def __init__(self, slaves):
        self.slaves = {}
        for sid, t in slaves.items():
            self.slaves[int(sid)] = {3: {int(a): v for a, v in t["hr"].items()},
                                     4: {int(a): v for a, v in t["ir"].items()}}
        self.buf = bytearray(250)
        self.views = {}
        self.requests = 0

    async def read(self, slave, fc, addr, count, timeout_ms=None):
        self.requests += 1
        t = self.slaves.get(slave)
        if t is None:
            raise ModbusError("no reply (timeout)")
        regs = t[fc]
        for i in range(count):
            if (addr + i) in regs:
                break
        else:
            raise ModbusError("exception 02 (illegal data address)", 2)
        b = self.buf
        for i in range(count):
            v = regs.get(addr + i, 0)
            b[2 * i] = v >> 8
            b[2 * i + 1] = v & 0xFF
        v = self.views.get(count)  # one view per size, made once, like the master
        if v is None:
            v = self.views[count] = memoryview(b)[:2 * count]
        return v


def make_bus():
    if spec.get("mem") is not None:
        return MemBus(spec["mem"]), None
    import machine
    from modbus_rtu import ModbusRTU
    baud = spec.get("baud", 9600)
    uart = machine.UART(1, baudrate=baud, timeout=0, port=spec["port"])
    return ModbusRTU(uart, baudrate=baud, timeout_ms=spec.get("timeout_ms", 1000), retries=1), uart


async def one(bus, run):
    label = run["label"]
    cfg = run["cfg"]
    errs = []
    check_config(cfg, lambda k, why: errs.append("%s: %s" % (k, why)))
    if "config_error" in run:
        check(any(run["config_error"] in e for e in errs), "%s: config error %r in %r" % (
            label, run["config_error"], errs))
        return
    eq(errs, [], label + ": config accepted")
    log = ListLog()
    gc.collect()
    ram0 = gc.mem_alloc()
    try:
        src = ModbusSource(cfg, run.get("board"), log, bus=None if run.get("own_uart") else bus,
                           folder=spec["folder"])
        await src.start()
        gc.collect()
        held = gc.mem_alloc() - ram0  # the compiled profiles, value slots, log lines
        site = Site()
        await src.poll(site)
    except SourceError as e:
        if "error" in run:
            check(run["error"] in str(e), "%s: error %r should contain %r" % (label, str(e), run["error"]))
            print("%s: SourceError: %s" % (label, e))
            return
        raise
    check("error" not in run, label + ": should have failed with " + str(run.get("error")))
    if run.get("check_de"):  # the board's DE pin drove the transceiver around each request
        de = src.bus.de
        check(de is not None and de.id == run["check_de"], label + ": DE pin from the board")
        check(len(de.history) >= 2 and de.history[-1][1] == 0, label + ": DE pulsed, left low")
    if "log" in run:
        check(any(run["log"] in m for m in log.lines), "%s: %r in the log %r" % (label, run["log"], log.lines))
    for k, want in run["expect"].items():
        eq(getattr(site, k), want, "%s %s" % (label, k))
    check(site.t_ms != 0, label + ": reading has a time")
    for name in Site.__slots__[:10]:  # integers or None, never floats
        v = getattr(site, name)
        check(v is None or isinstance(v, int), "%s %s is %r" % (label, name, v))
    print("%s: %s" % (label, " ".join("%s=%s" % (n, getattr(site, n)) for n in Site.__slots__[:10])))
    cyc = run.get("cycle")
    if cyc:  # an optional device stops answering, then answers again (mem mode)
        src.retry_ms = 0
        saved = bus.slaves.pop(cyc["slave"])
        site.clear()
        await src.poll(site)
        for k, want in cyc["expect_down"].items():
            eq(getattr(site, k), want, "%s (device down) %s" % (label, k))
        bus.slaves[cyc["slave"]] = saved
        site.clear()
        await src.poll(site)
        for k, want in run["expect"].items():
            eq(getattr(site, k), want, "%s (device back) %s" % (label, k))
        check(any("answers again" in m for m in log.lines), label + ": logged " + repr(log.lines))
    if label in spec.get("alloc", ()):
        n = 5
        total = 0
        for _ in range(n):
            site.clear()
            gc.collect()
            a = gc.mem_alloc()
            await src.poll(site)
            b = gc.mem_alloc()
            check(b >= a, "no collection during the measured poll")
            total += b - a
        # the source's own work (decode and combine), without the line's master and the
        # poll coroutine's frame: must not allocate at all
        own = 0
        for _ in range(n):
            site.clear()
            for d in src.devices:
                for blk in d.prof.blocks:
                    mv = await bus.read(d.slave, blk.fc, blk.start, blk.count, d.timeout_ms)
                    gc.collect()
                    a = gc.mem_alloc()
                    d.decode(blk, mv)
                    own += gc.mem_alloc() - a
            gc.collect()
            a = gc.mem_alloc()
            src._combine(site)
            own += gc.mem_alloc() - a
        gc.collect()
        a = gc.mem_alloc()
        co = src.poll(site)
        frame = gc.mem_alloc() - a
        co.close()
        print("ALLOC %s %d bytes per poll in all (%d requests, %s); poll coroutine frame %d; "
              "decode+combine %d; RAM held after start %d" % (
                  label, total // n, sum(len(d.prof.blocks) for d in src.devices),
                  "in memory" if spec.get("mem") else "RTU master on a pty", frame, own // n, held))
        check(own // n <= spec.get("own_alloc_max", 64), label + ": decode+combine allocation")
    src.close()


async def main():
    bus, uart = make_bus()
    for run in spec["runs"]:
        if run.get("own_uart") and uart is not None:
            uart.deinit()  # the source opens the port itself
            uart = None
        await one(bus, run)


asyncio.run(main())
mptest.done()
