# tollgate: JWT authentication for Kubernetes workloads.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= ghcr.io/tollgate-dev/tollgate:latest
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/tollgate-dev/tollgate/internal/version.Version=$(VERSION) -X github.com/tollgate-dev/tollgate/internal/version.Commit=$(COMMIT)

LOCALBIN := $(CURDIR)/bin
export PATH := $(LOCALBIN):$(PATH)
GOFLAGS ?= -buildvcs=false
export GOFLAGS

CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN := $(LOCALBIN)/controller-gen
GOLANGCI_LINT := $(LOCALBIN)/golangci-lint

# Where envtest finds etcd and kube-apiserver, built from source by hack/envtest-binaries.sh.
KUBEBUILDER_ASSETS ?= $(LOCALBIN)/k8s
export KUBEBUILDER_ASSETS

# How long `make test-reliability` fuzzes each target (and the default of `make fuzz-corpus`).
# Plain `go test` (so `make test`) replays the committed corpus of every target.
RELIABILITY_FUZZTIME ?= 1m

# The real node of `make node-up` and `make e2e`: its state, logs and kubeconfig.
NODE_DIR ?= /tmp/tollgate-node
export NODE_DIR
# Root on Linux: `make test` also runs the real-node e2e, and `make demo` runs on the real node.
REAL_NODE := $(shell [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD, RBAC and webhook manifests.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	cp config/crd/bases/auth.tollgate.dev_authpolicies.yaml charts/tollgate/crds/
	cp config/prometheus/alerts.yaml config/prometheus/dashboard.json charts/tollgate/files/prometheus/

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest-binaries
envtest-binaries: ## Build etcd and kube-apiserver from source into bin/k8s (cached).
	hack/envtest-binaries.sh

.PHONY: redis-server
redis-server: ## Make sure redis-server, redis-sentinel and redis-cli are installed (apt-get as root).
	hack/ensure-redis.sh

.PHONY: chromium
chromium: ## Make sure Debian's chromium is installed (apt-get as root): the CORS browser test drives it.
	hack/ensure-chromium.sh

.PHONY: openid-client
openid-client: ## Make sure node and the pinned openid-client (test/openid-client) are installed for the OAuth interop test.
	hack/ensure-openid-client.sh

.PHONY: nginx
nginx: ## Make sure nginx is installed (apt-get as root): the gateway tests start their own.
	hack/ensure-nginx.sh

.PHONY: prometheus
prometheus: ## Make sure prometheus is installed (apt-get as root): test/monitoring runs one.
	hack/ensure-prometheus.sh

.PHONY: helm3
helm3: ## Build bin/helm3, a Helm 3 CLI from helm.sh/helm/v3 (cached): the chart tests prove Helm 3 compatibility with it.
	hack/ensure-helm3.sh >/dev/null

.PHONY: test
test: redis-server chromium nginx prometheus envtest-binaries openid-client helm3 ## Run every test: unit, envtest, Redis, fuzz corpora; then the real-node e2e when root on Linux.
	go test -count=1 -timeout 30m ./...
ifeq ($(REAL_NODE),yes)
	$(MAKE) e2e
else
	@echo "make test: skipped the real-node e2e (make e2e): it needs root on Linux"
endif

.PHONY: e2e
e2e: redis-server envtest-binaries node-binaries ## The real-node e2e: tollgate installed on a kubelet-backed node (root on Linux; starts and removes the node unless one runs).
	TOLLGATE_E2E_NODE=1 go test -count=1 -v -timeout 30m -run '^TestRealNode' ./test/e2e

.PHONY: test-reliability
test-reliability: redis-server envtest-binaries ## The reliability suite at full size: rotation under load, Redis killed, refresh races, restarts, 1,000,000 revocations reloaded under requests, fuzzing every target (RELIABILITY_FUZZTIME each).
	TOLLGATE_RELIABILITY=full go test -count=1 -v -timeout 60m ./test/reliability
	TOLLGATE_BENCH_REVOCATIONS=full go test -count=1 -v -timeout 30m -run 'TestRevocationsAtScaleInTheSidecarBinary|TestValidationGoesOnWhileALargeListReloads' ./sidecar/
	hack/fuzz.sh $(RELIABILITY_FUZZTIME)

.PHONY: fuzz-corpus
fuzz-corpus: ## Fuzz every target for RELIABILITY_FUZZTIME and copy what it found to testdata/fuzz (commit it).
	SAVE_CORPUS=1 hack/fuzz.sh $(RELIABILITY_FUZZTIME)

.PHONY: bench
bench: build redis-server ## Run the benchmarks: go test -bench, then the sidecar against a bare proxy (BENCH_WRITE=FILE also writes the report).
	hack/ensure-bench-tools.sh
	go test -run '^$$' -bench . -benchmem ./keyset/... ./sidecar/... ./internal/webhook/injection/
	go run ./hack/bench -sidecar $(LOCALBIN)/tollgate-sidecar $(if $(BENCH_WRITE),-write $(BENCH_WRITE))

.PHONY: bench-revocations
bench-revocations: redis-server ## Revocations at scale, 10,000 to 1,000,000 live: the sidecar binary's memory, validation and reload from Redis, then the in-process benchmarks.
	TOLLGATE_BENCH_REVOCATIONS=full go test ./sidecar/ -run TestRevocationsAtScaleInTheSidecarBinary -v -count=1 -timeout 60m
	TOLLGATE_BENCH_REVOCATIONS=full go test ./sidecar/ -run '^$$' -bench 'Revocation' -benchmem -timeout 60m

BENCH_POLICIES ?= 10000
BENCH_PODS ?= 10000

.PHONY: bench-operator
bench-operator: envtest-binaries ## Benchmark the operator against envtest: BENCH_POLICIES AuthPolicies (10000), then BENCH_PODS pods (10000); BENCH_PROFILES=DIR keeps a heap profile per phase.
	TOLLGATE_BENCH_OPERATOR=1 TOLLGATE_BENCH_POLICIES=$(BENCH_POLICIES) TOLLGATE_BENCH_PODS=$(BENCH_PODS) TOLLGATE_BENCH_PROFILES=$(BENCH_PROFILES) go test ./test/benchoperator -run TestBenchOperator -v -count=1 -timeout 90m

##@ Local control plane

.PHONY: dev-cluster
dev-cluster: envtest-binaries ## Start etcd + kube-apiserver locally (state in bin/dev-cluster); prints the KUBECONFIG.
	@hack/dev-cluster.sh up

.PHONY: dev-cluster-down
dev-cluster-down: ## Stop the local control plane and remove its state.
	@hack/dev-cluster.sh down

.PHONY: node-binaries
node-binaries: ## Build kubelet, kube-scheduler, kube-controller-manager, kube-proxy from source into bin/node (cached).
	hack/node-binaries.sh

.PHONY: node-up
node-up: envtest-binaries node-binaries ## Start a real single-node cluster (root on Linux): kubelet on containerd, CNI bridge, kube-proxy; tollgate's images imported. Prints the KUBECONFIG.
	@hack/node-up.sh

.PHONY: node-down
node-down: ## Stop the real node and remove everything it made (processes, mounts, bridge, iptables rules, cgroups; sysctls restored).
	@hack/node-down.sh

.PHONY: node-images
node-images: ## Rebuild tollgate's images (no Docker: hack/image) and import them into the running node.
	hack/node.sh images

.PHONY: run
run: build ## Run the manager against $KUBECONFIG with its webhook served here and registered (URL mode).
	hack/run-manager.sh

# REDIS=1 runs the demo with a local redis-server as the policy's store.
REDIS ?= 0
export REDIS

.PHONY: demo
demo: build ## Everything end to end: on the real node when root on Linux, else on a local control plane with a simulated kubelet (REDIS=1: with a Redis store).
	@if [ "$(REDIS)" != 0 ]; then hack/ensure-redis.sh; fi
ifeq ($(REAL_NODE),yes)
	hack/node-demo.sh
else
	@echo "make demo: a real node needs root on Linux; falling back to the simulated-kubelet demo (hack/demo.sh)"
	DEMO_SKIP_BUILD=1 hack/demo.sh
endif

.PHONY: demo-simulated
demo-simulated: build ## The demo on a local control plane without a kubelet (hack/demo.sh): sidecar and app run as local processes.
	@if [ "$(REDIS)" != 0 ]; then hack/ensure-redis.sh; fi
	DEMO_SKIP_BUILD=1 hack/demo.sh

##@ Build

.PHONY: build
build: ## Build bin/tollgate, bin/tollgate-sidecar and bin/tollgate-authorizer.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/tollgate ./cmd/tollgate
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/tollgate-sidecar ./cmd/tollgate-sidecar
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/tollgate-authorizer ./cmd/tollgate-authorizer

# The release image's platforms, and its timestamps: the commit's time, so that the same
# commit gives the same image digest (https://reproducible-builds.org/specs/source-date-epoch/).
PLATFORMS ?= linux/amd64,linux/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

.PHONY: image
image: ## Build the image IMG without Docker: one OCI index of PLATFORMS in dist/image (OCI layout), reproducible, with its CycloneDX SBOM (dist/image/sbom.cdx.json, also attached as a referrer).
	go run ./hack/image -oci dist/image -platforms $(PLATFORMS) -bin-dir $(LOCALBIN)/image -tollgate-image $(IMG) -version $(VERSION) -commit $(COMMIT)

.PHONY: test-image
test-image: ## The release image's tests for linux/amd64 and linux/arm64 (make test builds this machine's platform only): reproducible digest, layout, SBOM.
	TOLLGATE_IMAGE_MULTIARCH=1 go test -count=1 -v -timeout 30m -run 'TestTheReleaseImage|TestTheSBOM' ./hack/image

.PHONY: docker-build
docker-build: ## Build the image IMG (operator and sidecar); needs docker.
	@command -v docker >/dev/null 2>&1 || { echo "docker-build needs docker (not found on PATH)" >&2; exit 1; }
	docker build -t $(IMG) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) .

.PHONY: docker-push
docker-push: ## Push the image IMG.
	docker push $(IMG)

.PHONY: build-installer
build-installer: ## Write dist/install.yaml: everything config/default installs, with image IMG.
	mkdir -p dist
	hack/render-install.sh $(IMG) >dist/install.yaml
	@echo "wrote dist/install.yaml (image $(IMG)): kubectl apply --server-side -f dist/install.yaml"

# kubectl-tollgate goes here; it must be on PATH for `kubectl tollgate` to work.
PLUGIN_DIR ?= $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)

