# The set-up portal's shallow source check (config.validate(deep=False)): a Modbus profile is
# only looked up, so the profile compiler never loads next to Microdot; the check at boot
# (deep, the default) still compiles it and names what is wrong.
import os
import sys
from app.core import config
from mptest import check, eq, done

os.mkdir("profiles")
with open("profiles/good.json", "w") as f:
    f.write('{"values": [{"id": "p", "addr": 0, "type": "s16", "field": "grid_w"}]}')
with open("profiles/broken.json", "w") as f:
    f.write('{"values": [{"id": "p", "addr": 0, "type": "s99"}]}')  # a type no decoder knows


def cfg_for(profile):
    return {"wifi": {"ssid": "HomeNet"}, "chargehq": {"api_key": "shallow-key-0123"},
            "source": {"type": "modbus", "devices": [{"profile": profile, "slave": 1}]}}


def loaded():
    return "app.sources.modbus_profile" in sys.modules


for name, deep_ok, shallow_ok in (("good", True, True), ("broken", False, True),
                                  ("missing", False, False), ("../x", False, False)):
    c = config.validate(cfg_for(name), deep=False)
    eq(c.problem is None, shallow_ok, "shallow check of %s: %s %s" % (name, c.problem, c.errors))
    if not shallow_ok:
        check(any("profile" in e for e in c.errors), "shallow %s names the profile: %s" % (name, c.errors))
    check(not loaded(), "shallow check of %s does not load the profile compiler" % name)
for name, deep_ok, shallow_ok in (("good", True, True), ("broken", False, True),
                                  ("missing", False, False)):
    c = config.validate(cfg_for(name))
    eq(c.problem is None, deep_ok, "deep check of %s: %s %s" % (name, c.problem, c.errors))
    if not deep_ok:
        check(any(".profile" in e and name in e for e in c.errors), "deep %s says why: %s" % (name, c.errors))
check(loaded(), "the deep check compiles the profile")
# same messages either way for a missing file
c1 = config.validate(cfg_for("missing"), deep=False)
c2 = config.validate(cfg_for("missing"))
eq(c1.errors, c2.errors, "missing profile: one message in both checks")
done()
