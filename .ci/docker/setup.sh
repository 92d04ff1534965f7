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

# --- Base image: Docker Hub is out of reach, so build a stand-in locally. ---
"$here/base-image.sh"
