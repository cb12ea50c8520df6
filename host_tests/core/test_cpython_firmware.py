"""The same firmware modules under CPython (one source for both interpreters), cross-checked with
the fake Charge HQ's independent payload checker."""
import json
import sys

from mp import ROOT

sys.path[:0] = [str(ROOT / "host_tests" / "cpython"), str(ROOT / "firmware"), str(ROOT / "lib"),
                str(ROOT / "tools")]

from app.core import config
from app.outputs import payload
from app.core import validate  # noqa: E402
from app.core.energy import Energy  # noqa: E402
from app.core.site import Site  # noqa: E402
import fake_chargehq  # noqa: E402
import https_post  # noqa: E402


def site(**kw):
    s = Site()
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_payloads_pass_the_independent_checker():
    cases = [site(grid_w=415, solar_w=0), site(grid_w=-2270, solar_w=5797, battery_w=-3000, soc_pm=606,
                                               battery_wh=8183),
             site(grid_w=120, solar_w=4000, load_w=4120), site(solar_w=3000)]
    for s in cases:
        body = payload.body("K" * 20, s, validate.consumption_w(s), [17511878, 16389472])
        parsed, problems = fake_chargehq.check_push(body)
        assert problems == [], (body, problems)
    parsed, problems = fake_chargehq.check_push(payload.body("K", error="meter timeout"))
    assert problems == [] and parsed == {"apiKey": "K", "error": "meter timeout"}


def test_checker_catches_what_the_device_must_not_send():
    _, p = fake_chargehq.check_push(json.dumps({"apiKey": "k", "siteMeters": {
        "consumption_kw": 5, "net_import_kw": 1, "production_kw": 1}}))
    assert any("inconsistent" in x for x in p)
    _, p = fake_chargehq.check_push('{"apiKey":"k","siteId":"1","siteMeters":{"production_kw":1.23456}}')
    assert any("siteId" in x for x in p) and any("3 decimals" in x for x in p)
    _, p = fake_chargehq.check_push('{"apiKey":"k","error":"x","siteMeters":{}}')
    assert any("error together" in x for x in p)


def test_energy_and_config_on_cpython():
    e = Energy()
    for _ in range(1000):
        e.add(3125, 0)
    assert e.wh[0] == 3 and e.uwh[0] == 125000
    c = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "k", "push_interval_s": 29},
                         "source": {"type": "simulated"}})
    assert "chargehq.push_interval_s: must be at least 30 (got 29)" in c.errors


def test_url_and_der_parsing_on_cpython():
    assert https_post.parse_url("http://h:8080") == ("http", "h", 8080, "/")
    bundle = (ROOT / "firmware" / "ca" / "roots.der").read_bytes()
    assert sum(len(c) for c in https_post.split_der(bundle)) == len(bundle)
