#!/usr/bin/env bash
# tollgate end to end on the real node (hack/node.sh): `make demo` as root on Linux.
#   0. the node: kubelet on containerd, CNI bridge, kube-proxy; tollgate's images imported
#   1. make deploy: the operator from config/default, two replicas, its webhook behind a Service
#   2. an AuthPolicy with Redis, and the sample app as a Deployment: the pods run the injected
#      sidecar beside the app
#   3. from the node, against a pod and through the Service: login, call, 401, 403, refresh,
#      refresh reuse, logout on one pod enforced on the other
#   4. tollgate rotate: the kubelet delivers the new key, tokens keep validating
#   5. teardown (also on Ctrl-C or failure): the demo's namespace and the operator; the node
#      too when this script started it (NODE_KEEP=1 keeps it)
#
#   hack/node-demo.sh [--pause]     --pause waits for Enter between steps (on a terminal)
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DEMO_NAME=node-demo
# shellcheck source=hack/lib/demo-output.sh
source "${REPO_ROOT}/hack/lib/demo-output.sh"
parse_demo_args "$@"

NS=shop
POLICY=shop-api
IMG=ghcr.io/tollgate-dev/tollgate:dev
NODE_DIR="${NODE_DIR:-/tmp/tollgate-node}"
export NODE_DIR

die() {
	fail "$*"
	exit 1
}

