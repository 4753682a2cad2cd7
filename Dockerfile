# syntax=docker/dockerfile:1.7
#
# The gantry image: one static-ish binary on distroless, non-root, made for a read-only
# root filesystem. Every Kubernetes workload in deploy/kubernetes runs it
# (`gantry control-plane`, `gantry gateway`, `gantry migrate`).
#
#   docker build -t ghcr.io/gantry-apim/gantry:0.1.0 .
#   docker run --rm -p 9443:9443 -p 9090:9090 -p 9000:9000 ghcr.io/gantry-apim/gantry:0.1.0
#
# deploy/podman/smoke.sh builds this file unchanged and runs the rendered Kubernetes
# workloads from the result (non-root, read-only root filesystem, probes, an API served
# through the gateway, SIGTERM drain, size); .ci/run runs it where podman can run.
# docs/operations.md, "Build and run the image locally with podman or docker".

ARG RUST_VERSION=1.95

# ---- build ---------------------------------------------------------------------------
# bookworm on purpose: the binary links glibc dynamically, and the runtime image below is
# Debian 12. A builder on a newer Debian would link against a newer glibc than the
# runtime has. aws-lc-sys and the bundled SQLite need only the C compiler this image
# already has (no cmake, no OpenSSL, no protoc: the sync crate's generated code is
# checked in).
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# Every workspace member must be present for cargo to load the workspace, even the ones
# not built here (bench: its manifest and sources only). A new member outside crates/
# goes here and into .dockerignore's allowlist.
COPY bench/Cargo.toml ./bench/
COPY bench/src ./bench/src
# `install -s` strips the symbol table (about 9 of 43 MB): panics still print their message
# and location; only a RUST_BACKTRACE backtrace loses the function names.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gantry \
 && install -D -s -m 0755 target/release/gantry /out/usr/local/bin/gantry \
 && install -d -m 0750 /out/var/lib/gantry

# ---- run -----------------------------------------------------------------------------
# distroless cc: glibc, libgcc, CA certificates and tzdata; no shell, no package manager.
# :nonroot runs as uid/gid 65532, the ids the Kubernetes manifests set.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="gantry" \
      org.opencontainers.image.description="API management: control plane and gateway in one binary" \
      org.opencontainers.image.source="https://github.com/gantry-apim/gantry" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/usr/local/bin/gantry /usr/local/bin/gantry
# The default data directory, writable by the runtime user; Kubernetes mounts an
# emptyDir over it, `docker run` can mount a volume.
# (Copying the parent makes `gantry` itself a copied entry, so --chown reaches it.)
COPY --from=builder --chown=65532:65532 /out/var/lib/ /var/lib/
USER 65532:65532
# 9443 control plane (HTTPS); 9090 / 9095 gateway (HTTP / HTTPS); 9000 gateway ops.
EXPOSE 9443 9090 9095 9000
ENTRYPOINT ["/usr/local/bin/gantry"]
# Without arguments: everything in one process, reachable from outside the container.
CMD ["up", "--bind=0.0.0.0", "--data-dir=/var/lib/gantry"]
