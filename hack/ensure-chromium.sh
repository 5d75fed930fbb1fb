#!/usr/bin/env bash
# Makes sure Debian's chromium is on PATH: sidecar's TestBrowserOnAnotherOrigin drives a real
# headless browser against the sidecar on another origin (CORS). As root (CI) the test runs it
# with --no-sandbox: Chromium's sandbox refuses to start as root.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "chromium not found: installing Debian's chromium package" >&2
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >&2
	command -v chromium >/dev/null 2>&1 && exit 0
fi
echo "chromium is required by the tests: install it (Debian/Ubuntu: sudo apt-get install chromium) or set TOLLGATE_CHROMIUM to a Chromium binary, and run again" >&2
exit 1
