# The console side of a settings backup (app.core.backup): `backup` prints it, `restore {JSON}`
# takes it back. Loaded for the one command.
from app.core import config
from app.core.backup import check, text
from app.console.words import spans


def c_backup(con, args):
    con.say(text(con.settings()))
    con.say("(secrets left out; paste it back with: restore {...})")


def c_restore(con, args):
    sp = spans(con.line)
    if len(sp) < 2:
        con.say("usage: restore {JSON from `backup`}")
        return
    body = bytes(con.line[sp[1][0]:]).decode()
    data, errors, checked = check(con.settings(), body)
    if errors or data is None:
        con.say("not restored: " + "; ".join(errors))
        return
    config.save(data)
    con.saved = True
    con.log.info("console: settings restored from a backup")
    con.say("restored%s; reboot to apply" % (" (still needed: %s)" % checked.problem if checked.problem else ""))
