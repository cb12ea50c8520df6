"""Runs every self-contained MicroPython test script host_tests/mp/mp_*.py on the unix port.

Scripts that need a peer process (HTTPS server, Modbus peer, browser) are named fx_*.py and
have their own pytest wrapper."""
import pathlib

import pytest

from mp import MP_TESTS, check_mp

SCRIPTS = sorted(p.name for p in MP_TESTS.glob("mp_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_micropython_script(script, tmp_path):
    check_mp(script, state_dir=tmp_path, heap=1024 * 1024)
