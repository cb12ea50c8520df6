# Read registers from a Modbus RTU device through a USB-RS485 adapter, with the firmware's own
# master (lib/modbus_rtu.py) under the MicroPython unix port: "does my meter answer, and what
# is in register X?" before writing a profile. Runs on the host only (it uses the stand-in
# machine.UART, which drives a real tty).
#
#   MICROPYPATH=.frozen:host_tests/stubs:lib .venv/bin/micropython tools/modbus_read.py \
#       /dev/ttyUSB0 slave=1 fc=4 addr=0x34 count=2 [baud=9600] [parity=N|E|O] [stop=1]
#       [timeout=1000] [retries=2] [repeat=1] [echo=0|1]
#
# Prints every register (hex, u16, s16) and every pair as u32/s32/f32, both word orders.
# Exit status 0 when every read succeeded, 1 otherwise (the error says what went wrong).
import sys
import time  # noqa: F401  (the time stand-in before asyncio)
import asyncio
import machine
import modbus_decode
import modbus_rtu

_PARITY = {"N": None, "E": 0, "O": 1}


def parse(argv):
    if len(argv) < 2 or "=" in argv[1]:
        raise ValueError("usage: modbus_read.py PORT slave=1 fc=4 addr=0 count=2 [baud=9600] "
                         "[parity=N|E|O] [stop=1] [timeout=1000] [retries=2] [repeat=1] [echo=0|1]")
    opt = {"slave": 1, "fc": 4, "addr": 0, "count": 2, "baud": 9600, "parity": "N", "stop": 1,
           "timeout": 1000, "retries": 2, "repeat": 1, "echo": 0}
    for arg in argv[2:]:
        k, _, v = arg.partition("=")
        if k not in opt:
            raise ValueError("unknown option %r" % k)
        opt[k] = v.upper() if k == "parity" else int(v, 0)
    if opt["parity"] not in _PARITY:
        raise ValueError("parity must be N, E or O")
    return argv[1], opt


def show(addr, mv, count):
    m = modbus_decode
    for i in range(count):
        print("%5d 0x%04X  %02X%02X  u16 %5d  s16 %6d" % (addr + i, addr + i, mv[2 * i], mv[2 * i + 1],
                                                          m.u16(mv, i), m.s16(mv, i)))
    for i in range(count - 1):
        print("%5d+%d  BE u32 %10d s32 %11d f32 %-14.6g  LE u32 %10d s32 %11d f32 %.6g" % (
            addr + i, addr + i + 1, m.u32(mv, i), m.s32(mv, i), m.f32(mv, i),
            m.u32(mv, i, "le"), m.s32(mv, i, "le"), m.f32(mv, i, "le")))


async def main(port, o):
    uart = machine.UART(1, baudrate=o["baud"], parity=_PARITY[o["parity"]], stop=o["stop"],
                        timeout=0, port=port)
    bus = modbus_rtu.ModbusRTU(uart, o["baud"], timeout_ms=o["timeout"], retries=o["retries"])
    bus.local_echo = bool(o["echo"])  # adapters that hear their own transmission
    failed = 0
    for n in range(o["repeat"]):
        try:
            mv = await bus.read(o["slave"], o["fc"], o["addr"], o["count"])
            show(o["addr"], mv, o["count"])
        except modbus_rtu.ModbusError as e:
            print("error:", e)
            failed += 1
    uart.deinit()
    return failed


try:
    _port, _opt = parse(sys.argv)
except ValueError as e:
    print(e)
    sys.exit(2)
sys.exit(1 if asyncio.run(main(_port, _opt)) else 0)
