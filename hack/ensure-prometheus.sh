#!/usr/bin/env bash
# Makes sure prometheus is on PATH: test/monitoring runs its own on a free port to scrape a
# manager and a sidecar and evaluate the alert rules of config/prometheus.
set -euo pipefail
command -v prometheus >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "prometheus not found: installing Debian's prometheus package" >&2
	# The package's own service is not needed; the test starts its own server.
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >&2
	command -v prometheus >/dev/null 2>&1 && exit 0
fi
echo "prometheus is required by test/monitoring: install it (Debian/Ubuntu: sudo apt-get install prometheus; macOS: brew install prometheus) and run again" >&2
exit 1
