"""The set-up form reads each board file a line at a time (app.webforms._boards: its source and
how many CT inputs it has) instead of parsing it whole; every board file must give what the JSON
says, in whatever layout it is written."""
import json
import os

from mp import ROOT


def _boards_fn():
    src = (ROOT / "firmware" / "app" / "web" / "webforms.py").read_text()
    ns = {}
    exec(src[src.index("def _boards():"):src.index("_KINDS = {")], ns)  # the function alone (no imports)
    return ns["_boards"]


def test_line_reader_agrees_with_json(tmp_path):
    (tmp_path / "boards").mkdir()
    for p in (ROOT / "boards").glob("*.json"):
        (tmp_path / "boards" / p.name).write_text(p.read_text())
    # the same data in the compact layout too (one line per channel list)
    b = json.loads((ROOT / "boards" / "circuitsetup_6ch.json").read_text())
    (tmp_path / "boards" / "compact.json").write_text(json.dumps(b))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        got = list(_boards_fn()())
    finally:
        os.chdir(cwd)
    assert len(got) == len(list((ROOT / "boards").glob("*.json"))) + 1
    for name, kind, count in got:
        b = json.loads((tmp_path / "boards" / (name + ".json")).read_text())
        assert (kind, count) == (b.get("source") or "", len(b.get("channels") or ())), name
