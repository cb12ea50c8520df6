# Shared state of the ESP32 stand-ins (host only; never deployed).
# Configured by environment variables so that firmware runs unchanged:
#   ESPSIM_STATE        folder playing the device's persistent state (RTC memory, RTC clock)
#   ESPSIM_RESET_CAUSE  power | soft | wdt | hard | deepsleep  (what machine.reset_cause() reports)
#   ESPSIM_TICKS_START  initial ticks_ms value (e.g. just before the 2**30 wrap)
#   ESPSIM_NTP          "0" makes ntptime.settime() fail (no time server)
#   ESPSIM_WIFI         "ok" (default) | "wrong_password" | "no_ap" | "down"
import os

STATE = os.getenv("ESPSIM_STATE") or "."
RESET_CAUSE = os.getenv("ESPSIM_RESET_CAUSE") or "power"
TICKS_START = int(os.getenv("ESPSIM_TICKS_START") or "0")
NTP_OK = (os.getenv("ESPSIM_NTP") or "1") != "0"


def read_file(name):
    try:
        with open(STATE + "/" + name, "rb") as f:
            return f.read()
    except OSError:
        return None


def write_file(name, data):
    name = STATE + "/" + name
    with open(name + ".tmp", "wb") as f:
        f.write(data)
    os.rename(name + ".tmp", name)


def remove(name):
    try:
        os.remove(STATE + "/" + name)
    except OSError:
        pass


def die(reason):
    # The chip stops at once: no cleanup, no atexit, no flushing. The supervisor
    # (tools/sim.py or a test) reads the marker and restarts with RTC memory kept.
    write_file(".reset_reason", reason.encode())
    os.system("kill -KILL $PPID")  # $PPID of the shell is this interpreter
    while True:
        pass


if RESET_CAUSE == "power":
    # Power-on: RTC memory and the RTC clock are lost.
    remove(".rtc_memory")
    remove(".rtc_clock")
