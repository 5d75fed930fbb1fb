#!/usr/bin/env bash
# Makes sure nginx (with the auth_request module) is installed: the gateway tests start their
# own on free ports, with their own prefix directory; the package's service is not needed.
set -euo pipefail
have() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "nginx not found: installing Debian's nginx package" >&2
	# A policy-rc.d that refuses keeps the package from starting its own service (one the
	# system already has is left as it is).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx) >&2
	have && exit 0
fi
echo "nginx is required by the gateway tests: install it (Debian/Ubuntu: sudo apt-get install nginx; macOS: brew install nginx) and run again" >&2
exit 1
