#!/usr/bin/env bash
# Builds the node components of the real-node cluster (hack/node-up.sh) from source through the
# Go module proxy, the way hack/envtest-binaries.sh builds kube-apiserver: kubelet,
# kube-scheduler, kube-controller-manager and kube-proxy, into <repo>/bin/node.
#
# One throwaway module requires k8s.io/kubernetes at the pinned version with its staging repos
# replaced by their published v0.<minor>.<patch> modules; its four main packages are copies of
# upstream's cmd/<name>/*.go, built by one `go build` (so shared packages compile once),
# CGO_ENABLED=0, with the k8s.io/component-base/version flags upstream sets (otherwise the
# binaries report v0.0.0-master). A stamp file bin/node/.versions records the pin; nothing is
# rebuilt while the pin is unchanged and the four binaries exist.
#
#   hack/node-binaries.sh              # ensure the binaries (stdout stays empty)
#   hack/node-binaries.sh --print-dir  # ... and print the directory on stdout
#   hack/node-binaries.sh --force      # rebuild regardless of the stamp
#
# NODE_K8S_VERSION (default: ENVTEST_K8S_VERSION, else v1.37.2) pins the version, the same as the
# API server's by default. NODE_BIN_DIR overrides the install dir (default <repo>/bin/node).
# Progress goes to stderr. First build on 2 cores with a warm module cache: about 5 minutes.
set -euo pipefail

K8S_VERSION="${NODE_K8S_VERSION:-${ENVTEST_K8S_VERSION:-v1.37.2}}"
RECIPE=1
COMPONENTS=(kubelet kube-scheduler kube-controller-manager kube-proxy)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${NODE_BIN_DIR:-${REPO_ROOT}/bin/node}"
STAMP="${OUT_DIR}/.versions"
PIN="node=${K8S_VERSION} recipe=${RECIPE}"

print_dir=false force=false
for arg in "$@"; do
	case "$arg" in
	--print-dir) print_dir=true ;;
	--force) force=true ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
		exit 0
		;;
	*)
		echo "node-binaries: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "node-binaries: $*" >&2; }

up_to_date() {
	[[ "$force" == false && -f "$STAMP" ]] && grep -qxF -- "$PIN" "$STAMP" || return 1
	local c
	for c in "${COMPONENTS[@]}"; do [[ -x "${OUT_DIR}/${c}" ]] || return 1; done
}
finish() {
	if [[ "$print_dir" == true ]]; then echo "$OUT_DIR"; fi
	exit 0
}

up_to_date && finish
mkdir -p "$OUT_DIR"
if command -v flock >/dev/null 2>&1; then
	exec 9>"${OUT_DIR}/.lock"
	flock 9
	up_to_date && finish # built by the invocation we waited for
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }
if [[ ! "$K8S_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
	log "NODE_K8S_VERSION must look like v1.<minor>.<patch>, got ${K8S_VERSION}"
	exit 1
fi
k8s_minor="${BASH_REMATCH[1]}"
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/node-binaries.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "building ${COMPONENTS[*]} ${K8S_VERSION} from source (about 5 minutes on 2 cores, once)..."
start=$SECONDS
info="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}")"
k8s_gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$info")"
k8s_dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$info")"
if [[ ! -f "$k8s_gomod" || ! -d "$k8s_dir" ]]; then
	log "could not download k8s.io/kubernetes@${K8S_VERSION}"
	exit 1
fi
{
	echo "module node.local/components"
	echo
	grep -E '^(go|godebug) ' "$k8s_gomod"
	echo
	echo "require k8s.io/kubernetes ${K8S_VERSION}"
	echo
	echo "replace ("
	sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*$#\1#p' "$k8s_gomod" |
		awk -v v="$staging_version" '{ printf "\t%s => %s %s\n", $1, $1, v }'
	echo ")"
} >"${WORK}/go.mod"
grep -q '=> k8s.io/' "${WORK}/go.mod" || { log "found no staging replace directives in ${k8s_gomod}"; exit 1; }
for c in "${COMPONENTS[@]}"; do
	mkdir -p "${WORK}/cmd/${c}"
	# upstream's main package of cmd/<name> (one file each), not its app/ subpackage
	find "${k8s_dir}/cmd/${c}" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "${WORK}/cmd/${c}/" \;
	chmod -R u+w "${WORK}/cmd/${c}"
done

vpkg=k8s.io/component-base/version
ldflags="-s -w -X ${vpkg}.gitVersion=${K8S_VERSION} -X ${vpkg}.gitMajor=1 -X ${vpkg}.gitMinor=${k8s_minor}"
ldflags+=" -X ${vpkg}.gitTreeState=clean -X ${vpkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
(
	cd "$WORK"
	go mod tidy >&2
	mkdir -p out
	go build -trimpath -ldflags="$ldflags" -o out/ $(printf './cmd/%s ' "${COMPONENTS[@]}") >&2
)
for c in "${COMPONENTS[@]}"; do mv -f "${WORK}/out/${c}" "${OUT_DIR}/${c}"; done
{
	echo "# written by hack/node-binaries.sh; the pin line decides rebuilds"
	echo "$PIN"
} >"${STAMP}"
log "${COMPONENTS[*]} ${K8S_VERSION} built in $((SECONDS - start))s"
finish
