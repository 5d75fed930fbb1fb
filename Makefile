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

# Short form of the fuzz and reliability suites under `make test`.
FUZZTIME ?= 10s

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
redis-server: ## Make sure redis-server is installed (apt-get as root).
	hack/ensure-redis.sh

.PHONY: test
test: redis-server envtest-binaries ## Run every test: unit, envtest, Redis, short fuzzing.
	go test -count=1 -timeout 30m ./...
	hack/fuzz.sh $(FUZZTIME)

.PHONY: bench
bench: build redis-server ## Run the benchmarks.
	go test -run '^$$' -bench . -benchmem ./keyset/... ./sidecar/...

##@ Build

.PHONY: build
build: ## Build bin/tollgate and bin/tollgate-sidecar.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/tollgate ./cmd/tollgate
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/tollgate-sidecar ./cmd/tollgate-sidecar

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD on the cluster of $KUBECONFIG.
	kubectl apply -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRD from the cluster of $KUBECONFIG.
	kubectl delete --ignore-not-found -k config/crd

##@ Tools

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
