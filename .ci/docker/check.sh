#!/usr/bin/env bash
# End-to-end check of the Docker setup (docker-compose.yml, docker/).
# Expects .ci/docker/setup.sh to have run. Builds both images, then checks:
#   1. compose refuses to start the notebook without a token, and starts it
#      (healthy) with one;
#   2. JupyterLab on 127.0.0.1:8288 demands the token;
#   3. the notebooks run on the Rust kernel inside the container;
#   4. the notebook runs as a non-root user;
#   5. the test suite passes in the test image;
#   6. `down` leaves nothing behind.
# Every wait is bounded; any failure exits non-zero, and the containers are
# always taken down. Set COMPOSE="docker compose" to use compose v2.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
read -r -a compose <<<"${COMPOSE:-docker-compose}"
export COMPOSE_PROJECT_NAME=dvent
# Published on loopback only, whatever the caller's environment says.
unset DVENT_NOTEBOOK_BIND
base=http://127.0.0.1:8288
missing_token_msg='set DVENT_JUPYTER_TOKEN to a secret token'

step() { printf '\n=== [docker-check] %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() { printf '    FAIL: %s\n' "$*" >&2; exit 1; }

# A fresh random token for this run; it only ever lives in this environment.
token="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
export DVENT_JUPYTER_TOKEN="$token"

probe=dvent-entrypoint-probe
project_containers() {
    docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
}
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$(project_containers)" ]; then
        echo "--- notebook container log (last 40 lines) ---" >&2
        "${compose[@]}" logs --tail=40 dvent-notebook >&2 || true
    fi
    "${compose[@]}" down --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    docker rm -f "$probe" >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT

command -v curl >/dev/null || fail "curl is needed on the host"
if [ ! -d notebooks ]; then
    # Compose would create the bind-mount source itself, but owned by root.
    echo "    warning: no notebooks/ folder; creating an empty one" >&2
    mkdir notebooks
fi
# The container user (uid 1000) must be able to write the bind-mounted folder.
# A CI clone is root's; hand the folder over there, only warn elsewhere.
if [ "$(stat -c %u notebooks)" != 1000 ]; then
    if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ]; then
        chown -R 1000:1000 notebooks
    else
        echo "    warning: notebooks/ is not owned by uid 1000; saving from JupyterLab may fail" >&2
    fi
fi
"${compose[@]}" down --remove-orphans >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------
step "1a. compose refuses to start the notebook without a token"
for how in unset empty; do
    set +e
    if [ "$how" = unset ]; then
        out="$(env -u DVENT_JUPYTER_TOKEN "${compose[@]}" up -d dvent-notebook 2>&1)"
    else
        out="$(DVENT_JUPYTER_TOKEN='' "${compose[@]}" up -d dvent-notebook 2>&1)"
    fi
    rc=$?
    set -e
    [ "$rc" -ne 0 ] || fail "token $how: compose exited 0"
    grep -qF "$missing_token_msg" <<<"$out" || fail "token $how: message missing; got: $out"
    [ -z "$(project_containers)" ] || fail "token $how: a container was created anyway"
    ok "token $how: refused (exit $rc): $(grep -F "$missing_token_msg" <<<"$out" | head -n1)"
done

step "1b. build both images"
started=$SECONDS
timeout 2700 "${compose[@]}" build dvent-notebook dvent-test
ok "built in $((SECONDS - started)) s"
docker images 'dvent/*' --format '    {{.Repository}}:{{.Tag}}  {{.Size}}'
for image in dvent/notebook:local dvent/test:local; do
    if { docker history --no-trunc "$image"; docker image inspect "$image"; } | grep -qF "$token"; then
        fail "the token ended up in $image"
    fi
done
ok "no token in image history or configuration"

step "1c. the image itself refuses to start JupyterLab without a token"
for how in unset empty; do
    set +e
    # Bounded and named: should the server start after all, it gets removed.
    if [ "$how" = unset ]; then
        out="$(timeout 60 docker run --rm --name "$probe" dvent/notebook:local 2>&1)"
    else
        out="$(timeout 60 docker run --rm --name "$probe" -e DVENT_JUPYTER_TOKEN= \
                   dvent/notebook:local 2>&1)"
    fi
    rc=$?
    set -e
    if [ "$rc" -eq 0 ] || ! grep -q 'DVENT_JUPYTER_TOKEN is unset or empty' <<<"$out"; then
        fail "token $how: entrypoint did not refuse (exit $rc): $out"
    fi
    ok "token $how: entrypoint refused (exit $rc)"
