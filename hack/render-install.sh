#!/usr/bin/env bash
# Renders config/default with the operator's image set to IMG, on stdout: what
# `make build-installer` writes to dist/install.yaml and `make deploy` applies.
# The injected sidecar uses the same image (--sidecar-image), so the two never skew.
#
#   hack/render-install.sh IMG      IMG is name:tag or name@sha256:digest
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMG="${1:?usage: $0 IMG}"
KUBECTL="$("${REPO_ROOT}/hack/ensure-kubectl.sh")"

if [[ "$IMG" == *@* ]]; then
	name="${IMG%%@*}" field="digest: ${IMG#*@}"
elif [[ "${IMG##*/}" == *:* ]]; then
	name="${IMG%:*}" field="newTag: ${IMG##*:}"
else
	name="$IMG" field="newTag: latest"
fi

# A throwaway overlay inside the repository (kustomize loads bases relative to it).
OVERLAY="$(mktemp -d "${REPO_ROOT}/config/.render.XXXXXX")"
trap 'rm -rf "$OVERLAY"' EXIT
cat >"${OVERLAY}/kustomization.yaml" <<YAML
resources:
- ../default
images:
- name: ghcr.io/tollgate-dev/tollgate
  newName: ${name}
  ${field}
patches:
- target: {kind: Deployment, name: tollgate-controller-manager}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --sidecar-image=${IMG}
YAML
"$KUBECTL" kustomize "$OVERLAY"
