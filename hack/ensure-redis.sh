#!/usr/bin/env bash
# Makes sure redis-server is on PATH: the tests start their own on free ports.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "redis-server not found: installing Debian's redis-server package" >&2
	# The package's own service is not needed; the tests start their own servers.
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server) >&2
	command -v redis-server >/dev/null 2>&1 && exit 0
fi
echo "redis-server is required by the tests: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and run again" >&2
exit 1
