#!/usr/bin/env bash
# Prints the idle resident memory of a tollgate-sidecar binary, run standalone with the sample
# policy, 0.5 s after start, RUNS times (default 3): VmRSS, and its two parts, RssFile (the
# binary's pages, shared through the page cache) and RssAnon (the sidecar's own memory), then
# their medians with the range. The budget is 15 MiB VmRSS. Extra flags go to the sidecar
# (--redis-url ... measures a Redis store).
#   hack/sidecar-idle-rss.sh bin/tollgate-sidecar [RUNS] [extra sidecar flags...]
set -euo pipefail
bin=${1:?usage: $0 SIDECAR_BINARY [RUNS] [FLAGS...]}
runs=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
root=$(cd "$(dirname "$0")/.." && pwd)
samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
for i in $(seq "$runs"); do
	port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
	"$bin" --policy "$root/config/samples/standalone/policy.yaml" \
		--users-file "$root/config/samples/standalone/users.yaml" \
		--listen "127.0.0.1:$port" --metrics-listen 127.0.0.1:0 --log-level error "$@" &
	pid=$!
	sleep 0.5
	read -r rss file anon < <(awk '/^VmRSS/ {r=$2} /^RssFile/ {f=$2} /^RssAnon/ {a=$2} END {print r, f, a}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo "$rss $file $anon" >>"$samples"
	echo "run $i: VmRSS $rss kB ($(mib "$rss") MiB), RssFile $(mib "$file") MiB, RssAnon $(mib "$anon") MiB"
done
for col in 1 2 3; do
	name=$(echo "VmRSS RssFile RssAnon" | cut -d' ' -f"$col")
	sort -n -k"$col" "$samples" | awk -v c="$col" -v n="$name" '{v[NR]=$c} END {
		m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
		printf "%s median %.1f MiB (%.1f-%.1f)\n", n, m/1024, v[1]/1024, v[NR]/1024 }'
done
