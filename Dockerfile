# One image, three static binaries: the operator (`tollgate manager`, also the CLI), the
# sidecar it injects (`tollgate-sidecar`) and the authorizer it deploys for gateways
# (`tollgate-authorizer`), so they never skew.
#   make docker-build IMG=registry.example.com/tollgate:v0.1.0
# `make image` builds the same layout without Docker (hack/image -oci): an OCI index for
# linux/amd64 and linux/arm64, reproducible, with an SBOM.
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
# Modules first: this layer is cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
COPY keyset/ keyset/
COPY sidecar/ sidecar/
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    LDFLAGS="-s -w -X github.com/tollgate-dev/tollgate/internal/version.Version=${VERSION} -X github.com/tollgate-dev/tollgate/internal/version.Commit=${COMMIT}" && \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags "${LDFLAGS}" -o /out/tollgate ./cmd/tollgate && \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags "${LDFLAGS}" -o /out/tollgate-sidecar ./cmd/tollgate-sidecar && \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags "${LDFLAGS}" -o /out/tollgate-authorizer ./cmd/tollgate-authorizer

# Static binaries need no libc: distroless static, as user nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/tollgate-dev/tollgate" \
      org.opencontainers.image.description="tollgate: JWT authentication for Kubernetes workloads (operator and sidecar)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/tollgate /out/tollgate-sidecar /out/tollgate-authorizer /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["manager"]
