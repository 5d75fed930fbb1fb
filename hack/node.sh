#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, without Docker or kind, for the e2e
# test and the demo: etcd and kube-apiserver (hack/envtest-binaries.sh), kube-controller-manager,
# kube-scheduler, kube-proxy (iptables) and a kubelet (hack/node-binaries.sh) on a containerd of
# its own (own root, state, socket and config; Debian's containerd and runc), CNI bridge
# networking (Debian's containernetworking-plugins), and tollgate's images imported into it
# (hack/image). Linux and root only.
#
#   hack/node.sh up       start it (or report the running one); prints `export KUBECONFIG=...`
#   hack/node.sh down     stop it and remove everything it made: processes, containers,
#                         mounts, network namespaces, the bridge, iptables rules, cgroups, and
#                         the sysctls it changed are set back. Safe to run at any time.
#   hack/node.sh status   say whether it runs
#   hack/node.sh images   rebuild the images and import them into the running node
#
# `up` that fails or is interrupted (Ctrl-C) tears down what it started.
#
# Everything lives under NODE_DIR (default /tmp/tollgate-node; short, because containerd's
# sockets live there): state, logs (NODE_DIR/logs), kubeconfig. Addresses: the bridge
# tollgate0 is 10.88.0.1/16 (pods get 10.88.0.0/16); the API server listens on
# https://10.88.0.1:NODE_API_PORT (6443) only, so nothing outside this machine reaches it;
# Services get 10.0.0.0/24 (the API server's own is 10.0.0.1). etcd on 127.0.0.1:NODE_ETCD_PORT
# (12379 and +1). There is no cluster DNS: address Services by their ClusterIP.
#
# Test settings, not production ones: the kubelet syncs pods every NODE_SYNC_FREQUENCY (5s,
# default 1m) so that a rotated keys Secret reaches pods within seconds (in production the
# kubelet's defaults give the 60-90 s that DESIGN's prePublish covers); anonymous kubelet API
# with AlwaysAllow; one static admin token; no image garbage collection at realistic disk use.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${NODE_DIR:-/tmp/tollgate-node}"
API_PORT="${NODE_API_PORT:-6443}"
ETCD_PORT="${NODE_ETCD_PORT:-12379}"
SYNC_FREQUENCY="${NODE_SYNC_FREQUENCY:-5s}"
NODE_NAME=tollgate-node
BRIDGE=tollgate0
GATEWAY=10.88.0.1
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.0.0.0/24
ASSETS="${KUBEBUILDER_ASSETS:-${REPO_ROOT}/bin/k8s}"
NODE_BIN="${NODE_BIN_DIR:-${REPO_ROOT}/bin/node}"
KUBECONFIG_FILE="${DIR}/kubeconfig"
CTR_SOCK="${DIR}/containerd/containerd.sock"
IMAGES_TAR="${NODE_IMAGES_TAR:-${REPO_ROOT}/bin/node-images.tar}"
TOLLGATE_IMAGE="${NODE_TOLLGATE_IMAGE:-ghcr.io/tollgate-dev/tollgate:dev}"
# Components in start order; down stops them in reverse.
COMPONENTS=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy)
# Host settings the node changes (the kubelet's kernel defaults, the bridge, kube-proxy's
# conntrack settings): recorded before the first change and set back by down.
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
	net.ipv4.conf.all.route_localnet vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.netfilter.nf_conntrack_max
	net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait)

log() { echo "node: $*" >&2; }
die() {
	log "$*"
	exit 1
}

pid_alive() { [[ -f "${DIR}/run/$1.pid" ]] && kill -0 "$(cat "${DIR}/run/$1.pid")" 2>/dev/null; }
api_healthy() {
	[[ -f "${DIR}/token" ]] && curl -fs --max-time 2 --cacert "${DIR}/pki/ca.crt" \
		-H "Authorization: Bearer $(cat "${DIR}/token")" "https://${GATEWAY}:${API_PORT}/readyz" >/dev/null 2>&1
}
kubectl_() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr_() { ctr --address "$CTR_SOCK" -n k8s.io "$@"; }

