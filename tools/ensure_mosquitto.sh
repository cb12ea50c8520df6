#!/bin/sh
# Make sure Debian's mosquitto broker is at /usr/sbin/mosquitto for the MQTT tests and the
# simulator's --mqtt-broker.
exec sh "$(dirname "$0")/ensure_package.sh" mosquitto "${MOSQUITTO:-/usr/sbin/mosquitto}"
