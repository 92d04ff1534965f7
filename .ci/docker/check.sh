#!/usr/bin/env bash
# End-to-end check of the Docker setup (docker-compose.yml, docker/), with
# the compose commands typed as the README gives them: DVENT_JUPYTER_TOKEN
# is set only where a user sets it (for `up`), never for `run` or `down`.
# Expects .ci/docker/setup.sh to have run. Checks, with compose 1.29:
#   1. both images build, and no token is in them;
#   2. `docker-compose run --rm dvent-test` passes without a token, on the
#      memory, sqlite and postgres stores; `docker-compose down` exits 0;
#   3. `up -d dvent-notebook` refuses a token that is unset, empty or under
#      16 characters, with a message naming DVENT_JUPYTER_TOKEN on the
#      terminal, and starts nothing; the image's entry point refuses too;
#   4. with a 40-character token the notebook becomes healthy on
#      127.0.0.1:8288, /api/status is 403 without the token and 200 with it,
#      the Rust kernel is the only and default kernel, autosave is off;
#   5. hardening: CapDrop ALL, no-new-privileges, memory and pids limits,
#      and the JupyterLab process holds no capability at all;
#   6. a notebook saved through the contents API belongs on the host to the
#      owner of notebooks/, here and in a copy owned by uid 4242 served on
#      DVENT_NOTEBOOK_PORT=8289;
#   7. the notebooks run inside a new container, the first :dep cell within
#      DVENT_CONTAINER_FIRST_CELL_LIMIT seconds (default 30: the target is
#      10 s, the rest is room for a busy machine);
#   8. `down` leaves nothing running;
# then, when `docker compose` (v2) is there, the same refusal, start,
# token, run and down checks with it.
# Every wait is bounded; any failure exits non-zero, and the containers are
# always taken down.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo="$(pwd)"
export COMPOSE_PROJECT_NAME=dvent
# As a user's shell: none of the settings, and no token.
unset DVENT_JUPYTER_TOKEN DVENT_NOTEBOOK_BIND DVENT_NOTEBOOK_PORT
first_cell_limit="${DVENT_CONTAINER_FIRST_CELL_LIMIT:-30}"

step() { printf '\n=== [docker-check] %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() { printf '    FAIL: %s\n' "$*" >&2; exit 1; }

# A fresh random token of 40 hex characters; it only lives in this script.
token="$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"
[ "${#token}" = 40 ] || fail "could not make a token"

other_uid=4242
other="$(mktemp -d /tmp/dvent-other-owner.XXXXXX)"
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "--- notebook container log (last 40 lines) ---" >&2
        docker-compose logs --tail=40 dvent-notebook >&2 2>/dev/null || true
    fi
    docker-compose down --remove-orphans --volumes --timeout 20 >/dev/null 2>&1 || true
    (cd "$other" 2>/dev/null && docker-compose -p dvent-other down --volumes --timeout 20 >/dev/null 2>&1) || true
    docker rm -f dvent-entrypoint-probe >/dev/null 2>&1 || true
    rm -rf "$other"
    exit "$rc"
}
trap cleanup EXIT

command -v curl >/dev/null || fail "curl is needed on the host"
if [ -e .env ]; then
    fail "a .env file is here; compose would read settings from it: move it away for this check"
fi
docker-compose down --remove-orphans --volumes >/dev/null 2>&1 || true

http() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
expect() {
    local want="$1" what="$2"
    shift 2
    local got
    got="$(http "$@")"
    [ "$got" = "$want" ] || fail "$what: HTTP $got, expected $want"
    ok "$what: HTTP $got"
}
# Waits until a compose service's container is healthy: wait_healthy CID.
wait_healthy() {
    local cid="$1" status=starting
    for _ in $(seq 90); do
        status="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$cid")"
        case "$status" in
            healthy) ok "healthy"; return 0 ;;
            unhealthy|exited|dead) fail "notebook container is $status" ;;
        esac
        sleep 2
    done
    fail "notebook not healthy after 180 s (status: $status)"
}
# The refusal checks, for one compose command: refusals COMPOSE...
refusals() {
    local how out rc
    for how in unset empty short; do
        set +e
        case "$how" in
            unset) out="$("$@" up -d dvent-notebook 2>&1)" ;;
            empty) out="$(DVENT_JUPYTER_TOKEN='' "$@" up -d dvent-notebook 2>&1)" ;;
            short) out="$(DVENT_JUPYTER_TOKEN=123456789012345 "$@" up -d dvent-notebook 2>&1)" ;;
        esac
        rc=$?
        set -e
        [ "$rc" -ne 0 ] || fail "token $how: '$* up -d dvent-notebook' exited 0"
        grep -q 'DVENT_JUPYTER_TOKEN is unset, empty or shorter than 16 characters' <<<"$out" \
            || fail "token $how: no message naming DVENT_JUPYTER_TOKEN; got: $out"
        grep -qF 'export DVENT_JUPYTER_TOKEN="$(openssl rand -hex 20)"' <<<"$out" \
            || fail "token $how: the message does not show how to make a token; got: $out"
        if [ -n "$(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
                                --filter "label=com.docker.compose.service=dvent-notebook")" ]; then
            fail "token $how: a notebook container runs anyway"
        fi
        ok "token $how: refused (exit $rc), no notebook container; the terminal shows: $(grep -o 'DVENT_JUPYTER_TOKEN is unset[^"]*' <<<"$out" | head -n1)"
    done
}
# Saves a notebook through the contents API and checks its owner on the
# host: saved_owner BASE_URL HOST_FOLDER
saved_owner() {
    local base="$1" folder="$2" name want got trash
    name="dvent-owner-check-$$.ipynb"
    want="$(stat -c %u "$folder")"
    # JupyterLab's DELETE moves a file to a .Trash-<uid> folder beside it;
    # one made by this check is removed again.
    trash="$folder/.Trash-$want"
    [ ! -e "$trash" ] || trash=''
    got="$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PUT \
        -H "Authorization: token $token" -H 'Content-Type: application/json' \
        --data '{"type":"notebook","format":"json","content":{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}}' \
        "$base/api/contents/$name")"
    [ "$got" = 201 ] || [ "$got" = 200 ] || fail "PUT /api/contents/$name: HTTP $got"
    [ -f "$folder/$name" ] || fail "the saved notebook is not in $folder"
    got="$(stat -c %u "$folder/$name")"
    [ "$got" = "$want" ] || fail "saved notebook owned by uid $got on the host, expected $want (the owner of $folder)"
    ok "PUT /api/contents/$name wrote $folder/$name, owned by uid $got like the folder"
    expect 204 "DELETE it again" -X DELETE -H "Authorization: token $token" "$base/api/contents/$name"
    [ ! -e "$folder/$name" ] || fail "the notebook is still there after DELETE"
    if [ -n "$trash" ]; then rm -rf "$trash"; fi
}
# The JupyterLab process, seen from the host: its pid.
jupyter_pid() {
    docker top "$1" -o pid,args | awk '/jupyter-lab|jupyter lab/ {print $1; exit}'
}

# ---------------------------------------------------------------------------
step "1. build both images (docker-compose build)"
# The kernel CI installed natively (scripts/notebook-setup, run before this
# script) is handed to the build, so it is compiled once, not twice.
want="$(sed -n 's/^ARG EVCXR_VERSION=//p' docker/Dockerfile)"
have="$(cargo install --list 2>/dev/null | sed -n 's/^evcxr_jupyter v\([0-9.]*\):$/\1/p')"
if [ -n "$want" ] && [ "$have" = "$want" ] && [ -x "$HOME/.cargo/bin/evcxr_jupyter" ]; then
    cp "$HOME/.cargo/bin/evcxr_jupyter" "docker/prebuilt/evcxr_jupyter-$want"
    ok "the native evcxr_jupyter $have goes into the image build (docker/prebuilt/)"
else
    ok "no native evcxr_jupyter $want (found '${have:-none}'): the image build compiles it"
fi
started=$SECONDS
timeout 3000 docker-compose build dvent-notebook dvent-test
ok "built in $((SECONDS - started)) s"
docker images 'dvent/*' --format '    {{.Repository}}:{{.Tag}}  {{.Size}}'

# ---------------------------------------------------------------------------
step "2a. docker-compose run --rm dvent-test, with no token set"
log="$(mktemp)"
started=$SECONDS
if ! timeout 2400 docker-compose run --rm -T dvent-test >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "docker-compose run --rm dvent-test failed"
fi
grep -E '^test result:|^== |stores?:|passed, ' "$log" | tail -n 40 | sed 's/^/    | /'
for store in memory sqlite postgres; do
    grep -qE "Gherkin features for every store: .* on \`$store\` ==" "$log" \
        || fail "the output does not show the $store store ran"
