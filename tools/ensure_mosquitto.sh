#!/bin/sh
# Make sure Debian's mosquitto broker is at /usr/sbin/mosquitto for the MQTT tests and the
# simulator's --mqtt-broker (the same pattern as ensure_chromium.sh): installs it with apt-get
# when we are root; otherwise fails with the exact command to run.
set -e
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
if [ -x "$MOSQUITTO" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_mosquitto: $MOSQUITTO is missing. Install it with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y mosquitto" >&2
    exit 1
fi
echo "ensure_mosquitto: installing Debian's mosquitto (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
APT="apt-get -o DPkg::Lock::Timeout=300 -y -q"
$APT install mosquitto >/dev/null 2>&1 || {
    $APT update >/dev/null
    $APT install mosquitto >/dev/null
}
if [ ! -x "$MOSQUITTO" ]; then
    echo "ensure_mosquitto: apt-get finished but $MOSQUITTO is still missing" >&2
    exit 1
fi
