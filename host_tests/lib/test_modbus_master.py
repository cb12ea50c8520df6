"""lib/modbus_rtu.py, modbus_frame.py and modbus_decode.py: CRC vectors, frame checks and decoders
under CPython, and the master under MicroPython against a real
Modbus peer (pymodbus RTU server behind tools/modbus_peer.py on a pseudo-terminal): known values,
two slaves on one line, every fault the peer can inject, DE-pin timing, frame silence."""
import struct
import sys

import pytest

from mp import ROOT, check_mp

sys.path[:0] = [str(ROOT / "host_tests" / "cpython"), str(ROOT / "lib"), str(ROOT / "tools")]
import modbus_decode  # noqa: E402
import modbus_frame  # noqa: E402
import modbus_rtu  # noqa: E402
from modbus_peer import start_peer  # noqa: E402

# CRC-16/MODBUS vectors from the device notes: data -> bytes on the wire (low byte first)
VECTORS = [("02 07", "41 12"), ("01 04 00 00 00 02", "71 CB"), ("01 04 04 43 66 33 34", "1B 38"),
           ("01 03 04 3F 80 00 00", "F7 CF"), ("FE 04 00 03 00 01", "D5 C5")]


def test_crc_vectors():
    for data, wire in VECTORS:
        crc = modbus_frame.crc16(bytes.fromhex(data))
        assert bytes([crc & 0xFF, crc >> 8]) == bytes.fromhex(wire), data
        # the peer's own CRC (independent code) agrees
        from modbus_peer import crc16
        assert crc16(bytes.fromhex(data)) == crc
    assert modbus_frame.crc16(b"123456789") == 0x4B37
    assert modbus_frame.crc16(b"123456789xx", 9) == 0x4B37


def test_decoders_match_struct():
    raw = struct.pack(">f", -1500.5) + struct.pack(">i", -20000) + struct.pack(">H", 0x8001)
    mv = memoryview(raw)
    assert modbus_decode.f32(mv, 0) == -1500.5
    assert modbus_decode.s32(mv, 2) == -20000
    assert modbus_decode.u32(mv, 2) == 0xFFFFB1E0
    assert modbus_decode.s16(mv, 4) == -32767 and modbus_decode.u16(mv, 4) == 0x8001
    swapped = raw[2:4] + raw[0:2]  # low word first
    assert modbus_decode.f32(memoryview(swapped), 0, "le") == -1500.5


def test_frames_alone():
    """modbus_frame on its own (no UART, no asyncio): the request, reply lengths, reply checks."""
    tx = bytearray(8)
    modbus_frame.encode_read(tx, 1, 4, 0, 2)
    assert tx == bytes.fromhex("01 04 00 00 00 02 71 CB")
    good = bytearray.fromhex("01 04 04 43 66 33 34 1B 38")
    assert modbus_frame.reply_length(good, 4) == 9
    modbus_frame.check_reply(good, 9, 9, 1, 4, 0, 2)  # no raise
    assert modbus_decode.f32(memoryview(good)[3:7], 0) == struct.unpack(">f", bytes.fromhex("43663334"))[0]
    bad = bytearray(good)
    bad[4] ^= 0x01
    with pytest.raises(modbus_frame.ModbusCRCError):
        modbus_frame.check_reply(bad, 9, 9, 1, 4, 0, 2)
    with pytest.raises(modbus_frame.ModbusError, match="reply from slave 1"):
        modbus_frame.check_reply(good, 9, 9, 2, 4, 0, 2)
    with pytest.raises(modbus_frame.ModbusError, match="reply carries 4 bytes, want 6"):
        modbus_frame.check_reply(good, 9, 9, 1, 4, 0, 3)
    with pytest.raises(modbus_frame.ModbusError, match="short frame, 5 bytes"):
        modbus_frame.check_reply(good, 5, 9, 1, 4, 0, 2)
    exc = bytearray.fromhex("01 84 02 00 00")
    crc = modbus_frame.crc16(exc, 3)
    exc[3], exc[4] = crc & 0xFF, crc >> 8
    assert modbus_frame.reply_length(exc, 4) == 5
    with pytest.raises(modbus_frame.ModbusError, match="illegal data address") as e:
        modbus_frame.check_reply(exc, 5, 5, 1, 4, 0, 2)
    assert e.value.code == 2
    assert modbus_frame.reply_length(bytearray.fromhex("01 03 04"), 4) == -1  # another function
    with pytest.raises(modbus_frame.ModbusError, match="garbage on the line"):
        modbus_frame.check_reply(bytearray.fromhex("01 03 04"), 3, -1, 1, 4, 0, 2)
    # the master raises the same classes
    assert modbus_rtu.ModbusError is modbus_frame.ModbusError
    assert modbus_rtu.ModbusTimeout is modbus_frame.ModbusTimeout


