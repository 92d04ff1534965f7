#!/usr/bin/env bash
# Prepare this machine for the Docker checks: Docker and compose installed,
# a Docker daemon running, and the Rust base image present.
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[docker-setup] %s\n' "$*" >&2; }

# --- Packages (Debian's): the daemon, compose v1, and debootstrap for the
# stand-in base image. ---
missing=()
[ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    # Another apt run (e.g. unattended) may hold the lock: wait for it.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        install -y -qq "${missing[@]}" >/dev/null
fi

# --- Daemon: there is no init system to start it, so run it in the
# background with its output in a log file. ---
if ! docker info >/dev/null 2>&1; then
    log_file="${DOCKERD_LOG:-/var/log/dockerd-ci.log}"
    log "starting dockerd (log: $log_file)"
    nohup /usr/sbin/dockerd >>"$log_file" 2>&1 &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        log "dockerd did not come up within 60 s; last log lines:"
        tail -n 20 "$log_file" >&2
        exit 1
    fi
fi
log "docker $(docker version -f '{{.Server.Version}}') is up"

# --- Compose v2: the `docker compose` CLI plugin from Debian trixie's
# docker-compose package (2.26), fetched with a sources list of its own so
# this bookworm machine's apt setup is left alone, and unpacked into the
# user's plugin folder. check.sh runs its compose checks with both. ---
plugin="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose"
if ! docker compose version >/dev/null 2>&1; then
    log "installing the compose v2 plugin from Debian trixie's docker-compose package"
    mirror="$("$here/debian-mirror.sh")"
    tmp="$(mktemp -d)"
    mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
    echo "deb $mirror trixie main" >"$tmp/sources.list"
    apt_trixie=(apt-get -qq -o APT::Sandbox::User=root
        -o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o Dir::State::Lists="$tmp/lists" -o Dir::Cache::Archives="$tmp/archives"
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
    "${apt_trixie[@]}" update
    (cd "$tmp" && "${apt_trixie[@]}" download docker-compose)
    dpkg-deb -x "$tmp"/docker-compose_*.deb "$tmp/unpacked"
    install -D -m 0755 "$tmp/unpacked/usr/libexec/docker/cli-plugins/docker-compose" "$plugin"
    rm -rf "$tmp"
fi
log "compose: $(docker-compose version --short) (v1), $(docker compose version --short) (v2)"

# --- Base image: Docker Hub is out of reach, so build a stand-in locally. ---
"$here/base-image.sh"
