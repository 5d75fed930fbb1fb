#!/usr/bin/env bash
# Makes sure the tools of make bench are on PATH: wrk (the load generator) and valgrind
# (callgrind counts the instructions per request, which busy cores do not disturb).
set -euo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "${missing[*]} not found: installing Debian's packages" >&2
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2
	missing=()
	command -v wrk >/dev/null 2>&1 || missing+=(wrk)
	command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
	[ ${#missing[@]} -eq 0 ] && exit 0
fi
echo "make bench needs ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}; macOS: brew install wrk, and run without instruction counts: go run ./hack/bench -instructions 0) and run again" >&2
exit 1
