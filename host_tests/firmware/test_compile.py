"""Every firmware and lib module compiles with mpy-cross (what gets deployed)."""
import subprocess

import pytest

from mp import MPY_CROSS, ROOT

MODULES = sorted(str(p.relative_to(ROOT)) for d in ("firmware", "lib")
                 for p in (ROOT / d).rglob("*.py"))


def test_there_are_modules():
    assert len(MODULES) > 5


@pytest.mark.parametrize("module", MODULES)
def test_mpy_cross_compiles(module, tmp_path):
    res = subprocess.run([MPY_CROSS, "-march=xtensawin", "-o", str(tmp_path / "m.mpy"), module],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