NODE_STARTED=false
DEPLOYED=false
teardown() {
	local rc=$?
	trap - EXIT INT TERM
	PAUSE=false
	step "5. Teardown"
	if [[ "$DEPLOYED" == true ]]; then
		run "kubectl delete namespace ${NS} --wait=true --timeout=120s" >/dev/null 2>&1 || true
		run "hack/render-install.sh ${IMG} | kubectl delete --ignore-not-found --wait=true --timeout=120s -f - >/dev/null" || true
	fi
	if [[ "$NODE_STARTED" == true && "${NODE_KEEP:-0}" != 1 ]]; then
		run "hack/node.sh down"
	elif [[ "$NODE_STARTED" == true ]]; then
		say "NODE_KEEP=1: the node keeps running; make node-down removes it"
	fi
	if ((${#FAILURES[@]})); then
		printf '\n%sdemo FAILED: %d step(s) did not behave as shown:%s\n' "$RED" "${#FAILURES[@]}" "$RESET"
		printf '  - %s\n' "${FAILURES[@]}"
		say "node logs: ${NODE_DIR}/logs"
		exit 1
	fi
	if ((rc != 0)); then
		printf '\n%sdemo interrupted (status %d)%s\n' "$RED" "$rc" "$RESET"
		exit "$rc"
	fi
	printf '\n%sdemo passed on the real node: every step behaved as shown.%s\n' "$GREEN" "$RESET"
}
trap teardown EXIT
trap 'FAILURES+=("interrupted"); exit 130' INT TERM

# ------------------------------------------------------------------ 0. node ---
step "0. The node: kubelet on containerd, CNI bridge, kube-proxy"
if hack/node.sh status >/dev/null 2>&1; then
	say "a node runs already (${NODE_DIR}): importing freshly built images"
	run "hack/node.sh images" || die "building or importing the images failed"
else
	NODE_STARTED=true
	run "hack/node.sh up" || die "the node did not start; see ${NODE_DIR}/logs"
fi
export KUBECONFIG="${NODE_DIR}/kubeconfig"
KUBECTL="$(hack/ensure-kubectl.sh)" || die "no kubectl and could not build one"
kubectl() { "$KUBECTL" "$@"; }
tollgate() { "${REPO_ROOT}/bin/node-images/tollgate" "$@"; }
run "kubectl get nodes -o wide"
run "ctr --address ${NODE_DIR}/containerd/containerd.sock -n k8s.io images ls -q | grep -v sha256"

# ---------------------------------------------------------------- 1. deploy ---
step "1. make deploy: the operator as a user installs it (config/default)"
DEPLOYED=true
run "hack/render-install.sh ${IMG} | kubectl apply --server-side -f - | tail -n 4" || die "installing the operator failed"
run "kubectl rollout status -n tollgate-system deployment/tollgate-controller-manager --timeout=180s" || die "the manager did not become available"
run "kubectl get pods -n tollgate-system -o wide"
holder="$(kubectl get lease -n tollgate-system -o jsonpath='{.items[0].spec.holderIdentity}' 2>/dev/null)"
if [[ -n "$holder" ]]; then ok "two managers, one leader: ${holder%%_*}"; else fail "no leader election lease in tollgate-system"; fi
for _ in $(seq 60); do
	ca="$(kubectl get mutatingwebhookconfiguration tollgate-mutating-webhook-configuration -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null)"
	[[ -n "$ca" ]] && break
	sleep 1
done
if [[ -n "$ca" ]]; then ok "the webhook is served through tollgate-webhook-service with the manager's own certificate (caBundle set)"; else fail "the webhook configuration has no caBundle"; fi

# ------------------------------------------------------------- 2. workload ---
step "2. A policy with Redis, and the sample app: two replicas with the injected sidecar"
run "kubectl create namespace ${NS}" || die "creating namespace ${NS}"
run "kubectl label namespace ${NS} auth.tollgate.dev/injection=enabled"
run "kubectl apply -n ${NS} -f config/samples/users_secret.yaml -f hack/demo/node/shop.yaml" || die "applying the policy"
run "kubectl wait -n ${NS} --for=condition=Ready authpolicy/${POLICY} --timeout=60s" && ok "policy Ready" || fail "the policy did not become Ready"
run "kubectl apply -n ${NS} -f hack/demo/node/app.yaml" || die "applying the app"
run "kubectl rollout status -n ${NS} deployment/shop --timeout=180s" || fail "the app did not become available"
run "kubectl rollout status -n ${NS} deployment/redis --timeout=120s" || fail "Redis did not become available"
run "kubectl get pods -n ${NS} -o wide"
run "kubectl get pods -n ${NS} -l app.kubernetes.io/name=shop -o go-template='{{range .items}}{{.metadata.name}}:{{range .status.initContainerStatuses}} {{.name}} ready={{.ready}} restarts={{.restartCount}};{{end}}{{range .status.containerStatuses}} {{.name}} ready={{.ready}};{{end}}{{\"\\n\"}}{{end}}'"
mapfile -t IPS < <(kubectl get pods -n "$NS" -l app.kubernetes.io/name=shop -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}')
SVC="http://$(kubectl get service shop -n "$NS" -o jsonpath='{.spec.clusterIP}')"
if ((${#IPS[@]} == 2)); then ok "pods at ${IPS[0]} and ${IPS[1]}, Service at ${SVC}"; else die "want two shop pods, got ${#IPS[@]}"; fi
A="http://${IPS[0]}:8000" B="http://${IPS[1]}:8000"
# kube-proxy writes the Service's rules a moment after its endpoints appear: until then a
# connection to the ClusterIP is refused. Wait for any HTTP answer (up to 30 s).
for _ in $(seq 60); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 "$SVC/orders" || true)" != 000 ]] && break
  sleep 0.5
done

# ------------------------------------------------------------- 3. sessions ---
step "3. From the node: pod A, pod B, and the Service"
say "A=${A}  B=${B}  SVC=${SVC}"
expect_http 200 "login on pod A" "\$A/auth/login -d '{\"email\":\"bob@example.com\",\"password\":\"builder\"}'"
ACCESS="$(printf '%s' "$BODY" | json_field accessToken)" REFRESH="$(printf '%s' "$BODY" | json_field refreshToken)"
expect_http 200 "the token on pod B (one policy, one key set)" "-H \"Authorization: Bearer \$ACCESS\" \$B/orders"
expect_http 200 "and through the Service" "-H \"Authorization: Bearer \$ACCESS\" \$SVC/orders"
expect_http 401 "no token" "\$SVC/orders"
expect_http 403 "admin route as a clerk" "-H \"Authorization: Bearer \$ACCESS\" \$B/admin/users"
SPENT="$REFRESH"
expect_http 200 "refresh on pod B (sessions in Redis)" "\$B/auth/refresh -d \"{\\\"refreshToken\\\":\\\"\$REFRESH\\\"}\""
REFRESH="$(printf '%s' "$BODY" | json_field refreshToken)"
expect_http 401 "the spent refresh token again, on pod A" "\$A/auth/refresh -d \"{\\\"refreshToken\\\":\\\"\$SPENT\\\"}\""
expect_http 401 "its family is revoked" "\$B/auth/refresh -d \"{\\\"refreshToken\\\":\\\"\$REFRESH\\\"}\""
expect_http 200 "alice logs in on pod A" "\$A/auth/login -d '{\"email\":\"alice@example.com\",\"password\":\"wonderland\"}'"
ACCESS="$(printf '%s' "$BODY" | json_field accessToken)"
expect_http 200 "admin route on pod B" "-H \"Authorization: Bearer \$ACCESS\" \$B/admin/users"
expect_http 204 "logout on pod A" "-X POST -H \"Authorization: Bearer \$ACCESS\" \$A/auth/logout"
sleep 1
expect_http 401 "the same token on pod B after the logout on A" "-H \"Authorization: Bearer \$ACCESS\" \$B/orders"

# ------------------------------------------------------------- 4. rotation ---
step "4. Rotation: the kubelet delivers the new key to every pod"
expect_http 200 "login before the rotation" "\$SVC/auth/login -d '{\"email\":\"bob@example.com\",\"password\":\"builder\"}'"
OLD="$(printf '%s' "$BODY" | json_field accessToken)"
OLD_KID="$(jwt_kid "$OLD")"
run "tollgate rotate ${POLICY} -n ${NS}" || fail "tollgate rotate"
NEXT_KID=''
for _ in $(seq 60); do
	NEXT_KID="$(kubectl get authpolicy "$POLICY" -n "$NS" -o jsonpath='{.status.nextKeyID}')"
	[[ -n "$NEXT_KID" ]] && break
	sleep 0.5
done
run "tollgate keys ${POLICY} -n ${NS}"
say "waiting for both pods' sidecars to publish ${NEXT_KID} (the kubelet refreshes the mounted Secret)..."
for ip in "${IPS[@]}"; do
	for _ in $(seq 120); do
		[[ "$(curl -s --max-time 2 "http://${ip}:8000/.well-known/jwks.json")" == *"\"${NEXT_KID}\""* ]] && break
		sleep 0.5
	done
	if [[ "$(curl -s --max-time 2 "http://${ip}:8000/.well-known/jwks.json")" == *"\"${NEXT_KID}\""* ]]; then ok "pod ${ip} publishes ${NEXT_KID}"; else fail "pod ${ip} does not publish ${NEXT_KID}"; fi
done
say "it signs once its activation time passes (prePublish 30s); waiting..."
for _ in $(seq 120); do
	[[ "$(kubectl get authpolicy "$POLICY" -n "$NS" -o jsonpath='{.status.activeKeyID}')" == "$NEXT_KID" ]] && break
	sleep 0.5
done
sleep 1
expect_http 200 "login after the switch, on pod B" "\$B/auth/login -d '{\"email\":\"bob@example.com\",\"password\":\"builder\"}'"
NEW="$(printf '%s' "$BODY" | json_field accessToken)"
if [[ "$(jwt_kid "$NEW")" == "$NEXT_KID" ]]; then ok "new tokens are signed with ${NEXT_KID}"; else fail "want tokens signed with ${NEXT_KID}, got $(jwt_kid "$NEW")"; fi
expect_http 200 "NEW token on pod A" "-H \"Authorization: Bearer \$NEW\" \$A/orders"
expect_http 200 "OLD token (${OLD_KID}, now Retired) through the Service" "-H \"Authorization: Bearer \$OLD\" \$SVC/orders"
run "kubectl get authpolicies -n ${NS}"
exit 0