done
if grep -qE '^test result: FAILED|skipping the postgres store' "$log"; then
    fail "a failure or a skipped store in the output"
fi
ok "passed in $((SECONDS - started)) s; the memory, sqlite and postgres stores ran"
rm -f "$log"
status="$(docker-compose run --rm -T dvent-test grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs):' /proc/self/status | tr -s '\t\n' '  ')"
grep -qE 'CapEff: 0+ CapBnd: 0+ NoNewPrivs: 1' <<<"$status" || fail "dvent-test is not hardened: $status"
ok "dvent-test runs with $status"

step "2b. docker-compose down, with no token set"
docker-compose down
ok "down exited 0"

# ---------------------------------------------------------------------------
step "3a. docker-compose up -d dvent-notebook refuses a missing or short token"
refusals docker-compose

step "3b. the image's entry point refuses one too"
for value in '' short-token; do
    set +e
    out="$(timeout 60 docker run --rm --name dvent-entrypoint-probe -e DVENT_JUPYTER_TOKEN="$value" \
               dvent/notebook:local 2>&1)"
    rc=$?
    set -e
    if [ "$rc" -eq 0 ] || ! grep -q 'DVENT_JUPYTER_TOKEN is unset, empty or shorter than 16' <<<"$out"; then
        fail "token '$value': the entry point did not refuse (exit $rc): $out"
    fi
    ok "token '$value': the entry point refused (exit $rc)"
done

# ---------------------------------------------------------------------------
step "4a. with a 40-character token the notebook starts and becomes healthy"
DVENT_JUPYTER_TOKEN="$token" docker-compose up -d dvent-notebook
cid="$(docker-compose ps -q dvent-notebook)"
[ -n "$cid" ] || fail "no notebook container"
wait_healthy "$cid"
binding="$(docker port "$cid" 8288/tcp)"
[ "$binding" = "127.0.0.1:8288" ] || fail "published as '$binding', expected 127.0.0.1:8288"
ok "published on $binding only"
for image in dvent/notebook:local dvent/test:local; do
    if { docker history --no-trunc "$image"; docker image inspect "$image"; } | grep -qF "$token"; then
        fail "the token ended up in $image"
    fi
done
if docker-compose logs dvent-notebook 2>&1 | grep -qF "$token"; then
    fail "the token is in the notebook's log"
fi
if ps -eo args | grep -v grep | grep -qF "$token"; then
    fail "the token is on a command line"
fi
ok "the token is in no image, log or command line"

step "4b. JupyterLab demands the token; the Rust kernel only; no autosave"
base=http://127.0.0.1:8288
expect 403 "/api/status without token" "$base/api/status"
expect 403 "/api/status with a wrong token" -H "Authorization: token wrong-$token" "$base/api/status"
expect 200 "/api/status with ?token=" "$base/api/status?token=$token"
expect 200 "/api/status with Authorization header" -H "Authorization: token $token" "$base/api/status"
location="$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 10 "$base/lab")"
case "$location" in
    "302 $base/login"*) ok "/lab without token: redirect to ${location#302 }" ;;
    *) fail "/lab without token: got '$location', expected 302 to /login" ;;
esac
kernels="$(curl -s --max-time 10 -H "Authorization: token $token" "$base/api/kernelspecs" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["default"], *sorted(d["kernelspecs"]))')"
[ "$kernels" = "rust rust" ] || fail "kernelspecs: '$kernels', expected default rust and only rust"
ok "kernelspecs: default rust, and rust is the only one"
autosave="$(curl -s --max-time 10 -H "Authorization: token $token" \
    "$base/lab/api/settings/@jupyterlab/docmanager-extension:plugin" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["schema"]["properties"]["autosave"]["default"], d["settings"].get("autosave"))')"
[ "$autosave" = "False None" ] || fail "autosave setting: '$autosave', expected default False and no user override"
ok "autosave is off"

# ---------------------------------------------------------------------------
step "5. hardening, as docker inspect shows it"
inspect="$(docker inspect -f '{{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}' "$cid")"
read -r cap_drop cap_add security memory pids <<<"$inspect"
[ "$cap_drop" = '["ALL"]' ] || fail "CapDrop is $cap_drop"
grep -q 'no-new-privileges' <<<"$security" || fail "SecurityOpt is $security"
[ "$memory" -gt 0 ] || fail "no memory limit"
[ "${pids:-0}" -gt 0 ] || fail "no pids limit"
ok "CapDrop $cap_drop, CapAdd $cap_add (the entry point's only), SecurityOpt $security, Memory $memory, PidsLimit $pids"
pid="$(jupyter_pid "$cid")"
[ -n "$pid" ] || fail "no JupyterLab process in the container"
caps="$(awk '/^Cap(Inh|Prm|Eff|Bnd|Amb):/ {printf "%s%s ", $1, $2}' "/proc/$pid/status")"
if grep -qE 'Cap(Prm|Eff|Bnd|Amb|Inh):0*[1-9a-f]' <<<"$caps"; then
    fail "the JupyterLab process holds capabilities: $caps"
