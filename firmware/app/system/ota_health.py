# A version on trial (just updated over the air) proves itself here: once the first reading is
# taken and the first output delivered (a push the endpoint accepted), otaboot.confirm() makes
# it stay. Until then otaboot's boot counters and deadline timer roll it back by themselves,
# also when this code is what broke (it runs from the new version; the rollback does not).
# Also the versions for the status page and /api/status, without loading app.system.ota (RAM). Until
# an update is first used, boot.py leaves otaboot unloaded: then the base runs, nothing on trial.
import asyncio
import sys


def _boot():
    return sys.modules.get("otaboot")


def running_version():
    ob = _boot()
    if ob is not None and ob.slot:
        return ob.version() or "?"
    from app.core.version import VERSION
    return VERSION


def status():
    """Running and previous version, trial, the last event, the update running (if any)."""
    ob = _boot()
    st = ob.state if ob is not None else {}
    ota = sys.modules.get("app.system.ota")  # loaded only once an update has started
    s = ota.active() if ota is not None else None
    return {"version": running_version(),
            "previous": ob.version(prev=True) if st.get("prev") or st.get("prev_v") else None,
            "slot": ob.slot or "base" if ob is not None else "base",
            "on_trial": ob is not None and ob.on_trial(),
            "note": ob.note or st.get("note") if ob is not None else None,
            "update": None if s is None else {"from": s.who, "version": s.version, "files": s.done,
                                               "of": s.count, "bytes": s.bytes_done}}


def delivered(app):
    """An output reached its receiver: Charge HQ accepted a push (or another output counts one)."""
    if app.pusher.ok_count:
        return True
    for out in getattr(app, "outputs", None) or ():
        if getattr(out, "ok_count", 0):
            return True
    return False


async def watch(app, log):
    otaboot = _boot()
    if otaboot is None:  # no update ever: nothing on trial
        return
    if otaboot.note:
        (log.warn if "rolled back" in otaboot.note else log.info)("update: " + otaboot.note)
    if not otaboot.on_trial():
        return
    while not (app.last_ok_up is not None and delivered(app)):
        await asyncio.sleep_ms(500)
    if otaboot.confirm():
        log.info("update: version %s confirmed (first reading taken, first output delivered)"
                 % running_version())
