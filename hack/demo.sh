#!/usr/bin/env bash
# tollgate end to end on a local control plane (etcd + kube-apiserver, no kubelet):
#   0. build, start the dev cluster, install the CRD, run the manager with its webhook
#   1. an AuthPolicy and its users: Ready, keys, public JWKS
#   2. injection: an annotated Pod in an opted-in namespace gets the sidecar
#   3. a sidecar in front of a sample app, with the operator's ConfigMap and Secrets mounted
#      as a kubelet would: login, call, 401, 403, refresh, refresh reuse, logout
#   4. rotation: a new key is published, then signs; tokens keep validating throughout
#   5. teardown (also on Ctrl-C or failure); exit status 1 if any outcome was not as expected
#
#   hack/demo.sh [--pause]     --pause waits for Enter between steps (on a terminal)
#
# Environment: REDIS=1 uses a local redis-server as the policy's store (spec.store).
# Ports (all on 127.0.0.1): DEV_CLUSTER_PORT (16444; etcd on +10000 and +10001),
# DEMO_WEBHOOK_PORT (9443), DEMO_METRICS_PORT (18080), DEMO_PROBE_PORT (18081),
# DEMO_APP_PORT (8080), DEMO_SIDECAR_PORT (8000), DEMO_SIDECAR_METRICS_PORT (9090),
# DEMO_REDIS_PORT (16379). DEMO_DIR (bin/demo) holds the cluster state, mounts and logs, and
# outcomes.tsv: what each step observed (NAME<TAB>VALUE), which test/e2e checks.
# DEMO_SKIP_BUILD=1 uses the binaries already in DEMO_BIN_DIR (default bin/).
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

DEMO_NAME=demo
# shellcheck source=hack/lib/demo-output.sh
source "${REPO_ROOT}/hack/lib/demo-output.sh"
parse_demo_args "$@"

REDIS="${REDIS:-0}"
[[ "$REDIS" == 0 || -z "$REDIS" ]] && REDIS=0 || REDIS=1
DEMO_DIR="${DEMO_DIR:-${REPO_ROOT}/bin/demo}"
export DEV_CLUSTER_DIR="${DEMO_DIR}/cluster"
export DEV_CLUSTER_PORT="${DEV_CLUSTER_PORT:-16444}"
WEBHOOK_PORT="${DEMO_WEBHOOK_PORT:-9443}"
METRICS_PORT="${DEMO_METRICS_PORT:-18080}"
PROBE_PORT="${DEMO_PROBE_PORT:-18081}"
APP_PORT="${DEMO_APP_PORT:-8080}"
SIDECAR_PORT="${DEMO_SIDECAR_PORT:-8000}"
SIDECAR_METRICS_PORT="${DEMO_SIDECAR_METRICS_PORT:-9090}"
REDIS_PORT="${DEMO_REDIS_PORT:-16379}"
NS=demo
POLICY=shop-api
SIDECAR="http://127.0.0.1:${SIDECAR_PORT}"
BIN="${DEMO_BIN_DIR:-${REPO_ROOT}/bin}"
export PATH="${BIN}:${PATH}"

# ----------------------------------------------------------------- output ---
# record NAME VALUE: what a step observed, for test/e2e to check (DEMO_DIR/outcomes.tsv).
record() { printf '%s\t%s\n' "$1" "$2" >>"${DEMO_DIR}/outcomes.tsv"; }
die() {
	printf '%sdemo: %s%s\n' "$RED" "$*" "$RESET" >&2
	FAILURES+=("$*")
	exit 1
}
# capture VAR 'COMMAND': like run, but also keeps the output in VAR.
capture() {
	printf '%s$ %s%s\n' "$CYAN" "$2" "$RESET"
	local out rc
	out="$(eval "$2" 2>&1)"
	rc=$?
	printf '%s\n' "$out"
	printf -v "$1" '%s' "$out"
	return $rc
}

