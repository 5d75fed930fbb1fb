#!/usr/bin/env bash
# Copies the Prometheus Operator CRDs the chart's monitoring objects need (ServiceMonitor,
# PodMonitor, PrometheusRule) from the Go module github.com/prometheus-operator/prometheus-operator
# (its example/prometheus-operator-crd directory, fetched through the Go module proxy) into
# internal/helmchart/testdata/prometheus-operator-crds, where the chart's envtest install
# test loads them. Commit the result.
#
#   hack/vendor-prometheus-operator-crds.sh            # the pinned version
#   PROMETHEUS_OPERATOR_VERSION=v0.94.0 hack/vendor-prometheus-operator-crds.sh
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.94.0}"
OUT="${REPO_ROOT}/internal/helmchart/testdata/prometheus-operator-crds"

# Outside our module, so that go.mod and go.sum stay as they are.
dir="$(cd "${TMPDIR:-/tmp}" && GOFLAGS= GOWORK=off go mod download -json "github.com/prometheus-operator/prometheus-operator@${VERSION}" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$dir/example/prometheus-operator-crd" ]] || { echo "no example/prometheus-operator-crd in $dir" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/*.yaml
for kind in servicemonitors podmonitors prometheusrules; do
	install -m 0644 "$dir/example/prometheus-operator-crd/monitoring.coreos.com_${kind}.yaml" "$OUT/"
done
echo "$VERSION" >"$OUT/VERSION"
echo "vendored the ServiceMonitor, PodMonitor and PrometheusRule CRDs of prometheus-operator ${VERSION} into ${OUT#"$REPO_ROOT"/}"
