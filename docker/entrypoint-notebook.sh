#!/usr/bin/env bash
# Entrypoint of the dvent notebook image.
#
# With no arguments it starts JupyterLab; any arguments are run instead (for
# example `jupyter console --kernel=rust`, or a shell). Either way the
# process runs as the owner of the notebooks folder with no capabilities
# (see dvent-as-owner).
#
# The access token is never part of the image: it is read at start-up from
# DVENT_JUPYTER_TOKEN, and JupyterLab is not started without one of at least
# 16 characters.
set -euo pipefail

if [ "$#" -gt 0 ]; then
    exec dvent-as-owner "$@"
fi

token="${DVENT_JUPYTER_TOKEN:-}"
if [ "${#token}" -lt 16 ]; then
    cat >&2 <<MSG
dvent-notebook: DVENT_JUPYTER_TOKEN is unset, empty or shorter than 16 characters (${#token});
refusing to start JupyterLab without a real access token. Make one, for example:
    export DVENT_JUPYTER_TOKEN="\$(openssl rand -hex 20)"
MSG
    exit 64
fi

notebooks_dir="${DVENT_NOTEBOOKS_DIR:-$HOME/dvent/notebooks}"

# The server runs as the folder's owner (dvent-as-owner); when that is root
# (a checkout owned by root), JupyterLab must be told it may: root without
# a single capability, which can write only what root owns.
extra=()
if [ "$(stat -c %u "$notebooks_dir")" = 0 ]; then
    extra+=(--ServerApp.allow_root=True)
fi

# The token goes to jupyter_server through its environment variable, not a
# command-line flag, so that it never shows in the host's process list.
export JUPYTER_TOKEN="$token"

# Listen on all interfaces *inside* the container so the published port
# works; which host address and port it is published on is
# docker-compose.yml's call (DVENT_NOTEBOOK_BIND, DVENT_NOTEBOOK_PORT).
exec dvent-as-owner jupyter lab \
    --ServerApp.ip=0.0.0.0 \
    --ServerApp.port=8288 \
    --ServerApp.port_retries=0 \
    --ServerApp.open_browser=False \
    --ServerApp.root_dir="$notebooks_dir" \
    --PasswordIdentityProvider.allow_password_change=False \
    "${extra[@]}"