# --------------------------------------------------------------- teardown ---
PIDS=()
CLUSTER_STARTED=false
teardown() {
	local rc=$?
	trap - EXIT INT TERM
	PAUSE=false
	step "5. Teardown"
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	say "stopped the sidecar, the app, the manager${REDIS_NOTE:-}"
	if [[ "$CLUSTER_STARTED" == true ]]; then
		hack/dev-cluster.sh down 2>&1 | sed 's/^/   /'
	fi
	if ((${#FAILURES[@]})); then
		printf '\n%sdemo FAILED: %d step(s) did not behave as shown:%s\n' "$RED" "${#FAILURES[@]}" "$RESET"
		printf '  - %s\n' "${FAILURES[@]}"
		if [[ -f "${DEMO_DIR}/manager.log" ]]; then
			printf '\nlast lines of the manager log (%s):\n' "${DEMO_DIR}/manager.log"
			tail -n 15 "${DEMO_DIR}/manager.log" | cut -c1-400
		fi
		if [[ -f "${DEMO_DIR}/sidecar.log" ]]; then
			printf '\nlast lines of the sidecar log:\n'
			tail -n 10 "${DEMO_DIR}/sidecar.log" | cut -c1-400
		fi
		exit 1
	fi
	if ((rc != 0)); then
		printf '\n%sdemo interrupted (status %d)%s\n' "$RED" "$rc" "$RESET"
		exit "$rc"
	fi
	printf '\n%sdemo passed: every step behaved as shown.%s\n' "$GREEN" "$RESET"
	exit 0
}
trap teardown EXIT
trap 'FAILURES+=("interrupted"); exit 130' INT TERM

# wait_http URL SECONDS: wait until URL answers (any status).
wait_http() {
	for _ in $(seq $(($2 * 10))); do
		curl -sk --max-time 1 -o /dev/null "$1" && return 0
		sleep 0.1
	done
	return 1
}
start_bg() { # start_bg LOG COMMAND...: start a process we own and remember its pid
	local log="$1"
	shift
	"$@" >"$log" 2>&1 &
	PIDS+=($!)
}

# ------------------------------------------------------------- 0. set up ---
step "0. Set up: build, local control plane, CRD, manager with its webhook"
rm -rf "${DEMO_DIR}/mnt" "${DEMO_DIR}"/*.log "${DEMO_DIR}/outcomes.tsv"
mkdir -p "$DEMO_DIR"
for p in "$DEV_CLUSTER_PORT" "$WEBHOOK_PORT" "$METRICS_PORT" "$PROBE_PORT" "$APP_PORT" "$SIDECAR_PORT" "$SIDECAR_METRICS_PORT"; do
	if curl -sk --max-time 1 -o /dev/null "http://127.0.0.1:${p}/" 2>/dev/null || curl -sk --max-time 1 -o /dev/null "https://127.0.0.1:${p}/" 2>/dev/null; then
		[[ "$p" == "$DEV_CLUSTER_PORT" ]] && continue # a leftover demo cluster is reused, then removed
		die "port ${p} is in use on 127.0.0.1: stop what listens there or choose other ports (see hack/demo.sh --help)"
	fi
done
if [[ "${DEMO_SKIP_BUILD:-0}" != 1 ]]; then
	run 'make build' || die "make build failed"
fi
run "go build -o ${BIN#"${REPO_ROOT}"/}/demo-app ./hack/demo/app" || die "building the demo app failed"
KUBECTL="$(hack/ensure-kubectl.sh)" || die "no kubectl and could not build one"
kubectl() { "$KUBECTL" "$@"; }
tollgate() { "${BIN}/tollgate" "$@"; }
say "kubectl is ${KUBECTL}"

CLUSTER_STARTED=true
capture UP 'hack/dev-cluster.sh up' || die "the dev cluster did not start"
KUBECONFIG="$(printf '%s\n' "$UP" | sed -n 's/^export KUBECONFIG=//p' | tail -n1)"
[[ -n "$KUBECONFIG" && -f "$KUBECONFIG" ]] || die "the dev cluster printed no kubeconfig"
export KUBECONFIG
run 'kubectl apply --server-side -k config/crd' || die "installing the CRD failed"
run 'kubectl wait --for=condition=Established crd/authpolicies.auth.tollgate.dev --timeout=60s' || die "the CRD was not established"

if [[ "$REDIS" == 1 ]]; then
	hack/ensure-redis.sh || die "redis-server is needed for REDIS=1"
	run "redis-server --port ${REDIS_PORT} --bind 127.0.0.1 --save '' --appendonly no >${DEMO_DIR}/redis.log 2>&1 &"
	PIDS+=($!)
	REDIS_NOTE=", redis-server"
	for _ in $(seq 50); do
		redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || die "redis-server did not start; see ${DEMO_DIR}/redis.log"
fi

HAVE_WEBHOOK=false
# (not `| grep -q`: with pipefail, grep closing the pipe early would fail the pipeline)
MANAGER_HELP="$("${BIN}/tollgate" manager --help 2>&1)"
if [[ "$MANAGER_HELP" == *--webhook-url* ]]; then
	HAVE_WEBHOOK=true
	MANAGER_ARGS="--webhook-url https://localhost:${WEBHOOK_PORT} --webhook-cert-dir ${DEMO_DIR}/webhook-certs"
else
	MANAGER_ARGS=""
	say "this build of tollgate manager has no --webhook-url: the injection step cannot run"
fi
MANAGER_ARGS+=" --metrics-bind-address=127.0.0.1:${METRICS_PORT} --health-probe-bind-address=127.0.0.1:${PROBE_PORT}"
printf '%s$ tollgate manager %s >%s 2>&1 &%s\n' "$CYAN" "$MANAGER_ARGS" "${DEMO_DIR}/manager.log" "$RESET"
# shellcheck disable=SC2086 # MANAGER_ARGS is a list of flags
start_bg "${DEMO_DIR}/manager.log" "${BIN}/tollgate" manager $MANAGER_ARGS
for _ in $(seq 300); do
	curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:${PROBE_PORT}/readyz" && break
	kill -0 "${PIDS[-1]}" 2>/dev/null || die "the manager exited; see ${DEMO_DIR}/manager.log"
	sleep 0.1
done
curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:${PROBE_PORT}/readyz" || die "the manager did not become ready in 30s"
ok "manager ready (probes on 127.0.0.1:${PROBE_PORT})"
if [[ "$HAVE_WEBHOOK" == true ]]; then
	WEBHOOK_CFG=tollgate-dev-mutating-webhook-configuration
	for _ in $(seq 300); do
		kubectl get mutatingwebhookconfiguration "$WEBHOOK_CFG" >/dev/null 2>&1 && wait_http "https://127.0.0.1:${WEBHOOK_PORT}/" 1 && break
		sleep 0.1
	done
	run "kubectl get mutatingwebhookconfiguration ${WEBHOOK_CFG} -o jsonpath='{.webhooks[0].clientConfig.url}{\"\\n\"}'"
	url="$(kubectl get mutatingwebhookconfiguration "$WEBHOOK_CFG" -o jsonpath='{.webhooks[0].clientConfig.url}' 2>/dev/null)"
	if [[ "$url" == "https://localhost:${WEBHOOK_PORT}/inject" ]]; then
		ok "the manager registered its webhook at ${url}"
	else
		fail "webhook configuration ${WEBHOOK_CFG}: want clientConfig.url https://localhost:${WEBHOOK_PORT}/inject, got '${url}'"
	fi
fi

# ------------------------------------------------------- 1. the policy ---
step "1. An AuthPolicy and its users"
run "kubectl create namespace ${NS}" || die "creating namespace ${NS} failed"
mkdir -p "${DEMO_DIR}"
cp hack/demo/policy.yaml "${DEMO_DIR}/policy.yaml"
if [[ "$REDIS" == 1 ]]; then
	cat >>"${DEMO_DIR}/policy.yaml" <<EOF
  store:
    redis:
      addresses: ["127.0.0.1:${REDIS_PORT}"]
EOF
fi
run "cat ${DEMO_DIR#"${REPO_ROOT}"/}/policy.yaml | grep -v '^#'"
run "kubectl apply -n ${NS} -f config/samples/users_secret.yaml -f ${DEMO_DIR#"${REPO_ROOT}"/}/policy.yaml" || fail "applying the policy and users"
if run "kubectl wait -n ${NS} --for=condition=Ready authpolicy/${POLICY} --timeout=60s"; then
	ok "policy Ready"
else
	fail "AuthPolicy ${POLICY} did not become Ready"
fi
run "kubectl get authpolicies -n ${NS}"
capture KEYS "tollgate keys ${POLICY} -n ${NS}"
if [[ "$(printf '%s\n' "$KEYS" | grep -c ' Active ')" == 1 ]]; then ok "one Active key"; else fail "tollgate keys: want exactly one Active key"; fi
ACTIVE_KID="$(kubectl get authpolicy "$POLICY" -n "$NS" -o jsonpath='{.status.activeKeyID}')"
record "active kid" "$ACTIVE_KID"
run "kubectl get secret,configmap -n ${NS}"
say "the public keys (the Secret also holds keyset.json, with the private keys):"
capture JWKS "kubectl get secret ${POLICY}-signing-keys -n ${NS} -o jsonpath='{.data.jwks\\.json}' | base64 -d; echo"
if [[ "$JWKS" == *"\"kid\":\"${ACTIVE_KID}\""* && "$JWKS" != *'"d":'* ]]; then
	ok "JWKS holds the active key ${ACTIVE_KID} and no private material"
else
	fail "jwks.json: want the active key ${ACTIVE_KID} and no private member \"d\""
fi

# ---------------------------------------------------------- 2. injection ---
step "2. Injection: an annotated Pod in an opted-in namespace"
if [[ "$HAVE_WEBHOOK" == true ]]; then
	run "kubectl label namespace ${NS} auth.tollgate.dev/injection=enabled"
	run "grep -v '^#' hack/demo/pod.yaml"
	if run "kubectl create -n ${NS} -f hack/demo/pod.yaml"; then
		run "kubectl get pod shop -n ${NS} -o go-template='{{range .spec.initContainers}}initContainer {{.name}}: image={{.image}} restartPolicy={{.restartPolicy}}{{\"\\n\"}}  args={{.args}}{{\"\\n\"}}  ports={{range .ports}}{{.name}}:{{.containerPort}} {{end}}{{\"\\n\"}}  mounts={{range .volumeMounts}}{{.mountPath}} {{end}}{{\"\\n\"}}{{end}}{{range .spec.containers}}container {{.name}}: image={{.image}}{{\"\\n\"}}{{end}}annotation auth.tollgate.dev/status: {{index .metadata.annotations \"auth.tollgate.dev/status\"}}{{\"\\n\"}}'"
		init="$(kubectl get pod shop -n "$NS" -o jsonpath='{range .spec.initContainers[*]}{.name}={.restartPolicy}{"\n"}{end}')"
		status="$(kubectl get pod shop -n "$NS" -o jsonpath='{.metadata.annotations.auth\.tollgate\.dev/status}')"
		record "pod init containers" "$(printf '%s' "$init" | tr '\n' ' ')"
		record "pod status annotation" "$status"
		if [[ "$init" == *"tollgate-sidecar=Always"* ]]; then ok "sidecar injected as a native sidecar (init container, restartPolicy Always)"; else fail "pod shop: want init container tollgate-sidecar with restartPolicy Always, got '${init}'"; fi
		if [[ "$status" == injected ]]; then ok "auth.tollgate.dev/status: injected"; else fail "pod shop: want annotation auth.tollgate.dev/status=injected, got '${status}'"; fi
		run "kubectl get pod shop -n ${NS}"
		say "there is no kubelet on this control plane: the pod is stored but never runs (Pending)."
		say "step 3 runs the same sidecar here, with the same mounts."
	else
		fail "creating the annotated pod"
	fi
	say "a pod naming a policy that does not exist is refused (the webhook fails closed):"
	if run "kubectl run nopolicy -n ${NS} --image=busybox --restart=Never --annotations=auth.tollgate.dev/policy=missing 2>&1"; then
		fail "a pod naming a missing policy was admitted"
	else
		ok "refused"
	fi
else
	fail "injection not shown: this build's tollgate manager has no --webhook-url (the webhook has not landed)"
fi

# ------------------------------------------- 3. a sidecar in front of an app ---
step "3. A sidecar in front of the sample app, with the operator's keys"
MNT="${DEMO_DIR}/mnt"
# mount KIND NAME DIR: write a Secret's or ConfigMap's keys into DIR the way the kubelet
# does: files in a timestamped directory, a ..data symlink switched atomically, and one
# symlink per key through ..data.
mount_object() {
	local kind="$1" name="$2" dir="$3" field=data ts keys k
	mkdir -p "$dir"
	ts="..$(date -u +%Y_%m_%d_%H_%M_%S.%N)"
	mkdir -p "${dir}/${ts}"
	keys="$(kubectl get "$kind" "$name" -n "$NS" -o go-template='{{range $k, $v := .data}}{{$k}}{{"\n"}}{{end}}')" || return 1
	for k in $keys; do
		if [[ "$kind" == secret ]]; then
			kubectl get secret "$name" -n "$NS" -o go-template="{{index .data \"${k}\"}}" | base64 -d >"${dir}/${ts}/${k}" || return 1
		else
			kubectl get configmap "$name" -n "$NS" -o go-template="{{index .data \"${k}\"}}" >"${dir}/${ts}/${k}" || return 1
		fi
		ln -sfn "..data/${k}" "${dir}/${k}"
	done
	ln -sfn "$ts" "${dir}/..data_tmp"
	mv -T "${dir}/..data_tmp" "${dir}/..data"
	find "$dir" -maxdepth 1 -name '..20*' ! -name "$ts" -exec rm -rf {} +
}
M="${MNT#"${REPO_ROOT}"/}"
# The sidecar's command line is the one the webhook injected into pod shop: its volumes are
# written under MNT as the kubelet would mount them, and its paths point there. Only the
# addresses are the demo's own: this machine has no pod network.
pod_template() { kubectl get pod shop -n "$NS" -o go-template="$1"; }
SIDECAR_ARGS="$(pod_template '{{range .spec.initContainers}}{{if eq .name "tollgate-sidecar"}}{{range .args}}{{.}}{{"\n"}}{{end}}{{end}}{{end}}')" || true
SIDECAR_MOUNTS="$(pod_template '{{range .spec.initContainers}}{{if eq .name "tollgate-sidecar"}}{{range .volumeMounts}}{{.name}} {{.mountPath}}{{"\n"}}{{end}}{{end}}{{end}}')" || true
POD_VOLUMES="$(pod_template '{{range .spec.volumes}}{{.name}} {{if .secret}}secret {{.secret.secretName}}{{else if .configMap}}configmap {{.configMap.name}}{{end}}{{"\n"}}{{end}}')" || true
[[ -n "$SIDECAR_ARGS" && -n "$SIDECAR_MOUNTS" ]] || die "pod shop has no injected tollgate-sidecar to take the command line from (see step 2)"
say "the sidecar's volumes in pod shop, written where it mounts them (kubelet layout: ..data symlinks):"
declare -A LOCAL_DIR=()
while read -r vol mpath; do
	[[ -n "$vol" ]] || continue
	read -r kind obj < <(printf '%s\n' "$POD_VOLUMES" | awk -v v="$vol" '$1 == v {print $2, $3}')
	[[ -n "$kind" && -n "$obj" ]] || die "pod shop: volume ${vol} is not a Secret or ConfigMap"
	mount_object "$kind" "$obj" "${MNT}/${vol}" || fail "reading ${kind} ${obj}"
	say "  ${mpath} <- ${kind} ${obj} (${M}/${vol})"
	LOCAL_DIR[$mpath]="${M}/${vol}"
	[[ "$kind" == secret && "$obj" == "${POLICY}-signing-keys" ]] && KEYS_MNT="${MNT}/${vol}"
done <<<"$SIDECAR_MOUNTS"
[[ -n "${KEYS_MNT:-}" ]] || die "pod shop: the sidecar mounts no ${POLICY}-signing-keys"
run "ls -lA ${KEYS_MNT#"${REPO_ROOT}"/} | tail -n +2 | sed 's/^.* [0-9][0-9]:[0-9][0-9] /    /'"
run "${BIN#"${REPO_ROOT}"/}/demo-app --listen 127.0.0.1:${APP_PORT} >${DEMO_DIR}/app.log 2>&1 &"
PIDS+=($!)
SIDECAR_CMD="tollgate-sidecar"
while read -r arg; do
	case "$arg" in
	"" | --listen=* | --upstream=* | --metrics-listen=*) continue ;; # the demo's own ports, below
	esac
	for mpath in "${!LOCAL_DIR[@]}"; do
		arg="${arg/=${mpath}/=${LOCAL_DIR[$mpath]}}"
	done
	SIDECAR_CMD+=" ${arg}"
done <<<"$SIDECAR_ARGS"
SIDECAR_CMD+=" --listen=127.0.0.1:${SIDECAR_PORT} --upstream=http://127.0.0.1:${APP_PORT} --metrics-listen=127.0.0.1:${SIDECAR_METRICS_PORT} --log-format=text"
run "${SIDECAR_CMD} >${DEMO_DIR}/sidecar.log 2>&1 &"
PIDS+=($!)
for _ in $(seq 100); do
	curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:${SIDECAR_METRICS_PORT}/readyz" && break
	kill -0 "${PIDS[-1]}" 2>/dev/null || break
	sleep 0.1
done
wait_http "http://127.0.0.1:${APP_PORT}/" 5 || fail "the demo app did not start; see ${DEMO_DIR}/app.log"
if curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:${SIDECAR_METRICS_PORT}/readyz"; then
	ok "sidecar ready"
else
	die "the sidecar did not become ready; see ${DEMO_DIR}/sidecar.log"
fi

say "bob (role clerk) logs in:"
expect_http 200 "login" "${SIDECAR}/auth/login -d '{\"email\":\"bob@example.com\",\"password\":\"builder\"}'"
ACCESS="$(printf '%s' "$BODY" | json_field accessToken)"
record "kid at login" "$(jwt_kid "$ACCESS")"
REFRESH="$(printf '%s' "$BODY" | json_field refreshToken)"
[[ -n "$ACCESS" && -n "$REFRESH" ]] || fail "login: no accessToken/refreshToken in the answer"
if [[ "$(jwt_kid "$ACCESS")" == "$ACTIVE_KID" ]]; then ok "the token is signed with the operator's active key ${ACTIVE_KID}"; else fail "access token kid: want ${ACTIVE_KID}, got $(jwt_kid "$ACCESS")"; fi
say 'ACCESS=<accessToken>; REFRESH=<refreshToken>'
say "a protected call: the app sees who is calling (X-Auth-Subject, X-Auth-Role), set by the sidecar only"
expect_http 200 "protected call" "-H \"Authorization: Bearer \$ACCESS\" -H 'X-Auth-Role: admin' ${SIDECAR}/orders"
if [[ "$BODY" == *'"subject":"43"'* && "$BODY" == *'"role":"clerk"'* ]]; then ok "the app received X-Auth-Subject: 43 and X-Auth-Role: clerk (the forged X-Auth-Role was removed)"; else fail "identity headers: want subject 43 and role clerk, got ${BODY}"; fi
expect_http 401 "no token" "${SIDECAR}/orders"
expect_http 200 "public route, no token" "${SIDECAR}/public/catalog"
expect_http 403 "admin route as a clerk" "-H \"Authorization: Bearer \$ACCESS\" ${SIDECAR}/admin/users"
expect_http 200 "POST /orders as a clerk (roles admin, clerk)" "-X POST -H \"Authorization: Bearer \$ACCESS\" ${SIDECAR}/orders"
say "refresh: a new pair; the old refresh token is spent"
SPENT="$REFRESH"
expect_http 200 "refresh" "${SIDECAR}/auth/refresh -d \"{\\\"refreshToken\\\":\\\"\$REFRESH\\\"}\""
ACCESS2="$(printf '%s' "$BODY" | json_field accessToken)"
REFRESH="$(printf '%s' "$BODY" | json_field refreshToken)"
say "presenting the spent refresh token again: refused, and its whole session is revoked"
expect_http 401 "reuse of the spent refresh token" "${SIDECAR}/auth/refresh -d \"{\\\"refreshToken\\\":\\\"\$SPENT\\\"}\""
expect_http 401 "the session's newer refresh token, revoked with its family" "${SIDECAR}/auth/refresh -d \"{\\\"refreshToken\\\":\\\"\$REFRESH\\\"}\""
say "alice (role admin) logs in, calls the admin route, logs out; her token is refused afterwards"
expect_http 200 "login as admin" "${SIDECAR}/auth/login -d '{\"email\":\"alice@example.com\",\"password\":\"wonderland\"}'"
ACCESS="$(printf '%s' "$BODY" | json_field accessToken)"
REFRESH="$(printf '%s' "$BODY" | json_field refreshToken)"
expect_http 200 "admin route as admin" "-H \"Authorization: Bearer \$ACCESS\" ${SIDECAR}/admin/users"
expect_http 204 "logout" "-X POST -H \"Authorization: Bearer \$ACCESS\" ${SIDECAR}/auth/logout -d \"{\\\"refreshToken\\\":\\\"\$REFRESH\\\"}\""
expect_http 401 "the same access token after logout" "-H \"Authorization: Bearer \$ACCESS\" ${SIDECAR}/orders"
expect_http 401 "its refresh token after logout" "${SIDECAR}/auth/refresh -d \"{\\\"refreshToken\\\":\\\"\$REFRESH\\\"}\""
expect_http 401 "wrong password" "${SIDECAR}/auth/login -d '{\"email\":\"alice@example.com\",\"password\":\"guess\"}'"
: "${ACCESS2}"
if [[ "$REDIS" == 1 ]]; then
	say "the sessions and revocations are in Redis, shared by every replica of the policy:"
	capture RKEYS "redis-cli -p ${REDIS_PORT} --scan --pattern 'tollgate:*' | sort | head -n 8"
	if [[ "$RKEYS" == *"tollgate:{${NS}/${POLICY}}"* ]]; then ok "keys under tollgate:{${NS}/${POLICY}}"; else fail "Redis holds no tollgate:{${NS}/${POLICY}} keys: the sidecar did not use the store"; fi
fi

# ------------------------------------------------------------ 4. rotation ---
step "4. Rotation: tokens keep validating"
expect_http 200 "login before the rotation" "${SIDECAR}/auth/login -d '{\"email\":\"alice@example.com\",\"password\":\"wonderland\"}'"
OLD="$(printf '%s' "$BODY" | json_field accessToken)"
say 'OLD=<accessToken>, signed with the current key'
run "tollgate rotate ${POLICY} -n ${NS}" || fail "tollgate rotate"
NEXT_KID=''
for _ in $(seq 100); do
	NEXT_KID="$(kubectl get authpolicy "$POLICY" -n "$NS" -o jsonpath='{.status.nextKeyID}')"
	[[ -n "$NEXT_KID" ]] && break
	sleep 0.1
done
run "tollgate keys ${POLICY} -n ${NS}"
if [[ -n "$NEXT_KID" && "$NEXT_KID" != "$ACTIVE_KID" ]]; then ok "new key ${NEXT_KID} published as Next"; else fail "after tollgate rotate: want a Next key, status.nextKeyID='${NEXT_KID}'"; fi
say "the kubelet refreshes the mounted Secret; here we do it by hand, the sidecar reloads it within a second:"
mount_object secret "${POLICY}-signing-keys" "$KEYS_MNT" || fail "refreshing the keys mount"
for _ in $(seq 50); do
	[[ "$(curl -s --max-time 1 "${SIDECAR}/.well-known/jwks.json")" == *"\"${NEXT_KID}\""* ]] && break
	sleep 0.1
done
expect_http 200 "the sidecar's JWKS" "${SIDECAR}/.well-known/jwks.json"
if [[ "$BODY" == *"\"${NEXT_KID}\""* && "$BODY" == *"\"${ACTIVE_KID}\""* ]]; then ok "JWKS publishes both keys, ${ACTIVE_KID} (Active) and ${NEXT_KID} (Next)"; else fail "sidecar JWKS: want kids ${ACTIVE_KID} and ${NEXT_KID}"; fi
expect_http 200 "OLD token while the new key is Next" "-H \"Authorization: Bearer \$OLD\" ${SIDECAR}/orders"
ACTIVATES="$(kubectl get authpolicy "$POLICY" -n "$NS" -o jsonpath="{.status.keys[?(@.kid==\"${NEXT_KID}\")].activatesAt}")"
say "${NEXT_KID} starts signing at ${ACTIVATES} (prePublish 10s); waiting..."
# Sleep until then (GNU date parses RFC 3339; elsewhere a fixed wait that covers prePublish).
if at="$(date -u -d "$ACTIVATES" +%s 2>/dev/null)"; then
	wait_s=$((at - $(date -u +%s) + 1))
else
	wait_s=11
fi
((wait_s > 0 && wait_s < 60)) && sleep "$wait_s"
mount_object secret "${POLICY}-signing-keys" "$KEYS_MNT" || fail "refreshing the keys mount"
run "tollgate keys ${POLICY} -n ${NS}"
expect_http 200 "login after the switch" "${SIDECAR}/auth/login -d '{\"email\":\"alice@example.com\",\"password\":\"wonderland\"}'"
NEW="$(printf '%s' "$BODY" | json_field accessToken)"
record "next kid" "$NEXT_KID"
record "kid after the switch" "$(jwt_kid "$NEW")"
if [[ "$(jwt_kid "$NEW")" == "$NEXT_KID" ]]; then ok "new tokens are signed with ${NEXT_KID}"; else fail "after activation: want tokens signed with ${NEXT_KID}, got $(jwt_kid "$NEW")"; fi
expect_http 200 "NEW token" "-H \"Authorization: Bearer \$NEW\" ${SIDECAR}/orders"
expect_http 200 "OLD token, signed with the now Retired key" "-H \"Authorization: Bearer \$OLD\" ${SIDECAR}/orders"
run "kubectl get authpolicies -n ${NS}"
exit 0