def _f32_words(x):
    b = struct.pack(">f", x)
    return (b[0] << 8) | b[1], (b[2] << 8) | b[3]


FAULTS = {10: "silent", 20: "crc", 21: "crc_once", 30: "exc02", 40: "busy_once", 41: "busy",
          50: "garbage", 51: "garbage_once", 60: "slow:400", 80: "wrong_slave", 90: "short",
          95: "wrong_fc", 98: "noise", 70: "glitch", 75: "echo", 71: "gap:10", 72: "gap:150",
          73: "trailing"}


@pytest.fixture
def bus():
    ir = {a: (a * 7) & 0xFFFF for a in range(125)}
    ir[0], ir[1] = 0x4366, 0x3334  # 230.2 as float32
    ir[2], ir[3] = 0x2345, 0x0001  # 0x00012345, low word first
    hr = {100: (-1234) & 0xFFFF, 101: 0xFFFF, 105: 9, 40000: 0xFFFF, 40001: 0xB1E0}  # s32 -20000
    meter = {"hr": dict(zip((0x2012, 0x2013), _f32_words(-1500.5)))}
    path, stop = start_peer({1: {"ir": ir, "hr": hr}, 2: meter}, baud=9600, faults=FAULTS)
    yield path, stop
    stop()


def test_master_against_pymodbus_peer(bus, tmp_path):
    path, stop = bus
    out = check_mp("fx_modbus_master.py", path, state_dir=tmp_path, heap=256 * 1024)
    print(out)
    seen = stop.requests
    # what actually went over the line, as the peer saw it
    assert seen.count((1, 4, 10, 2)) == 3, "silent slave: first try + 2 retries"
    assert seen.count((1, 4, 20, 2)) == 3, "CRC error every time: 3 tries"
    assert seen.count((1, 4, 21, 2)) == 2, "CRC error once: 2 tries"
    assert seen.count((1, 4, 30, 2)) == 1, "exception 02 is final: not retried"
    assert seen.count((1, 4, 40, 2)) == 2, "busy once: 2 tries"
    assert seen.count((1, 4, 41, 2)) == 3, "busy always: 3 tries"
    assert seen.count((1, 4, 70, 2)) == 1, "a glitch byte before the reply costs no retry"
    assert seen.count((1, 4, 75, 2)) == 2, "echo: one failed try without local_echo, one good with"
    assert (2, 3, 0x2012, 2) in seen and (3, 3, 0, 1) in seen
    assert "heap bytes allocated per read" in out


def test_peer_serves_a_standard_client(bus):
    """The peer as any Modbus tool sees it: pymodbus's own serial client reads the same values."""
    from pymodbus.client import ModbusSerialClient
    path, stop = bus
    client = ModbusSerialClient(port=path, baudrate=9600, timeout=1, retries=1)
    assert client.connect()
    try:
        r = client.read_input_registers(0, count=2, device_id=1)
        assert not r.isError() and r.registers == [0x4366, 0x3334]
        r = client.read_holding_registers(0x2012, count=2, device_id=2)
        assert not r.isError() and r.registers == list(_f32_words(-1500.5))
        r = client.read_input_registers(30, count=2, device_id=1)  # the exc02 fault
        assert r.isError() and r.exception_code == 2
    finally:
        client.close()


