# The console's `update` command: `update` shows the running and previous version (and what the
# last update did); `update URL` pulls an update from an HTTPS release manifest (app.system.ota_pull).
from app.system import ota


def c_update(con, args):
    st = ota.status()
    if not args:
        con.say("version    %s (%s)%s" % (st["version"], st["slot"], ", ON TRIAL" if st["on_trial"] else ""))
        con.say("previous   %s" % (st["previous"] or "-"))
        if st["note"]:
            con.say("last       %s" % st["note"])
        if st["update"]:
            con.say("running    %(version)s from %(from)s: %(files)d of %(of)d files" % st["update"])
        con.say("`update https://.../manifest.txt` pulls an update (docs/ota.md)")
        return None
    return _pull(con, args[0])


async def _pull(con, url):
    from app.system import ota_pull
    con.say("update from %s ..." % url)
    try:
        msg = await ota_pull.pull(con.app, url, con.log, "console")
    except Exception as e:
        con.say("update failed: %s" % e)
        return
    con.say(msg)
