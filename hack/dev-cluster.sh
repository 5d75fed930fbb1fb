#!/usr/bin/env bash
# A local control plane for development and the demo: etcd + kube-apiserver (the binaries the
# tests build from source into bin/k8s), state under bin/dev-cluster, a kubeconfig with a
# static admin token. No kubelet: pods are stored, never run.
#
#   hack/dev-cluster.sh up       start it (or report the running one); prints `export KUBECONFIG=...`
#   hack/dev-cluster.sh down     stop it and remove its state
#   hack/dev-cluster.sh status   say whether it runs
#
# DEV_CLUSTER_DIR (default bin/dev-cluster) and DEV_CLUSTER_PORT (default 16443) change where.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${DEV_CLUSTER_DIR:-${REPO_ROOT}/bin/dev-cluster}"
PORT="${DEV_CLUSTER_PORT:-16443}"
ETCD_PORT="${DEV_CLUSTER_ETCD_PORT:-$((PORT + 10000))}"
ASSETS="${KUBEBUILDER_ASSETS:-${REPO_ROOT}/bin/k8s}"
KUBECONFIG_FILE="${DIR}/kubeconfig"

log() { echo "dev-cluster: $*" >&2; }

running() {
	[ -f "${DIR}/apiserver.pid" ] && kill -0 "$(cat "${DIR}/apiserver.pid")" 2>/dev/null &&
		[ -f "${DIR}/etcd.pid" ] && kill -0 "$(cat "${DIR}/etcd.pid")" 2>/dev/null
}

healthy() {
	curl -fsk --max-time 2 -H "Authorization: Bearer $(cat "${DIR}/token")" "https://127.0.0.1:${PORT}/readyz" >/dev/null 2>&1
}

stop_pid() {
	local f="$1"
	[ -f "$f" ] || return 0
	local pid
	pid="$(cat "$f")"
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

up() {
	if running && healthy; then
		log "already running on https://127.0.0.1:${PORT}"
		echo "export KUBECONFIG=${KUBECONFIG_FILE}"
		return 0
	fi
	down_quiet
	"${REPO_ROOT}/hack/envtest-binaries.sh"
	mkdir -p "${DIR}/etcd-data" "${DIR}/certs"
	head -c 24 /dev/urandom | base64 | tr -d '/+=' >"${DIR}/token"
	echo "$(cat "${DIR}/token"),admin,admin,system:masters" >"${DIR}/tokens.csv"
	openssl genrsa -out "${DIR}/sa.key" 2048 2>/dev/null

	log "starting etcd on 127.0.0.1:${ETCD_PORT}"
	nohup "${ASSETS}/etcd" --data-dir "${DIR}/etcd-data" \
		--listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
		--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
		--initial-cluster "default=http://127.0.0.1:$((ETCD_PORT + 1))" \
		--unsafe-no-fsync >"${DIR}/etcd.log" 2>&1 &
	echo $! >"${DIR}/etcd.pid"

	log "starting kube-apiserver on https://127.0.0.1:${PORT}"
	nohup "${ASSETS}/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
		--bind-address 127.0.0.1 --secure-port "${PORT}" --advertise-address 127.0.0.1 \
		--cert-dir "${DIR}/certs" \
		--token-auth-file "${DIR}/tokens.csv" \
		--authorization-mode RBAC \
		--service-account-issuer "https://kubernetes.default.svc" \
		--service-account-key-file "${DIR}/sa.key" \
		--service-account-signing-key-file "${DIR}/sa.key" \
		--service-cluster-ip-range 10.0.0.0/24 \
		--disable-admission-plugins ServiceAccount \
		--endpoint-reconciler-type none \
		>"${DIR}/apiserver.log" 2>&1 &
	echo $! >"${DIR}/apiserver.pid"

	for _ in $(seq 120); do
		healthy && break
		if ! running; then
			log "the control plane exited; last lines of its logs:"
			tail -n 20 "${DIR}/etcd.log" "${DIR}/apiserver.log" >&2 || true
			exit 1
		fi
		sleep 0.5
	done
	if ! healthy; then
		log "kube-apiserver did not become ready within 60s; see ${DIR}/apiserver.log"
		exit 1
	fi
	cat >"${KUBECONFIG_FILE}" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: tollgate-dev
  cluster:
    server: https://127.0.0.1:${PORT}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $(cat "${DIR}/token")
contexts:
- name: tollgate-dev
  context: {cluster: tollgate-dev, user: admin, namespace: default}
current-context: tollgate-dev
KUBECONFIG
	log "ready (no kubelet: pods are stored and admitted, never run)"
	echo "export KUBECONFIG=${KUBECONFIG_FILE}"
}

down_quiet() {
	stop_pid "${DIR}/apiserver.pid"
	stop_pid "${DIR}/etcd.pid"
	rm -rf "${DIR}"
}

case "${1:-up}" in
up) up ;;
down)
	down_quiet
	log "stopped and removed ${DIR}"
	;;
status)
	if running && healthy; then
		log "running on https://127.0.0.1:${PORT}"
		echo "export KUBECONFIG=${KUBECONFIG_FILE}"
	else
		log "not running"
		exit 1
	fi
	;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac
