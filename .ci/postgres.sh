#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the PostgreSQL event store.
#
#   eval "$(.ci/postgres.sh start)"   # prints `export DVENT_POSTGRES_URL=...`
#   ...run the tests...
#   .ci/postgres.sh stop              # stops the cluster and deletes it
#
# `start` installs PostgreSQL from Debian's packages when it is missing
# (without letting the package create or start a cluster of its own), makes a
# cluster in a temporary folder owned by a non-root user (root may not run
# the server), listens on 127.0.0.1 only (and a Unix socket in that folder),
# creates the role and database `dvent`, and prints the export line on
# standard output; everything else goes to standard error. Starting a
# cluster that is already running only prints the line again.
#
# Settings (environment): DVENT_PG_PORT (54329), DVENT_PG_DIR (the folder,
# /tmp/dvent-postgres-$DVENT_PG_PORT), DVENT_PG_USER (the system user that
# runs the server when started as root: postgres, created when missing).
set -euo pipefail

PORT="${DVENT_PG_PORT:-54329}"
DIR="${DVENT_PG_DIR:-${TMPDIR:-/tmp}/dvent-postgres-$PORT}"
RUN_AS="${DVENT_PG_USER:-postgres}"
DATA="$DIR/data"
URL="postgresql://dvent@127.0.0.1:$PORT/dvent"

log() { printf '[postgres.sh] %s\n' "$*" >&2; }

bin_dir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        printf '%s\n' "$dir"
    fi
}

install_postgres() {
    log "PostgreSQL is not installed: installing it from Debian's packages"
    # Keep the package from creating and starting a cluster of its own.
    mkdir -p /etc/postgresql-common
    if ! grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
        echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql >&2
}

# Runs a command as the server's user (root may not run PostgreSQL).
as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$RUN_AS" -- "$@"
    else
        "$@"
    fi
}

start() {
    local bin
    bin="$(bin_dir)"
    if [ -z "$bin" ]; then
        install_postgres
        bin="$(bin_dir)"
        [ -n "$bin" ] || { log "no initdb under /usr/lib/postgresql/*/bin after installing"; exit 1; }
    fi
    log "using $bin"

    if [ "$(id -u)" -eq 0 ] && ! id -u "$RUN_AS" >/dev/null 2>&1; then
        log "creating the system user $RUN_AS to run the server"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_AS"
    fi

    if [ -f "$DATA/postmaster.pid" ] && as_server_user "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        log "already running in $DIR"
        echo "export DVENT_POSTGRES_URL=$URL"
        return
    fi

    if [ ! -f "$DATA/PG_VERSION" ]; then
        rm -rf "$DIR"
        mkdir -p "$DIR"
        [ "$(id -u)" -eq 0 ] && chown "$RUN_AS" "$DIR"
        chmod 700 "$DIR"
        log "initdb in $DATA"
        # Trust authentication: the server listens on 127.0.0.1 and on a
        # socket in a folder only its user can enter.
        as_server_user "$bin/initdb" -D "$DATA" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 \
            || { cat "$DIR/initdb.log" >&2; exit 1; }
    fi

    log "starting on 127.0.0.1:$PORT"
    as_server_user "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=300" start >&2 \
        || { cat "$DIR/server.log" >&2; exit 1; }

    local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
    if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'dvent'")" != 1 ]; then
        "${psql[@]}" -c "CREATE ROLE dvent LOGIN" >&2
    fi
    if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'dvent'")" != 1 ]; then
        "${psql[@]}" -c "CREATE DATABASE dvent OWNER dvent" >&2
    fi
    log "ready: $URL"
    echo "export DVENT_POSTGRES_URL=$URL"
}

stop() {
    local bin
    bin="$(bin_dir)"
    if [ -n "$bin" ] && [ -f "$DATA/postmaster.pid" ]; then
        log "stopping the cluster in $DIR"
        as_server_user "$bin/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
