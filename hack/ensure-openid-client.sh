#!/usr/bin/env bash
# Makes sure node (20 or newer) and the pinned openid-client (test/openid-client/package-lock.json)
# are installed: sidecar/oauth_interop_test.go drives the sidecar with them. Installs into
# test/openid-client/node_modules only; nothing global but Debian's nodejs and npm (as root).
set -euo pipefail
cd "$(dirname "$0")/../test/openid-client"

node_ok() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; }

if ! node_ok && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "node 20+ and npm not found: installing Debian's nodejs and npm packages" >&2
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm) >&2
fi
if ! node_ok; then
	echo "node 20 or newer and npm are required by the OAuth interop test: install them (Debian/Ubuntu: sudo apt-get install nodejs npm; macOS: brew install node) and run again" >&2
	exit 1
fi
# npm ci installs exactly the lockfile; a stamp of the lockfile it installed skips it next time.
stamp=node_modules/.tollgate-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	npm ci --no-audit --no-fund --silent >&2
	echo "$want" >"$stamp"
fi
