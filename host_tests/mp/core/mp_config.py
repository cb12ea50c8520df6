# Config: load never raises; bad values name the key and the reason; atomic save.
import json
import os
from app.core import config
from mptest import check, eq, done


def write(text):
    with open("config.json", "w") as f:
        f.write(text)


GOOD = {"wifi": {"ssid": "HomeNet", "password": "pw"},
        "chargehq": {"api_key": "abcdef123456", "push_interval_s": 45},
        "source": {"type": "simulated"}}

# missing file: needs set-up, no crash
c = config.load()
check(c.needs_setup, "missing file -> needs set-up")
check("no config file" in c.problem, c.problem)

# corrupt JSON: needs set-up, file kept aside for inspection
write("{not json")
c = config.load()
check(c.needs_setup and "cannot be used (syntax error" in c.problem, c.problem)
check("config.json.bad" in os.listdir(), "corrupt file kept as .bad")

# good file
write(json.dumps(GOOD))
c = config.load()
check(not c.needs_setup, "good config runs: %s" % c.problem)
eq(c.errors, [], "no errors")
eq(c.get("chargehq", "push_interval_s"), 45, "interval read")
eq(c.get("chargehq", "endpoint"), config.DEFAULT_ENDPOINT, "endpoint default")
eq(c.get("device", "sample_interval_ms"), 1000, "sample default")

# bad values: message names the key and reason; the default is used instead
bad = json.loads(json.dumps(GOOD))
bad["chargehq"]["push_interval_s"] = 10
bad["chargehq"]["endpoint"] = "ftp://example.com/x"
bad["wifi"]["ssid"] = 42
bad["device"] = {"sample_interval_ms": "fast", "colour": "red"}
c = config.validate(bad)
text = "\n".join(c.errors)
check("chargehq.push_interval_s: must be at least 30 (got 10)" in text, text)
check("chargehq.endpoint: must start with https://" in text, text)
check("wifi.ssid: must be text" in text, text)
check("device.sample_interval_ms: must be a whole number" in text, text)
check("device.colour: unknown key" in text, text)
eq(c.get("chargehq", "push_interval_s"), 60, "refused interval -> default 60")
check(c.needs_setup and c.problem == "no Wi-Fi network", "ssid refused -> set-up: %s" % c.problem)

# booleans are not numbers
b2 = json.loads(json.dumps(GOOD))
b2["chargehq"]["push_interval_s"] = True
c = config.validate(b2)
check(any("push_interval_s" in e for e in c.errors), "bool refused as number")

# unknown source type and bad source settings
s = json.loads(json.dumps(GOOD))
s["source"] = {"type": "teleport"}
c = config.validate(s)
check(c.needs_setup and any("unknown source" in e for e in c.errors), c.errors)
s["source"] = {"type": "simulated", "peak_solar_w": -5}
c = config.validate(s)
check(any("source.peak_solar_w" in e for e in c.errors), c.errors)
s["source"] = "simulated"
c = config.validate(s)
check(c.needs_setup, "source not an object")
c = config.validate([1, 2])
check(c.needs_setup, "top level not an object")

# missing API key -> needs set-up
k = json.loads(json.dumps(GOOD))
k["chargehq"]["api_key"] = ""
check(config.validate(k).problem == "no Charge HQ API key", "api key required")

# atomic save round trip, no temp file left behind
config.save(GOOD)
eq(json.load(open("config.json")), GOOD, "saved")
check("config.json.tmp" not in os.listdir(), "no temp left")
# a power cut between remove and rename (FAT path) leaves only the .tmp: load still finds it
os.rename("config.json", "config.json.tmp")
c = config.load()
check(not c.needs_setup, "loads from .tmp after a cut")

# bytes that are not UTF-8 (flash corruption) and absurd nesting: set-up needed, no exception
for bad in (b'{"wifi": {"ssid": "\xc3(x"}}', b"\xff\xfe\x00", b"[" * 5000):
    with open("config.json", "wb") as f:
        f.write(bad)
    c = config.load()
    check(c.problem.startswith("config file cannot be used ("), "corrupt bytes %r: %s" % (bad[:12], c.problem))
    check("config.json.bad" in os.listdir() and "config.json" not in os.listdir(), "kept aside")

# masked display never shows secrets
m = config.masked({"chargehq": {"api_key": "abcdef123456"}, "wifi": {"password": "secretpw"}})
shown = json.dumps(m)
check("abcdef12" not in shown and "3456" not in shown and "(set, hidden)" in shown, shown)
check("secretpw" not in shown, shown)
done()
