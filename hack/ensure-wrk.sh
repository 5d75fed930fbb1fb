#!/usr/bin/env bash
# Makes sure wrk, the load generator of make bench, is on PATH.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "wrk not found: installing Debian's wrk package" >&2
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk) >&2
	command -v wrk >/dev/null 2>&1 && exit 0
fi
echo "wrk is required by make bench: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk) and run again" >&2
exit 1