def test_uart_stand_in_sets_up_a_real_line(bus):
    """Under the unix port the stand-in UART configures the tty like a USB-RS485 adapter needs:
    raw, no echo, reads that never block, the baud rate (2400 too) and parity. (A pty drops
    parity bits - the kernel forces CS8 without PARENB - so the flags asked for are recorded too.)"""
    import termios
    from mp import run_mp_code
    path, stop = bus
    code = ("import sys, termios\n"
            "class T:\n"
            "    def __getattr__(self, k): return getattr(termios, k)\n"
            "    def tcsetattr(self, fd, when, a):\n"
            "        print('cflag', a[2]); termios.tcsetattr(fd, when, a)\n"
            "sys.modules['termios'] = T()\n"
            "import machine\n"
            "for par in (0, 1, None):\n"
            "    u = machine.UART(1, baudrate=2400, parity=par, port=%r)\n"
            "    u.deinit()\n"
            "print('opened')\n" % path)
    res = run_mp_code(code)
    assert res.returncode == 0 and "opened" in res.stdout, res.stdout + res.stderr
    asked = [int(line.split()[1]) for line in res.stdout.splitlines() if line.startswith("cflag")]
    even, odd, none = asked
    assert even & termios.PARENB and not even & termios.PARODD
    assert odd & termios.PARENB and odd & termios.PARODD
    assert not none & termios.PARENB
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(stop.peer.dev_s)
    assert ispeed == ospeed == termios.B2400
    assert cflag & termios.CSIZE == termios.CS8 and cflag & termios.CREAD and cflag & termios.CLOCAL
    assert not lflag & (termios.ECHO | termios.ICANON | termios.ISIG)
    assert not oflag & termios.OPOST and not iflag & (termios.ICRNL | termios.IXON)
    assert cc[termios.VMIN] == 0 and cc[termios.VTIME] == 0


def test_modbus_read_tool_under_unix_port(bus):
    """tools/modbus_read.py: the master under the unix port on a tty (as with /dev/ttyUSB0)."""
    from mp import run_mp
    path, stop = bus
    res = run_mp(ROOT / "tools" / "modbus_read.py", path, "slave=2", "fc=3", "addr=0x2012", "count=2",
                 "parity=E")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "f32 -1500.5" in res.stdout and "0x2012  C4BB" in res.stdout
    res = run_mp(ROOT / "tools" / "modbus_read.py", path, "addr=30", "count=2")
    assert res.returncode == 1 and "exception 02 (illegal data address)" in res.stdout


HANGUP_SCRIPT = """
import sys, asyncio, machine, modbus_rtu, modbus_decode
async def main():
    bus = modbus_rtu.ModbusRTU(machine.UART(1, port=sys.argv[1]), 9600, timeout_ms=300, retries=1)
    mv = await bus.read(1, 4, 0, 2)
    print("first", modbus_decode.u16(mv, 0))
    sys.stdin.readline()  # the test pulls the plug meanwhile
    try:
        await bus.read(1, 4, 0, 2)
        print("second read worked?!")
    except modbus_rtu.ModbusError as e:
        print("error:", e)
asyncio.run(main())
"""


def test_adapter_unplugged(tmp_path):
    """The far end of the tty disappears (like a USB adapter pulled out): the next read is a
    ModbusError with a clear text, not a hang or a crash."""
    import subprocess
    from mp import MICROPYTHON, STUBS, mp_env
    path, stop = start_peer({"ir": {0: 4242, 1: 0}})
    script = tmp_path / "hangup.py"
    script.write_text(HANGUP_SCRIPT)
    proc = subprocess.Popen([MICROPYTHON, str(STUBS / "espsim_run.py"), str(script), path],
                            env=mp_env(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout.readline().strip() == "first 4242"
        stop()
        out, _ = proc.communicate("go\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "error: slave 1 FC04 @0 x2:" in out, out
    print(out)
