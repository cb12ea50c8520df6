"""Static check of firmware/ and lib/ against the ESP32's MicroPython API (mypy with the pinned
micropython-esp32-stubs and micropython-stdlib-stubs; settings in mypy.ini, driver tools/typecheck.py).

Measures: 0 errors in the firmware; and, on a canary module with known mistakes, that the check
really catches what it is for (a UART method the ESP32 lacks, a wrong UART or WLAN.config keyword, a
CPython-only time call, a misspelt machine class or constant, arithmetic on ticks) while the CPython-fallback idiom passes."""
import subprocess
import sys

from mp import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import typecheck  # noqa: E402

CANARY = '''
import time
import machine
import network

try:
    from time import ticks_ms
except ImportError:  # CPython fallback: never runs on the ESP32, so not checked
    def ticks_ms():
        return int(time.monotonic() * 1000)

try:
    import no_such_module_on_the_board
except ImportError:  # runs ON the board: checked
    no_such_module_on_the_board = None
    STARTED = time.monotonic()            # MISTAKE: CPython-only


def use():
    uart = machine.UART(2, baudrate=9600, tx=17, rx=16)
    machine.UART(1, baud=9600, tx=4, rx=5)  # MISTAKE: the keyword is baudrate
    uart.write(b"ok")                     # fine
    uart.flush()                          # fine
    uart.read_until(b"\\n")               # MISTAKE: no such UART method
    wlan = network.WLAN(network.STA_IF)
    wlan.config(hostname="meter")         # fine
    wlan.config(dhcp_hostname="meter")    # fine (an ESP32 alias)
    wlan.config(host_name="meter")        # MISTAKE: unknown config param
    machine.Pin(2, machine.Pin.OUTPUT)    # MISTAKE: it is Pin.OUT
    machine.WatchDog(timeout=5000)        # MISTAKE: it is machine.WDT
    t0 = time.ticks_ms()
    held = [0, 0]
    held[1] = t0                          # fine: a tick kept in a list
    waited = time.ticks_ms() - t0         # MISTAKE: wrong after the 2**30 wrap: ticks_diff
    print(time.ticks_diff(time.ticks_ms(), held[1]), waited)
    return ticks_ms()


class Rec:
    pass


def records():
    r = Rec()
    r.name = "filled from outside"        # fine: mypy cannot follow it, the board can
    print(r.name)
    print(r.nmae)                         # MISTAKE: a typo, never assigned anywhere
'''


def _uncommitted(paths):
    res = subprocess.run(["git", "status", "--porcelain", "--"] + sorted(paths), cwd=ROOT,
                         capture_output=True, text=True)
    return sorted(set(line[3:] for line in res.stdout.splitlines()))


def test_firmware_has_no_esp32_api_errors():
    errors, left_out, _raw = typecheck.check()
    files = set(e["path"] for e in errors)
    assert not errors, ("mypy against the ESP32 stubs (`make typecheck`; docs/deploy.md says how to read it):\n"
                        + typecheck.report(errors, left_out)
                        + "\nfiles with uncommitted changes among them: %s" % (_uncommitted(files) or "none"))


def test_the_check_catches_esp32_api_mistakes(tmp_path):
    canary = tmp_path / "canary_module.py"
    canary.write_text(CANARY)
    errors, left_out, raw = typecheck.check((str(canary),))
    mistakes = [i for i, text in enumerate(CANARY.split("\n"), 1) if "# MISTAKE" in text]
    assert len(mistakes) == 8
    assert sorted(set(e["line"] for e in errors)) == mistakes, \
        typecheck.report(errors, left_out) + "\n--- mypy ---\n" + raw
    msgs = " ".join(e["msg"] for e in errors)
    for word in ("monotonic", "read_until", "host_name", "OUTPUT", "WatchDog", "nmae", '"baud"', "_TicksMs"):
        assert word in msgs, word
    assert sorted(e["why"].split(" ")[0] for e in left_out) == ["CPython", "a", "attribute", "attribute", "optional"]
