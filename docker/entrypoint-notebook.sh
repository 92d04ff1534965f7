#!/usr/bin/env bash
# Entrypoint of the dvent notebook image.
#
# With no arguments it starts JupyterLab; any arguments are run instead (for
# example `jupyter console --kernel=rust`, or a shell).
#
# The access token is never part of the image: it is read at start-up from
# DVENT_JUPYTER_TOKEN, and JupyterLab is not started without one.
set -euo pipefail

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

if [ -z "${DVENT_JUPYTER_TOKEN:-}" ]; then
    cat >&2 <<'EOF'
dvent-notebook: DVENT_JUPYTER_TOKEN is unset or empty; refusing to start
JupyterLab without an access token. Pass a secret, for example:
    DVENT_JUPYTER_TOKEN="$(openssl rand -hex 24)" docker-compose up -d dvent-notebook
EOF
    exit 64
fi

notebooks_dir="${DVENT_NOTEBOOKS_DIR:-$HOME/dvent/notebooks}"

# The token goes to jupyter_server through its environment variable, not a
# command-line flag, so that it never shows in the host's process list.
export JUPYTER_TOKEN="$DVENT_JUPYTER_TOKEN"

# Listen on all interfaces *inside* the container so the published port
# works; which host address it is published on is docker-compose.yml's call.
exec jupyter lab \
    --ServerApp.ip=0.0.0.0 \
    --ServerApp.port=8288 \
    --ServerApp.port_retries=0 \
    --ServerApp.open_browser=False \
    --ServerApp.root_dir="$notebooks_dir" \
    --PasswordIdentityProvider.allow_password_change=False
