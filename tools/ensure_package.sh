#!/bin/sh
# Make sure a Debian package's program is there for the tests: `ensure_package.sh PACKAGE PATH`.
# Installs PACKAGE with apt-get when we are root; otherwise fails with the exact command to run
# (a test never skips silently). Used by ensure_chromium.sh and ensure_mosquitto.sh.
set -e
PKG=$1
BIN=$2
WHO="ensure_$PKG"
if [ -x "$BIN" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "$WHO: $BIN is missing. Install it with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y $PKG" >&2
    exit 1
fi
echo "$WHO: installing Debian's $PKG (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
# one update first on a fresh machine (no package lists); wait for another apt/dpkg run (a
# parallel test, unattended upgrades) instead of failing at once
APT="apt-get -o DPkg::Lock::Timeout=300 -y -q"
$APT install "$PKG" >/dev/null 2>&1 || {
    $APT update >/dev/null
    $APT install "$PKG" >/dev/null
}
if [ ! -x "$BIN" ]; then
    echo "$WHO: apt-get finished but $BIN is still missing" >&2
    exit 1
fi
