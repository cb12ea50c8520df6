"""Runs every self-contained MicroPython test script host_tests/mp/<package>/mp_*.py on the unix port,
twice: on the 64-bit PyPI build and on the 32-bit build with the ESP32's heap shape
(tools/unix32.py). The ESP32 has 4-byte words and 31-bit small ints: an integer that is small on
64-bit can be a heap object on 32-bit, so an allocation-free path must be proven on both.

Scripts that need a peer process (HTTPS server, Modbus peer, browser) are named fx_*.py and
have their own pytest wrapper."""
import pytest

from mp import check_mp, mp32, suite_scripts

SCRIPTS = suite_scripts()


@pytest.mark.parametrize("script", SCRIPTS)
def test_micropython_script(script, tmp_path):
    check_mp(script, state_dir=tmp_path, heap=1024 * 1024)


@pytest.fixture(scope="session")
def micropython32():
    return mp32("plain")


@pytest.mark.parametrize("script", SCRIPTS)
def test_micropython_script_32bit(script, tmp_path, micropython32):
    check_mp(script, state_dir=tmp_path, heap=1024 * 1024, micropython=micropython32)
