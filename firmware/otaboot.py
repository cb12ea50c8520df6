# Over-the-air updates, the part that must work when a new version does not: picks the app
# version to run (boot.py calls select() before anything imports the app), switches to a staged
# version in one atomic step, counts the boots of a version on trial and rolls it back.
#
# Layout on the flash (paths relative to the root, where config.json lives):
#   app/ lib/ web/          the base version (USB deploy)
#   ota/a/, ota/b/          two slots, each a whole app/ lib/ web/ tree plus manifest.txt
#   ota/state               JSON {"cur": "" | "a" | "b", "cur_v", "prev", "prev_v", "trial",
#                           "id", "pon", "note"}: the pointer. Written to a temp file and renamed
#                           over the old one (atomic on LittleFS): a power cut leaves the old
#                           pointer or the new one, never half of either.
# A version on trial must report "first reading taken and first output delivered" (confirm())
# within MAX_BOOTS resets (counted in RTC memory), MAX_POWER_ONS power-ons (counted in the state
# file: RTC memory does not survive them) and DEADLINE_S of one run (a timer armed here), or the
# pointer goes back to the previous version by itself.
# This module is never part of an update (the manifest cannot name a root file): it stays the one
# USB deploy put there, so a broken update cannot break its own rollback.
import os
import sys
import json
from micropython import const

DIR = "ota"
STATE = "ota/state"
SLOTS = ("a", "b")
MAX_BOOTS = const(3)        # resets (crash, watchdog) of a version on trial
MAX_POWER_ONS = const(3)    # power-ons of a version on trial
DEADLINE_S = const(600)     # one run of a version on trial
RTC_AT = const(128)         # the boot counter's place in RTC memory (app.core.persist's record is before)
_RTC_LEN = const(12)        # b"OTA1", trial id (4), boots (2), ~boots (2)
RTC_END = const(140)        # RTC_AT + _RTC_LEN: app.core.persist keeps RTC memory up to here
_TIMER_ID = const(3)        # hardware timer for the deadline (console repl uses 0)

state = {}       # the pointer as read at boot (after a rollback: the new one)
slot = ""        # the folder running: "" (base), "a" or "b"
note = None      # what select() did, for the log and the status ("rolled back ...")
_timer = None


def read_state():
    for name in (STATE, STATE + ".tmp"):  # .tmp: a FAT rename cut in half (see write_state)
        try:
            with open(name) as f:
                st = json.load(f)
            if isinstance(st, dict):
                return st
        except (OSError, ValueError):
            pass
    return {}


def write_state(st):
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    try:
        os.rename(tmp, STATE)  # atomic on LittleFS (the ESP32 default) and POSIX
    except OSError:  # FAT cannot rename over a file (read_state then finds the .tmp)
        os.remove(STATE)
        os.rename(tmp, STATE)


def folder(name):
    """The folder of a slot name ("" = the base at the root)."""
    return DIR + "/" + name if name else ""


def usable(name):
    """A slot holds a version when its manifest and app package are there (base: always)."""
    if not name:
        return True
    try:
        os.stat(folder(name) + "/manifest.txt")
        os.stat(folder(name) + "/app")
        return True
    except OSError:
        return False


def on_trial():
    return bool(state.get("trial"))


def version(st=None, prev=False):
    """The version named by the pointer (None: not known, e.g. the base before any update)."""
    st = st or state
    return st.get("prev_v" if prev else "cur_v")


# --- RTC memory: the boot counter, kept after app.core.persist's energy record --------------------------
def _rtc_count(trial_id, power_on):
    """-> this boot's number on trial (1 = first), counted in RTC memory."""
    try:
        import machine
        rtc = machine.RTC()
        raw = rtc.memory()
    except Exception:
        return 1
    n = 0
    end = RTC_AT + _RTC_LEN
    if not power_on and len(raw) >= end and raw[RTC_AT:RTC_AT + 4] == b"OTA1":
        tid = int.from_bytes(raw[RTC_AT + 4:RTC_AT + 8], "little")
        b = int.from_bytes(raw[RTC_AT + 8:RTC_AT + 10], "little")
        nb = int.from_bytes(raw[RTC_AT + 10:RTC_AT + 12], "little")
        if tid == trial_id & 0x7FFFFFFF and b ^ nb == 0xFFFF:
            n = b
    n += 1
    buf = bytearray(max(len(raw), end))
    buf[:len(raw)] = raw  # the energy record before it stays as it is
    buf[RTC_AT:end] = b"OTA1" + (trial_id & 0x7FFFFFFF).to_bytes(4, "little") + \
        n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little")
    try:
        rtc.memory(buf)
    except Exception:
        pass
    return n


