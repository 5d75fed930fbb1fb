#!/usr/bin/env bash
# Prints the path of bin/helm3: a real Helm 3 CLI, built from source through the Go module
# proxy (helm.sh/helm/v3, pinned) the way hack/ensure-kubectl.sh builds kubectl. The chart
# tests (internal/helmchart) run it to prove the chart works with Helm 3 as well as with the
# Helm 4 SDK they link. No binary download site is needed.
#
#   hack/ensure-helm3.sh          # path on stdout, progress on stderr
#   HELM3_VERSION=v3.21.4         # the helm.sh/helm/v3 module version
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${HELM3_VERSION:-v3.21.4}"
OUT="${REPO_ROOT}/bin/helm3"
STAMP="${REPO_ROOT}/bin/.helm3-version"

log() { echo "ensure-helm3: $*" >&2; }

if [[ -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
	echo "$OUT"
	exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }
# `go install pkg@version` builds the module on its own go.mod, not ours: Helm 3 keeps its
# own k8s.io versions.
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/helm3-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "building helm.sh/helm/v3 ${VERSION} into bin/helm3 (a few minutes, once)..."
start=$SECONDS
# helm's Makefile stamps the version the same way.
GOBIN="$WORK" go install -trimpath \
	-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${VERSION}" \
	"helm.sh/helm/v3/cmd/helm@${VERSION}" >&2
mkdir -p "$(dirname "$OUT")"
mv -f "${WORK}/helm" "$OUT"
echo "$VERSION" >"$STAMP"
log "built in $((SECONDS - start))s"
echo "$OUT"
