#!/usr/bin/env bash
# What tests/test_console.py needs from the system: Debian's Chromium and its ChromeDriver
# (/usr/bin/chromium, /usr/bin/chromedriver). Idempotent and quiet: installs only what is
# missing, prints one line, and shows apt's output only if the install fails.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "console-deps: chromium and chromedriver already installed"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium chromium-driver; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    echo "console-deps: apt-get install chromium chromium-driver failed" >&2
    exit 1
fi
echo "console-deps: installed $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
