#!/usr/bin/env bash
# Runs the operator locally against $KUBECONFIG with its webhook served here and registered
# with that API server in URL mode (a self-managed serving certificate), as `make demo` does:
# pods created in namespaces labelled auth.tollgate.dev/injection=enabled get the sidecar.
#
#   hack/run-manager.sh [extra manager flags]
# WEBHOOK_PORT (9443), METRICS_PORT (18080), PROBE_PORT (18081) choose the local ports.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${KUBECONFIG:-}" ]]; then
	echo "run-manager: KUBECONFIG is not set; start a local control plane with: make dev-cluster" >&2
	exit 1
fi
exec "${REPO_ROOT}/bin/tollgate" manager \
	--webhook-url "https://localhost:${WEBHOOK_PORT:-9443}" \
	--webhook-cert-dir "${WEBHOOK_CERT_DIR:-${REPO_ROOT}/bin/webhook-certs}" \
	--metrics-bind-address "127.0.0.1:${METRICS_PORT:-18080}" \
	--health-probe-bind-address "127.0.0.1:${PROBE_PORT:-18081}" \
	"$@"
