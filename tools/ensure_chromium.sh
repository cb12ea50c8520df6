#!/bin/sh
# Make sure Debian's chromium is at /usr/bin/chromium for the browser tests (Playwright drives it
# with executable_path=/usr/bin/chromium: its own browser download cannot work offline).
# Installs it with apt-get when we are root; otherwise fails with the exact command to run.
set -e
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}  # tests point it elsewhere to check the other branches
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_chromium: $CHROMIUM is missing. Install it with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
    exit 1
fi
echo "ensure_chromium: installing Debian's chromium (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
# one update first: a fresh machine has no package lists
# wait for another apt/dpkg run (a parallel test, unattended upgrades) instead of failing at once
APT="apt-get -o DPkg::Lock::Timeout=300 -y -q"
$APT install chromium >/dev/null 2>&1 || {
    $APT update >/dev/null
    $APT install chromium >/dev/null
}
if [ ! -x "$CHROMIUM" ]; then
    echo "ensure_chromium: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