.PHONY: install-plugin
install-plugin: build ## Install kubectl-tollgate into PLUGIN_DIR ($GOBIN, else $GOPATH/bin).
	mkdir -p $(PLUGIN_DIR)
	install -m 0755 $(LOCALBIN)/tollgate $(PLUGIN_DIR)/kubectl-tollgate
	@echo "installed $(PLUGIN_DIR)/kubectl-tollgate: try kubectl tollgate --help"
	@case ":$$PATH:" in *":$(PLUGIN_DIR):"*) ;; *) echo "note: $(PLUGIN_DIR) is not on your PATH; add it, or make install-plugin PLUGIN_DIR=<a directory on PATH>" >&2 ;; esac

.PHONY: release-archives
release-archives: ## kubectl-tollgate archives (linux/darwin amd64/arm64 tar.gz, windows/amd64 zip), checksums.txt and the filled krew manifest in dist/release (VERSION=v0.1.0).
	go run ./hack/release -version $(VERSION) -ldflags '$(LDFLAGS)' -out dist/release

##@ Deployment

# kubectl from PATH, else built from source into bin/kubectl (hack/ensure-kubectl.sh).
KUBECTL = $$(hack/ensure-kubectl.sh)

.PHONY: install
install: manifests ## Install the CRD on the cluster of $KUBECONFIG.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRD from the cluster of $KUBECONFIG.
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: ## Install the operator (config/default) with image IMG on the cluster of $KUBECONFIG.
	hack/render-install.sh $(IMG) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove everything deploy installed (the CRD too: every AuthPolicy goes with it).
	hack/render-install.sh $(IMG) | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