# --- boot ----------------------------------------------------------------------------------------
def select():
    """Pick the version to run and put its folders first on sys.path. Called by boot.py."""
    global state, slot, note
    st = read_state()
    cur = st.get("cur") or ""
    if cur and cur not in SLOTS:
        cur = ""
    if cur and not usable(cur):
        st = _rolled_back(st, "its folder is incomplete")
        cur = st["cur"]
    elif st.get("trial"):
        try:
            import machine
            power_on = machine.reset_cause() == getattr(machine, "PWRON_RESET", 1)
        except Exception:
            power_on = False
        if power_on:
            st["pon"] = st.get("pon", 0) + 1
            write_state(st)
        boots = _rtc_count(st.get("id", 0), power_on)
        if boots > MAX_BOOTS:
            st = _rolled_back(st, "no reading and output after %d resets" % MAX_BOOTS)
        elif st.get("pon", 0) > MAX_POWER_ONS:
            st = _rolled_back(st, "no reading and output after %d power-ons" % MAX_POWER_ONS)
        else:
            note = "version %s on trial: boot %d of %d" % (version(st), boots, MAX_BOOTS)
        cur = st.get("cur") or ""
    state = st
    slot = cur
    if cur:
        sys.path.insert(0, folder(cur) + "/lib")
        sys.path.insert(0, folder(cur))
    if st.get("trial"):
        _arm_deadline()


def _rolled_back(st, why):
    global note
    prev = st.get("prev") or ""
    if prev and not usable(prev):
        prev = ""
    new = {"cur": prev, "cur_v": st.get("prev_v") if prev else None, "prev": st.get("cur"),
           "prev_v": st.get("cur_v"), "trial": False,
           "note": "rolled back from %s: %s" % (st.get("cur_v"), why)}
    write_state(new)
    note = new["note"]
    return new


def _arm_deadline(period_ms=DEADLINE_S * 1000):
    global _timer
    try:
        from machine import Timer
        _timer = Timer(_TIMER_ID)
        _timer.init(mode=Timer.ONE_SHOT, period=period_ms, callback=_deadline)
    except Exception as e:  # no timer: the boot counters still bound the trial
        print("ota: no trial deadline timer:", e)


def _deadline(t=None):
    st = read_state()
    if st.get("trial") and st.get("id") == state.get("id"):
        _rolled_back(st, "no reading and output within %d s" % DEADLINE_S)
        print("ota:", note, "- restarting")
        import machine
        machine.reset()


def start_failed(e):
    """main.py: the app raised before it could run. A version on trial is rolled back and the
    chip restarted into the previous one; otherwise the caller re-raises (the REPL shows it)."""
    st = read_state()
    if st.get("trial") and st.get("id") == state.get("id"):
        _rolled_back(st, "the app failed at start: %s: %s" % (type(e).__name__, e))
        print("ota:", note, "- restarting")
        import machine
        machine.reset()


# --- called by the app ---------------------------------------------------------------------------
def confirm():
    """The running version works (reading taken, output delivered): it stays. -> True if it was
    on trial."""
    global _timer
    st = read_state()
    if not st.get("trial") or st.get("id") != state.get("id") or (st.get("cur") or "") != slot:
        return False
    st["trial"] = False
    st["pon"] = 0
    st["note"] = "version %s confirmed" % version(st)
    write_state(st)
    state.update(st)
    if _timer is not None:
        try:
            _timer.deinit()
        except Exception:
            pass
        _timer = None
    return True


def target():
    """The slot a new version is staged in: never the running one."""
    return "b" if slot == "a" else "a"


def switch(new_slot, new_version, running_version, trial_id):
    """Point at a fully staged and verified slot, on trial, with the running version as the one
    to go back to. One atomic write."""
    write_state({"cur": new_slot, "cur_v": new_version, "prev": slot, "prev_v": running_version,
                 "trial": True, "id": trial_id & 0x7FFFFFFF, "pon": 0, "note": None})


def forget_slot(name):
    """The slot is about to be overwritten: the pointer must not name it as a rollback target."""
    st = read_state()
    if st.get("prev") == name:
        st["prev"] = ""
        st["prev_v"] = None
        write_state(st)
        state.update(st)
