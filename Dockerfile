# syntax=docker/dockerfile:1
# One image, three binaries: gcannon (the engine and in-cluster agent),
# glass-cannon-operator and crdgen. The operator Deployment and the runner pods
# both use it, so a release pins one digest for everything it runs.

# Base images pinned by digest (the tag says which line it follows): a rebuild
# gets the bytes that were reviewed, never a moved tag. Bump both deliberately
# (Dependabot proposes it: .github/dependabot.yml).
ARG RUST_IMAGE=rust:1-bookworm@sha256:93ce27a88655056a51dbdd8f5f2d7ddc071c7b0070fb288a37b5a285fc83971e
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
# Where the binaries come from: the `build` stage below, or an image that holds
# prebuilt ones in /out (tests/runtime/run.sh builds the runtime stage that way,
# from local images only).
ARG BINARIES=build

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds; the binaries are
# copied out in the same step because the cache is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p runner -p operator \
    && mkdir -p /out \
    && cp target/release/gcannon target/release/glass-cannon-operator target/release/crdgen /out/

FROM ${BINARIES} AS binaries

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="glass-cannon" \
      org.opencontainers.image.description="io_uring HTTP/1.1 load generator (gcannon) and its Kubernetes operator" \
      org.opencontainers.image.source="https://github.com/glass-cannon/glass-cannon" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.vendor="Glass Cannon"
COPY --from=binaries /out/gcannon /out/glass-cannon-operator /out/crdgen /usr/local/bin/
# distroless :nonroot is uid/gid 65532; numeric so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gcannon"]
CMD ["--help"]
