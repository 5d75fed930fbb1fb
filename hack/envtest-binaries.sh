#!/usr/bin/env bash
# Builds the control-plane binaries envtest needs (etcd, kube-apiserver) from
# source through the Go module proxy and installs them into <repo>/bin/k8s,
# so that KUBEBUILDER_ASSETS=<repo>/bin/k8s.
#
# No binary download site is needed: everything comes from the Go module proxy.
# The builds happen in throwaway modules (never in the project's go.mod), are
# pinned, and are cached: a stamp file bin/k8s/.versions records the pins, and
# a binary is rebuilt only when its pin changes or it is missing.
#
# Usage:
#   hack/envtest-binaries.sh              # ensure binaries (stdout stays empty)
#   hack/envtest-binaries.sh --print-dir  # ensure binaries, print assets dir on stdout
#   hack/envtest-binaries.sh --force      # rebuild both regardless of the stamp
#
# Pins can be overridden through the environment:
#   ENVTEST_K8S_VERSION  (default v1.37.2; staging repos use v0.<minor>.<patch>)
#   ENVTEST_ETCD_VERSION (default v3.6.16; falls back to older v3.6.x patches
#                         if the pinned one does not build)
# ENVTEST_ASSETS_DIR overrides the install dir (default <repo>/bin/k8s).
#
# All progress messages go to stderr.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-v3.6.16}"
# Bump when the build recipe below changes in a way that needs a rebuild.
RECIPE=1

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASSETS_DIR="${ENVTEST_ASSETS_DIR:-${REPO_ROOT}/bin/k8s}"
STAMP="${ASSETS_DIR}/.versions"

print_dir=false
force=false
for arg in "$@"; do
	case "$arg" in
	--print-dir) print_dir=true ;;
	--force) force=true ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
		exit 0
		;;
	*)
		echo "envtest-binaries: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "envtest-binaries: $*" >&2; }

# Pin lines, one per binary. The stamp holds exactly these lines (plus
# comment lines that are ignored when comparing).
k8s_pin="kube-apiserver=${K8S_VERSION} recipe=${RECIPE}"
etcd_pin="etcd=${ETCD_VERSION} recipe=${RECIPE}"

# up_to_date <binary> <pin line>: binary exists and the stamp holds the pin.
up_to_date() {
	[[ "$force" == false && -x "${ASSETS_DIR}/$1" && -f "$STAMP" ]] &&
		grep -qxF -- "$2" "$STAMP"
}

finish() {
	if [[ "$print_dir" == true ]]; then
		echo "$ASSETS_DIR"
	fi
	exit 0
}

# Fast path: no go invocation, no network.
if up_to_date kube-apiserver "$k8s_pin" && up_to_date etcd "$etcd_pin"; then
	finish
fi

mkdir -p "$ASSETS_DIR"

# Serialize concurrent invocations (e.g. parallel test packages); the second
# one re-checks the stamp after the first one finished.
if command -v flock >/dev/null 2>&1; then
	exec 9>"${ASSETS_DIR}/.lock"
	flock 9
fi

command -v go >/dev/null 2>&1 || {
	log "go not found in PATH"
	exit 1
}

# Tool modules are standalone: no workspace, no vendoring, no VCS stamping, and
# whatever GOFLAGS the caller uses for the project does not apply to them.
export GOWORK=off
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0

WORK="$(mktemp -d "${TMPDIR:-/tmp}/envtest-binaries.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# write_stamp <kube-apiserver pin line> <etcd pin line> <note>; empty args are skipped.
write_stamp() {
	local k8s_line="$1" etcd_line="$2" etcd_note="$3"
	{
		echo "# written by hack/envtest-binaries.sh; the pin lines decide rebuilds"
		if [[ -n "$etcd_note" ]]; then echo "# $etcd_note"; fi
		if [[ -n "$k8s_line" ]]; then echo "$k8s_line"; fi
		if [[ -n "$etcd_line" ]]; then echo "$etcd_line"; fi
	} >"${STAMP}.tmp"
	mv -f "${STAMP}.tmp" "$STAMP"
}

current_line() { # current_line <binary>: the pin line currently recorded, if any
	[[ -f "$STAMP" ]] && grep -E "^$1=" "$STAMP" | head -n1 || true
}
current_note() {
	[[ -f "$STAMP" ]] && grep -E '^# etcd built' "$STAMP" | head -n1 | sed 's/^# //' || true
}

