#!/bin/sh
# Make sure Debian's chromium is at /usr/bin/chromium for the browser tests (Playwright drives it
# with executable_path=/usr/bin/chromium: its own browser download cannot work offline).
# CHROMIUM: tests point it elsewhere to check the other branches.
exec sh "$(dirname "$0")/ensure_package.sh" chromium "${CHROMIUM:-/usr/bin/chromium}"