done

step "1d. with a token the notebook starts and becomes healthy"
"${compose[@]}" up -d dvent-notebook
cid="$("${compose[@]}" ps -q dvent-notebook)"
[ -n "$cid" ] || fail "no notebook container"
status=starting
for _ in $(seq 60); do
    status="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$cid")"
    case "$status" in
        healthy) break ;;
        unhealthy|exited|dead) fail "notebook container is $status" ;;
    esac
    sleep 2
done
[ "$status" = healthy ] || fail "notebook not healthy after 120 s (status: $status)"
ok "healthy"
binding="$(docker port "$cid" 8288/tcp)"
[ "$binding" = "127.0.0.1:8288" ] || fail "port 8288 published as '$binding', expected 127.0.0.1:8288"
ok "published on $binding only"

# ---------------------------------------------------------------------------
step "2. JupyterLab demands the token (requests to 127.0.0.1 only)"
http() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
expect() {
    local want="$1" what="$2"
    shift 2
    local got
    got="$(http "$@")"
    [ "$got" = "$want" ] || fail "$what: HTTP $got, expected $want"
    ok "$what: HTTP $got"
}
expect 403 "/api/status without token" "$base/api/status"
expect 403 "/api/status with a wrong token" -H "Authorization: token wrong-$token" "$base/api/status"
expect 200 "/api/status with ?token=" "$base/api/status?token=$token"
expect 200 "/api/status with Authorization header" -H "Authorization: token $token" "$base/api/status"
location="$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 10 "$base/lab")"
case "$location" in
    "302 $base/login"*) ok "/lab without token: redirect to ${location#302 }" ;;
    *) fail "/lab without token: got '$location', expected 302 to /login" ;;
esac

# ---------------------------------------------------------------------------
step "3. notebooks run on the Rust kernel inside the container"
# A one-cell `:dep dvent` notebook: its time is what a user waits for first.
timeout 900 "${compose[@]}" exec -T dvent-notebook dvent-run-notebook --dep-only /home/dvent/dvent
if "${compose[@]}" exec -T dvent-notebook test -x scripts/test-notebooks; then
    timeout 1800 "${compose[@]}" exec -T dvent-notebook scripts/test-notebooks
    ok "scripts/test-notebooks passed"
else
    # Until the project has its own runner, execute the notebooks directly.
    mapfile -t notebooks < <(find notebooks -maxdepth 1 -name '*.ipynb' | sort)
    if [ "${#notebooks[@]}" -gt 0 ]; then
        timeout 1800 "${compose[@]}" exec -T dvent-notebook dvent-run-notebook "${notebooks[@]}"
        ok "${#notebooks[@]} notebook(s) passed"
    else
        ok "no notebooks/*.ipynb to run"
    fi
fi

# ---------------------------------------------------------------------------
step "4. the notebook runs as a non-root user"
uid="$("${compose[@]}" exec -T dvent-notebook id -u | tr -d '\r')"
if [ -z "$uid" ] || [ "$uid" = 0 ]; then fail "exec user id is '$uid'"; fi
# The server process itself, seen from the host (docker top needs the pid column).
jupyter_uid="$(docker top "$cid" -o pid,uid,args | awk '/jupyter-lab|jupyter lab/ {print $2; exit}')"
if [ -z "$jupyter_uid" ] || [ "$jupyter_uid" = 0 ]; then
    fail "JupyterLab runs as uid '$jupyter_uid'"
fi
ok "exec uid $uid; JupyterLab process uid $jupyter_uid"

# ---------------------------------------------------------------------------
step "5. test suite in the test image"
timeout 1800 "${compose[@]}" run --rm -T dvent-test
ok "cargo test passed"

# ---------------------------------------------------------------------------
step "6. down leaves nothing running"
"${compose[@]}" down --remove-orphans --timeout 20
left="$(project_containers)"
[ -z "$left" ] || fail "containers left: $left"
ok "no containers left for project $COMPOSE_PROJECT_NAME"
echo
echo "docker checks: all passed"