# ---------------------------------------------------------------- etcd ----
# build_etcd <version> <out>: build go.etcd.io/etcd/server/v3@<version>.
build_etcd() {
	local version="$1" out="$2" dir="${WORK}/etcd-$1"
	mkdir -p "$dir"
	cat >"${dir}/go.mod" <<EOF
module envtest.local/etcd

go 1.24

require go.etcd.io/etcd/server/v3 ${version}
EOF
	cat >"${dir}/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
EOF
	(
		cd "$dir"
		go mod tidy >&2
		go build -trimpath -ldflags="-s -w" -o "$out" . >&2
	)
}

etcd_candidates() { # the pin first, then up to 4 older patch releases of the same minor
	echo "$ETCD_VERSION"
	if [[ "$ETCD_VERSION" =~ ^(v[0-9]+\.[0-9]+)\.([0-9]+)$ ]]; then
		local base="${BASH_REMATCH[1]}" patch="${BASH_REMATCH[2]}" i
		for ((i = patch - 1; i >= 0 && i >= patch - 4; i--)); do
			echo "${base}.${i}"
		done
	fi
}

new_etcd_line="$(current_line etcd)"
etcd_note="$(current_note)"
if ! up_to_date etcd "$etcd_pin"; then
	built=""
	for v in $(etcd_candidates); do
		log "building etcd ${v} from source (about 1 minute, once)..."
		start=$SECONDS
		if build_etcd "$v" "${WORK}/etcd.bin"; then
			log "etcd ${v} built in $((SECONDS - start))s"
			built="$v"
			break
		fi
		log "etcd ${v} failed to build; trying an older patch release"
	done
	if [[ -z "$built" ]]; then
		log "could not build any etcd among: $(etcd_candidates | tr '\n' ' ')"
		exit 1
	fi
	mv -f "${WORK}/etcd.bin" "${ASSETS_DIR}/etcd"
	new_etcd_line="$etcd_pin"
	etcd_note=""
	if [[ "$built" != "$ETCD_VERSION" ]]; then
		etcd_note="etcd built from ${built} (pin ${ETCD_VERSION} did not build)"
	fi
	# Record progress now so an interrupted kube-apiserver build keeps etcd.
	write_stamp "$(current_line kube-apiserver)" "$new_etcd_line" "$etcd_note"
fi

# ------------------------------------------------------ kube-apiserver ----
if ! up_to_date kube-apiserver "$k8s_pin"; then
	if [[ ! "$K8S_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
		log "ENVTEST_K8S_VERSION must look like v1.<minor>.<patch>, got ${K8S_VERSION}"
		exit 1
	fi
	k8s_minor="${BASH_REMATCH[1]}"
	staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

	log "building kube-apiserver ${K8S_VERSION} from source (about 5 minutes, once)..."
	start=$SECONDS
	dir="${WORK}/kube-apiserver"
	mkdir -p "$dir"

	k8s_gomod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
	if [[ -z "$k8s_gomod" || ! -f "$k8s_gomod" ]]; then
		log "could not download k8s.io/kubernetes@${K8S_VERSION}"
		exit 1
	fi

	{
		echo "module envtest.local/kube-apiserver"
		echo
		# Same language version and GODEBUG defaults as upstream's main module.
		grep -E '^(go|godebug) ' "$k8s_gomod"
		echo
		echo "require k8s.io/kubernetes ${K8S_VERSION}"
		echo
		echo "replace ("
		# k8s.io/kubernetes replaces every staging repo with ./staging/src/...;
		# replace them with the published staging modules instead.
		sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*$#\1#p' "$k8s_gomod" |
			awk -v v="$staging_version" '{ printf "\t%s => %s %s\n", $1, $1, v }'
		echo ")"
	} >"${dir}/go.mod"
	if ! grep -q '=> k8s.io/' "${dir}/go.mod"; then
		log "found no staging replace directives in ${k8s_gomod}"
		exit 1
	fi

	cat >"${dir}/main.go" <<'EOF'
// Mirrors k8s.io/kubernetes/cmd/kube-apiserver/apiserver.go.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
EOF

	vpkg=k8s.io/component-base/version
	ldflags="-s -w"
	ldflags+=" -X ${vpkg}.gitVersion=${K8S_VERSION}"
	ldflags+=" -X ${vpkg}.gitMajor=1"
	ldflags+=" -X ${vpkg}.gitMinor=${k8s_minor}"
	ldflags+=" -X ${vpkg}.gitTreeState=clean"
	ldflags+=" -X ${vpkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	(
		cd "$dir"
		go mod tidy >&2
		go build -trimpath -ldflags="$ldflags" -o "${WORK}/kube-apiserver.bin" . >&2
	)
	mv -f "${WORK}/kube-apiserver.bin" "${ASSETS_DIR}/kube-apiserver"
	log "kube-apiserver ${K8S_VERSION} built in $((SECONDS - start))s"
	write_stamp "$k8s_pin" "$new_etcd_line" "$etcd_note"
fi

finish
