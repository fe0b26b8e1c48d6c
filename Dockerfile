# syntax=docker/dockerfile:1

# hookrelay container image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t hookrelay .
#   docker run --rm -v "$PWD/configs/hookrelay.yaml:/etc/hookrelay/hookrelay.yaml:ro" hookrelay
#
# docker-compose.yml runs it with NATS and the local sink.

# ---- build: a static binary ------------------------------------------------
# The Go release is the go line of go.mod (the golang images build with their
# own toolchain only), so a cached older 1.26 image cannot fail the build. The
# build runs on the builder's own platform and cross-compiles for the target
# (no emulation needed).
FROM --platform=$BUILDPLATFORM golang:1.26.8 AS build
WORKDIR /src

# Modules first, so editing the code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /out/hookrelay ./cmd/hookrelay

# The runtime image has no shell, so the data directory is made here and
# copied over with its owner: 65532 is distroless's nonroot user. A named
# volume mounted on /data starts with this owner.
RUN mkdir -p /out/data

# ---- runtime: distroless, non-root -----------------------------------------
# static-debian12 carries the CA bundle (/etc/ssl/certs/ca-certificates.crt),
# tzdata and /etc/passwd with the nonroot user, and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookrelay /hookrelay
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot:nonroot
VOLUME ["/data"]
# The admin API (health, readiness, metrics, /api/*) when admin.listen is 0.0.0.0:8080.
EXPOSE 8080
ENTRYPOINT ["/hookrelay"]
CMD ["run", "--config", "/etc/hookrelay/hookrelay.yaml"]
