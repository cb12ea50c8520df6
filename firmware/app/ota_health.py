# A version on trial (just updated over the air) proves itself here: once the first reading is
# taken and the first output delivered (a push the endpoint accepted), otaboot.confirm() makes
# it stay. Until then otaboot's boot counters and deadline timer roll it back by themselves,
# also when this code is what broke (it runs from the new version; the rollback does not).
import asyncio


def delivered(app):
    """An output reached its receiver: Charge HQ accepted a push (or another output counts one)."""
    if app.pusher.ok_count:
        return True
    for out in getattr(app, "outputs", None) or ():
        if getattr(out, "ok_count", 0):
            return True
    return False


async def watch(app, log):
    import otaboot
    from app import ota
    if otaboot.note:
        (log.warn if "rolled back" in otaboot.note else log.info)("update: " + otaboot.note)
    if not otaboot.on_trial():
        return
    while not (app.last_ok_up is not None and delivered(app)):
        await asyncio.sleep_ms(500)
    if otaboot.confirm():
        log.info("update: version %s confirmed (first reading taken, first output delivered)"
                 % ota.running_version())
