#!/usr/bin/env bash
# Makes sure redis-server, redis-sentinel and redis-cli are on PATH: the tests start their
# own servers, Sentinel groups and Clusters on free ports.
set -euo pipefail
have() { command -v redis-server && command -v redis-sentinel && command -v redis-cli; } >/dev/null 2>&1
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "redis-server, redis-sentinel or redis-cli not found: installing Debian's redis-server and redis-sentinel packages" >&2
	# The packages' own services are not needed; the tests start their own servers.
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-sentinel redis-tools) >&2
	have && exit 0
fi
echo "redis-server, redis-sentinel and redis-cli are required by the tests: install them (Debian/Ubuntu: sudo apt-get install redis-server redis-sentinel; macOS: brew install redis) and run again" >&2
exit 1
