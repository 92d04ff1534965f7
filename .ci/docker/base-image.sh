#!/usr/bin/env bash
# Build a local stand-in for the official `rust:1.95-slim-bookworm` image.
#
# CI cannot reach Docker Hub, so the base image that docker/Dockerfile starts
# from is assembled here: a minimal Debian bookworm made with debootstrap from
# the machine's own Debian mirror, the packages the official slim image adds
# (ca-certificates, gcc, libc6-dev), and this machine's Rust 1.95 toolchain at
# the paths the official image uses. The project Dockerfile does not know the
# difference, and on a machine with Docker Hub the real image is used instead.
#
# Machine-specific trust (the CA certificates this machine's egress needs) goes
# into this stand-in only, never into the project's Dockerfile.
set -euo pipefail

IMAGE="${RUST_IMAGE:-rust:1.95-slim-bookworm}"
RUST_VERSION="${RUST_VERSION:-1.95.0}"
SUITE=bookworm
TRIPLE=x86_64-unknown-linux-gnu

log() { printf '[base-image] %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already present, nothing to do"
    exit 0
fi

# --- Debian mirror: reuse the one this machine's apt is configured with. ---
# deb822 files (`URIs:`) first, then classic one-line sources.
mirror="$("$(dirname "${BASH_SOURCE[0]}")/debian-mirror.sh")"
log "Debian mirror: $mirror"

# --- Host Rust toolchain to copy in. ---
# The toolchain named after the version if rustup has one, else the default;
# never let rustup try to download a toolchain.
export RUSTUP_AUTO_INSTALL=0
if rustup run "$RUST_VERSION" rustc --version >/dev/null 2>&1; then
    sysroot="$(rustup run "$RUST_VERSION" rustc --print sysroot)"
else
    sysroot="$(rustc --print sysroot)"
fi
sysroot="$(readlink -f "$sysroot")"
host_version="$("$sysroot/bin/rustc" --version | awk '{print $2}')"
if [ "$host_version" != "$RUST_VERSION" ]; then
    log "host Rust is $host_version, but $IMAGE needs $RUST_VERSION"
    exit 1
fi
if [ ! -d "$sysroot/lib/rustlib/src/rust" ]; then
    # evcxr's completions (rust-analyzer) want the standard library source;
    # everything else works without it, so a failed download is not fatal.
    log "adding rust-src to the host toolchain"
    rustup component add rust-src --toolchain "$(basename "$sysroot")" \
        || log "warning: rust-src unavailable; notebook completions will be limited"
fi
host_cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"

workdir="$(mktemp -d /var/tmp/dvent-base.XXXXXX)"
trap 'rm -rf "$workdir"' EXIT
rootfs="$workdir/rootfs"

log "debootstrap $SUITE into $rootfs (a few minutes)"
debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev \
    "$SUITE" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 \
    || { tail -n 30 "$workdir/debootstrap.log" >&2; exit 1; }

# Same apt sources as the host (Debian entries only), in the deb822 layout
# the official images use.
rm -f "$rootfs/etc/apt/sources.list"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
else
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" "$SUITE" "$SUITE" >"$rootfs/etc/apt/sources.list.d/debian.sources"
fi

# Trust what this machine trusts: extra local CAs (kept through later
# update-ca-certificates runs) plus the ready-made bundle.
cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || true
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"

# Slim-image hygiene: no apt lists or caches in the layer.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin

# --- Rust at the official image's paths. ---
toolchain="$RUST_VERSION-$TRIPLE"
log "copying toolchain $sysroot -> /usr/local/rustup/toolchains/$toolchain"
mkdir -p "$rootfs/usr/local/rustup/toolchains/$toolchain" "$rootfs/usr/local/cargo/bin"
# The HTML docs are ~800 MB and the official image does not ship them.
tar -C "$sysroot" --exclude=./share/doc -cf - . \
    | tar -C "$rootfs/usr/local/rustup/toolchains/$toolchain" -xf -
cat >"$rootfs/usr/local/rustup/settings.toml" <<EOF
version = "12"
default_toolchain = "$toolchain"
profile = "minimal"

[overrides]
EOF
cp "$host_cargo_bin/rustup" "$rootfs/usr/local/cargo/bin/rustup"
# Every proxy (cargo, rustc, ...) is a link to rustup, as rustup-init makes them.
for proxy in "$host_cargo_bin"/*; do
    name="$(basename "$proxy")"
    if [ -L "$proxy" ] && [ "$(readlink "$proxy")" = rustup ]; then
        ln -sf rustup "$rootfs/usr/local/cargo/bin/$name"
    fi
done
# The official image makes both homes world-writable.
chmod -R a+w "$rootfs/usr/local/rustup" "$rootfs/usr/local/cargo"

log "importing as $IMAGE"
ca=/etc/ssl/certs/ca-certificates.crt
tar --numeric-owner -C "$rootfs" -cf - . | docker import \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV RUST_VERSION=$RUST_VERSION" \
    --change "ENV SSL_CERT_FILE=$ca" \
    --change "ENV PIP_CERT=$ca" \
    --change "ENV REQUESTS_CA_BUNDLE=$ca" \
    --change 'CMD ["bash"]' \
    - "$IMAGE" >/dev/null

docker run --rm "$IMAGE" sh -c 'rustc --version && cargo --version && gcc --version | head -n1'
log "done: $(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec) $IMAGE"
