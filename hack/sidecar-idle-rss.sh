#!/usr/bin/env bash
# Prints the idle resident memory (VmRSS) of a tollgate-sidecar binary, run standalone with
# the sample policy, 0.5 s after start; RUNS times (default 3). The budget is 15 MiB.
#   hack/sidecar-idle-rss.sh bin/tollgate-sidecar [RUNS] [extra sidecar flags...]
set -euo pipefail
bin=${1:?usage: $0 SIDECAR_BINARY [RUNS] [FLAGS...]}
runs=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
root=$(cd "$(dirname "$0")/.." && pwd)
for i in $(seq "$runs"); do
	port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
	"$bin" --policy "$root/config/samples/standalone/policy.yaml" \
		--users-file "$root/config/samples/standalone/users.yaml" \
		--listen "127.0.0.1:$port" --metrics-listen 127.0.0.1:0 --log-level error "$@" &
	pid=$!
	sleep 0.5
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo "run $i: VmRSS $rss kB ($(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}') MiB)"
done
