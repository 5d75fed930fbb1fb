#!/usr/bin/env bash
# Prints the path of a kubectl to use: the one on PATH if there is one, else bin/kubectl,
# built from source through the Go module proxy (k8s.io/kubectl, pinned, about 1 minute once),
# the way hack/envtest-binaries.sh builds kube-apiserver. No binary download site is needed.
#
#   hack/ensure-kubectl.sh          # path on stdout, progress on stderr
#   KUBECTL_VERSION=v0.37.2         # the k8s.io/kubectl module version (kubectl v1.37.2)
#   KUBECTL_BUILD=1                 # build bin/kubectl even when kubectl is on PATH
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${KUBECTL_VERSION:-v0.37.2}"
OUT="${REPO_ROOT}/bin/kubectl"
STAMP="${REPO_ROOT}/bin/.kubectl-version"

log() { echo "ensure-kubectl: $*" >&2; }

if [[ "${KUBECTL_BUILD:-0}" != 1 ]]; then
	# Skip our own bin/ (it is first on the Makefile's PATH) so a stale build is not preferred.
	found="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vxF "${REPO_ROOT}/bin" | paste -sd: -)" command -v kubectl || true)"
	if [[ -n "$found" ]]; then
		echo "$found"
		exit 0
	fi
fi
if [[ -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
	echo "$OUT"
	exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kubectl-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cat >"${WORK}/go.mod" <<GOMOD
module local.tollgate.dev/kubectl

go 1.25

require k8s.io/kubectl ${VERSION}
GOMOD
# Mirrors k8s.io/kubernetes/cmd/kubectl/kubectl.go.
cat >"${WORK}/main.go" <<'GO'
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
log "no kubectl on PATH: building k8s.io/kubectl ${VERSION} into bin/kubectl (about 1 minute, once)..."
start=$SECONDS
minor="${VERSION#v0.}"; minor="${minor%%.*}"
(
	cd "$WORK"
	go mod tidy >&2
	go build -trimpath -o "${WORK}/kubectl" \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v1.${VERSION#v0.} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}" . >&2
)
mkdir -p "$(dirname "$OUT")"
mv -f "${WORK}/kubectl" "$OUT"
echo "$VERSION" >"$STAMP"
log "built in $((SECONDS - start))s"
echo "$OUT"
