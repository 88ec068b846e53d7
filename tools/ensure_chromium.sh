#!/usr/bin/env bash
# The browser tests (tests/e2e) drive Debian's Chromium through Playwright. Install it when it is missing and
# this machine can (root with apt-get); otherwise say why and go on: those tests then skip with the reason.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != "0" ]; then
  echo "browser tests: Chromium is not installed and this machine cannot install it (needs root and apt-get);" \
       "the dashboard and report browser tests will be skipped" >&2
  exit 0
fi
echo "browser tests: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium >/dev/null 2>&1 \
  || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1) \
  || echo "browser tests: Chromium could not be installed; the browser tests will be skipped" >&2
exit 0