preflight() {
	[[ "$(uname -s)" == Linux ]] || die "a real node needs Linux (this is $(uname -s)); use make dev-cluster or make demo's simulated kubelet"
	[[ "$(id -u)" == 0 ]] || die "a real node needs root (mounts, network namespaces, iptables, cgroups)"
	local missing=()
	for tool in containerd containerd-shim-runc-v2 ctr runc iptables iptables-save ip openssl curl ldd; do
		command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
	done
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
	if ((${#missing[@]})); then
		log "missing: ${missing[*]}; installing Debian's containerd runc containernetworking-plugins iptables redis-server"
		command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${missing[*]} yourself"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc containernetworking-plugins iptables redis-server >&2 ||
			die "apt-get install failed"
	fi
	[[ -d /sys/fs/cgroup ]] || die "no /sys/fs/cgroup"
	modprobe br_netfilter 2>/dev/null || true
}

# ------------------------------------------------------------------ start ---
start_bg() { # start_bg NAME COMMAND...: a process of the node, in its own session, logging to logs/NAME.log
	local name="$1"
	shift
	setsid "$@" >"${DIR}/logs/${name}.log" 2>&1 </dev/null &
	echo $! >"${DIR}/run/${name}.pid"
}

wait_for() { # wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.5 s; the named process must live
	local secs="$1" what="$2" proc="$3"
	shift 3
	local i
	for ((i = 0; i < secs * 2; i++)); do
		"$@" && return 0
		if [[ -n "$proc" ]] && ! pid_alive "$proc"; then
			log "${proc} exited; last lines of ${DIR}/logs/${proc}.log:"
			tail -n 25 "${DIR}/logs/${proc}.log" >&2 || true
			return 1
		fi
		sleep 0.5
	done
	log "${what}: not within ${secs}s; see ${DIR}/logs/${proc:-}.log"
	return 1
}

save_sysctls() {
	[[ -f "${DIR}/sysctl.saved" ]] && return 0
	local k v
	for k in "${SYSCTLS[@]}"; do
		if v="$(sysctl -n "$k" 2>/dev/null)"; then
			printf '%s=%s\n' "$k" "$(echo "$v" | tr '\t' ' ')"
		fi
	done >"${DIR}/sysctl.saved.tmp"
	mv "${DIR}/sysctl.saved.tmp" "${DIR}/sysctl.saved"
}

write_pki() {
	local p="${DIR}/pki"
	mkdir -p "$p"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=tollgate-node-ca" \
		-keyout "${p}/ca.key" -out "${p}/ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
		-keyout "${p}/apiserver.key" -out "${p}/apiserver.csr" 2>/dev/null
	printf 'subjectAltName=IP:%s,IP:10.0.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' "$GATEWAY" >"${p}/apiserver.ext"
	openssl x509 -req -in "${p}/apiserver.csr" -CA "${p}/ca.crt" -CAkey "${p}/ca.key" -CAcreateserial -days 30 \
		-extfile "${p}/apiserver.ext" -out "${p}/apiserver.crt" 2>/dev/null
	openssl genrsa -out "${p}/sa.key" 2048 2>/dev/null
	head -c 24 /dev/urandom | base64 | tr -d '/+=' >"${DIR}/token"
	echo "$(cat "${DIR}/token"),admin,admin,system:masters" >"${p}/tokens.csv"
	cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tollgate-node
  cluster:
    server: https://${GATEWAY}:${API_PORT}
    certificate-authority-data: $(base64 -w0 <"${p}/ca.crt")
users:
- name: admin
  user:
    token: $(cat "${DIR}/token")
contexts:
- name: tollgate-node
  context: {cluster: tollgate-node, user: admin, namespace: default}
current-context: tollgate-node
EOF
	chmod 600 "$KUBECONFIG_FILE" "${p}"/*.key "${p}/tokens.csv" "${DIR}/token"
}

write_configs() {
	mkdir -p "${DIR}/containerd" "${DIR}/cni/net.d" "${DIR}/cni/ipam" "${DIR}/kubelet" "${DIR}/pod-logs"
	cat >"${DIR}/containerd/config.toml" <<EOF
version = 2
root = "${DIR}/containerd/root"
state = "${DIR}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${CTR_SOCK}"
[ttrpc]
  address = "${CTR_SOCK}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${DIR}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "tollgate.local/pause:dev"
  # Root here may lack CAP_SYS_RESOURCE: without this every sandbox fails to start.
  restrict_oom_score_adj = true
  # Network namespaces under our state dir, not /var/run/netns: down removes exactly ours.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${DIR}/cni/net.d"
EOF
	# No ipMasq: the bridge plugin then adds no iptables rules (pods need no way out).
	cat >"${DIR}/cni/net.d/10-tollgate.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "tollgate",
  "plugins": [{
    "type": "bridge", "bridge": "${BRIDGE}", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "dataDir": "${DIR}/cni/ipam",
             "ranges": [[{"subnet": "${POD_CIDR}", "gateway": "${GATEWAY}"}]], "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}
EOF
	cat >"${DIR}/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The VMs here mount cgroup v1, which recent kubelets refuse unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://${CTR_SOCK}
address: ${GATEWAY}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
clusterDNS: []
podLogsDir: ${DIR}/pod-logs
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
# Test setting: Secret and ConfigMap volumes refresh within seconds (default 1m).
syncFrequency: ${SYNC_FREQUENCY}
nodeStatusUpdateFrequency: 5s
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
EOF
	cat >"${DIR}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: ${KUBECONFIG_FILE}}
mode: iptables
clusterCIDR: ${POD_CIDR}
hostnameOverride: ${NODE_NAME}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the host's conntrack settings and route_localnet alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, syncPeriod: 10s, minSyncPeriod: 0s}
nodePortAddresses: ["${GATEWAY}/32"]
EOF
}

node_ready() {
	[[ "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
containerd_up() { ctr --address "$CTR_SOCK" version >/dev/null 2>&1; }
kubeproxy_up() { curl -fs --max-time 1 http://127.0.0.1:10256/healthz >/dev/null 2>&1; }
default_sa() { kubectl_ get serviceaccount default -n default >/dev/null 2>&1; }

# build_images: the binaries (static), then hack/image writes one docker-archive of all images.
build_images() {
	local out="${REPO_ROOT}/bin/node-images"
	mkdir -p "$out"
	local version commit
	version="$(git -C "$REPO_ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)"
	commit="$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	local ld="-s -w -X github.com/tollgate-dev/tollgate/internal/version.Version=${version} -X github.com/tollgate-dev/tollgate/internal/version.Commit=${commit}"
	(
		cd "$REPO_ROOT"
		export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
		go build -trimpath -ldflags "$ld" -o "${out}/tollgate" ./cmd/tollgate
		go build -trimpath -ldflags "$ld" -o "${out}/tollgate-sidecar" ./cmd/tollgate-sidecar
		go build -trimpath -ldflags "$ld" -o "${out}/tollgate-authorizer" ./cmd/tollgate-authorizer
		go build -trimpath -ldflags "-s -w" -o "${out}/demo-app" ./hack/demo/app
		go build -trimpath -ldflags "-s -w" -o "${out}/pause" ./hack/image/pause
		go run ./hack/image -out "$IMAGES_TAR" -tollgate "${out}/tollgate" -sidecar "${out}/tollgate-sidecar" \
			-authorizer "${out}/tollgate-authorizer" -demo-app "${out}/demo-app" -pause "${out}/pause" -redis "$(command -v redis-server)" \
			-tollgate-image "$TOLLGATE_IMAGE"
	) >&2
}

import_images() {
	ctr_ images import "$IMAGES_TAR" >&2
}

up() {
	preflight
	if api_healthy && pid_alive kubelet && node_ready; then
		log "already running: https://${GATEWAY}:${API_PORT}, node ${NODE_NAME} Ready"
		echo "export KUBECONFIG=${KUBECONFIG_FILE}"
		return 0
	fi
	local t0=$SECONDS
	down_quiet
	"${REPO_ROOT}/hack/envtest-binaries.sh"
	"${REPO_ROOT}/hack/node-binaries.sh"
	KUBECTL="$("${REPO_ROOT}/hack/ensure-kubectl.sh")"
	build_images
	log "binaries and images ready in $((SECONDS - t0))s"
	local t1=$SECONDS

	# From here on, a failure or Ctrl-C removes what was made.
	trap 'rc=$?; log "up failed or was interrupted: tearing down"; down_quiet; exit $((rc ? rc : 1))' EXIT
	trap 'exit 130' INT TERM
	mkdir -p "${DIR}/run" "${DIR}/logs" "${DIR}/etcd"
	save_sysctls
	write_pki
	write_configs
	sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 >/dev/null 2>&1 || true
	# The bridge exists before the first pod: the API server listens on its address.
	ip link add "$BRIDGE" type bridge 2>/dev/null || true
	ip addr replace "${GATEWAY}/16" dev "$BRIDGE"
	ip link set "$BRIDGE" up

	log "etcd on 127.0.0.1:${ETCD_PORT}"
	start_bg etcd "${ASSETS}/etcd" --data-dir "${DIR}/etcd" \
		--listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
		--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
		--initial-cluster "default=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
	log "kube-apiserver on https://${GATEWAY}:${API_PORT}"
	start_bg kube-apiserver "${ASSETS}/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
		--bind-address "$GATEWAY" --advertise-address "$GATEWAY" --secure-port "$API_PORT" \
		--tls-cert-file "${DIR}/pki/apiserver.crt" --tls-private-key-file "${DIR}/pki/apiserver.key" \
		--token-auth-file "${DIR}/pki/tokens.csv" \
		--authorization-mode Node,RBAC \
		--service-account-issuer https://kubernetes.default.svc \
		--service-account-key-file "${DIR}/pki/sa.key" --service-account-signing-key-file "${DIR}/pki/sa.key" \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--kubelet-preferred-address-types InternalIP \
		--allow-privileged=true
	log "containerd at ${CTR_SOCK}"
	start_bg containerd containerd --config "${DIR}/containerd/config.toml"
	wait_for 90 "kube-apiserver ready" kube-apiserver api_healthy || exit 1
	wait_for 30 "containerd answering" containerd containerd_up || exit 1
	import_images

	log "kube-controller-manager, kube-scheduler"
	start_bg kube-controller-manager "${NODE_BIN}/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" \
		--authentication-kubeconfig "$KUBECONFIG_FILE" --authorization-kubeconfig "$KUBECONFIG_FILE" \
		--bind-address 127.0.0.1 --leader-elect=false \
		--service-account-private-key-file "${DIR}/pki/sa.key" --root-ca-file "${DIR}/pki/ca.crt" \
		--use-service-account-credentials=false
	start_bg kube-scheduler "${NODE_BIN}/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" \
		--authentication-kubeconfig "$KUBECONFIG_FILE" --authorization-kubeconfig "$KUBECONFIG_FILE" \
		--bind-address 127.0.0.1 --leader-elect=false
	log "kubelet (node ${NODE_NAME}, root ${DIR}/kubelet)"
	start_bg kubelet "${NODE_BIN}/kubelet" --config "${DIR}/kubelet/config.yaml" --kubeconfig "$KUBECONFIG_FILE" \
		--root-dir "${DIR}/kubelet" --hostname-override "$NODE_NAME" --node-ip "$GATEWAY"
	log "kube-proxy (iptables)"
	start_bg kube-proxy "${NODE_BIN}/kube-proxy" --config "${DIR}/kube-proxy.yaml"

	wait_for 120 "node ${NODE_NAME} Ready" kubelet node_ready || exit 1
	wait_for 30 "kube-proxy healthy" kube-proxy kubeproxy_up || exit 1
	wait_for 60 "default ServiceAccount" kube-controller-manager default_sa || exit 1
	trap - EXIT INT TERM
	log "node ${NODE_NAME} Ready: $((SECONDS - t1))s from the first process (total $((SECONDS - t0))s); logs in ${DIR}/logs"
	echo "export KUBECONFIG=${KUBECONFIG_FILE}"
}

# ------------------------------------------------------------------- stop ---
stop_pid() { # stop_pid NAME [SECONDS]
	local f="${DIR}/run/$1.pid" secs="${2:-10}" pid i
	[[ -f "$f" ]] || return 0
	pid="$(cat "$f")"
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

# Our containerd's shims: their command line names our socket.
our_shims() {
	local p
	for p in /proc/[0-9]*; do
		tr "\\0" " " 2>/dev/null <"${p}/cmdline" | grep -qF -- "$CTR_SOCK" &&
			grep -q containerd-shim "${p}/comm" 2>/dev/null && echo "${p#/proc/}"
	done
	return 0
}

# The cgroups the kubelet made (cgroupfs driver): /kubepods in every hierarchy.
kubepods_cgroups() {
	local d
	for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/unified/kubepods; do
		[[ -d "$d" ]] && echo "$d"
	done | sort -u
	return 0
}

kill_pod_processes() {
	local cg pid
	for cg in $(kubepods_cgroups); do
		while read -r pid; do
			[[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
		done < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
	done
}

remove_cgroups() {
	local cg d i
	for cg in $(kubepods_cgroups); do
		for ((i = 0; i < 20; i++)); do
			# deepest first
			find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
			[[ -d "$cg" ]] || break
			sleep 0.2
		done
		[[ -d "$cg" ]] && log "could not remove cgroup ${cg} (processes still in it?)"
	done
	return 0
}

unmount_all() { # every mount point under DIR, deepest first, until none is left
	local i m
	for ((i = 0; i < 5; i++)); do
		mapfile -t mounts < <(awk -v d="$DIR" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		((${#mounts[@]})) || return 0
		for m in "${mounts[@]}"; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
}

# remove_iptables_chains FAMILY: whatever KUBE-* / CNI-* chains are left after kube-proxy
# --cleanup (the kubelet's own canary and hint chains): jumps to them first, then the chains.
remove_iptables_chains() {
	local cmd="$1" save="$1-save" t rule chain
	command -v "$save" >/dev/null 2>&1 || return 0
	for t in filter nat mangle raw; do
		"$save" -t "$t" >/dev/null 2>&1 || continue
		while read -r rule; do
			eval "$cmd -t $t -D ${rule#-A }" 2>/dev/null || true
		done < <("$save" -t "$t" | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE|CNI)-')
		for chain in $("$save" -t "$t" | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
			"$cmd" -t "$t" -F "$chain" 2>/dev/null || true
		done
		for chain in $("$save" -t "$t" | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
			"$cmd" -t "$t" -X "$chain" 2>/dev/null || true
		done
	done
}

restore_sysctls() {
	[[ -f "${DIR}/sysctl.saved" ]] || return 0
	local line
	while IFS= read -r line; do
		sysctl -qw "${line%%=*}=${line#*=}" >/dev/null 2>&1 || true
	done <"${DIR}/sysctl.saved"
}

down_quiet() {
	[[ -d "$DIR" ]] || { ip link del "$BRIDGE" 2>/dev/null || true; return 0; }
	# Control loops first, so nothing is recreated while pods go.
	stop_pid kube-scheduler
	stop_pid kube-controller-manager
	stop_pid kubelet 20
	stop_pid kube-proxy
	# The containers: through containerd while it answers, then whatever is left by force.
	if containerd_up; then
		local task
		for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -a -s SIGKILL "$task" >/dev/null 2>&1 || true; done
		sleep 0.5
		for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$task" >/dev/null 2>&1 || true; done
	fi
	stop_pid containerd 15
	local pid
	for pid in $(our_shims); do kill -9 "$pid" 2>/dev/null || true; done
	kill_pod_processes
	stop_pid kube-apiserver
	stop_pid etcd
	if [[ -x "${NODE_BIN}/kube-proxy" ]]; then
		"${NODE_BIN}/kube-proxy" --cleanup >"${DIR}/kube-proxy-cleanup.log" 2>&1 || true
	fi
	remove_iptables_chains iptables
	remove_iptables_chains ip6tables
	unmount_all
	remove_cgroups
	# The network namespaces were mounts under DIR (gone now); with them went the veths.
	ip link del "$BRIDGE" 2>/dev/null || true
	restore_sysctls
	rm -rf "$DIR"
}

case "${1:-up}" in
up) up ;;
down)
	[[ "$(id -u)" == 0 ]] || die "down needs root"
	down_quiet
	log "stopped; removed ${DIR}, the bridge ${BRIDGE}, the node's iptables rules and cgroups; sysctls restored"
	;;
status)
	if api_healthy && pid_alive kubelet; then
		log "running: https://${GATEWAY}:${API_PORT}"
		echo "export KUBECONFIG=${KUBECONFIG_FILE}"
	else
		log "not running"
		exit 1
	fi
	;;
images)
	containerd_up || die "the node is not running (hack/node.sh up)"
	build_images
	import_images
	;;
*)
	echo "usage: $0 up|down|status|images" >&2
	exit 2
	;;
esac