fi
grep -q 'NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" || fail "the JupyterLab process may gain privileges"
ok "the JupyterLab process (host pid $pid): $caps NoNewPrivs 1"

# ---------------------------------------------------------------------------
step "6a. saved notebooks belong to the owner of notebooks/ (here uid $(stat -c %u notebooks))"
want_uid="$(stat -c %u notebooks)"
jupyter_uid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
[ "$jupyter_uid" = "$want_uid" ] || fail "JupyterLab runs as uid $jupyter_uid, expected $want_uid (the folder's owner)"
ok "JupyterLab runs as uid $jupyter_uid, the folder's owner"
saved_owner "$base" "$repo/notebooks"

step "6b. a checkout owned by uid $other_uid, served on DVENT_NOTEBOOK_PORT=8289"
cp docker-compose.yml "$other/"
cp -r notebooks "$other/notebooks"
chown -R "$other_uid:$other_uid" "$other"
(
    cd "$other"
    DVENT_JUPYTER_TOKEN="$token" DVENT_NOTEBOOK_PORT=8289 docker-compose -p dvent-other up -d dvent-notebook
)
other_cid="$(cd "$other" && docker-compose -p dvent-other ps -q dvent-notebook)"
wait_healthy "$other_cid"
binding="$(docker port "$other_cid" 8288/tcp)"
[ "$binding" = "127.0.0.1:8289" ] || fail "published as '$binding', expected 127.0.0.1:8289"
ok "published on $binding"
other_pid="$(jupyter_pid "$other_cid")"
got="$(awk '/^Uid:/ {print $2}' "/proc/$other_pid/status")"
[ "$got" = "$other_uid" ] || fail "JupyterLab runs as uid $got, expected $other_uid"
ok "JupyterLab runs as uid $got"
saved_owner http://127.0.0.1:8289 "$other/notebooks"
(cd "$other" && docker-compose -p dvent-other down --volumes --timeout 20)

# ---------------------------------------------------------------------------
step "7. the notebooks run inside a new container (first :dep cell limit ${first_cell_limit} s)"
before="$(sha256sum notebooks/*.ipynb)"
timeout 1800 docker-compose exec -T dvent-notebook \
    dvent-as-owner scripts/test-notebooks --max-first-cell "$first_cell_limit"
ok "scripts/test-notebooks passed in the container"
[ "$(sha256sum notebooks/*.ipynb)" = "$before" ] || fail "running the notebooks changed the notebook files"
ok "the notebook files are unchanged"

# ---------------------------------------------------------------------------
step "8. docker-compose down, with no token set, leaves nothing running"
docker-compose down --remove-orphans --timeout 20
left="$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
[ -z "$left" ] || fail "containers left: $left"
ok "no containers left for project $COMPOSE_PROJECT_NAME"

# ---------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
    v2=(docker compose)
    step "9. compose v2 ($(docker compose version --short)): the same commands as typed"
    refusals "${v2[@]}"
    DVENT_JUPYTER_TOKEN="$token" "${v2[@]}" up -d dvent-notebook
    cid="$("${v2[@]}" ps -q dvent-notebook)"
    [ -n "$cid" ] || fail "v2: no notebook container"
    wait_healthy "$cid"
    expect 403 "v2: /api/status without token" "$base/api/status"
    expect 200 "v2: /api/status with the token" -H "Authorization: token $token" "$base/api/status"
    out="$("${v2[@]}" run --rm -T dvent-test cargo --version 2>&1)" || fail "v2: run --rm dvent-test: $out"
    ok "v2: run --rm dvent-test without a token: $out"
    "${v2[@]}" down --remove-orphans --timeout 20
    left="$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
    [ -z "$left" ] || fail "v2: containers left: $left"
    ok "v2: down exited 0, nothing left"
else
    step "9. compose v2: not installed (setup.sh installs it), skipped"
fi

echo
echo "docker checks: all passed"
