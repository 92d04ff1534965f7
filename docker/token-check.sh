#!/bin/sh
# dvent-token-check: the first half of compose's token gate.
#
# Compose can only refuse a missing variable for every command at once
# (`${VAR:?}`), and `docker-compose up -d` shows no container output. So the
# check is made by a one-shot service, and its verdict reaches the terminal
# through the second one-shot service (dvent-notebook-token-gate), whose
# entry point is the path $DVENT_TOKEN_GATE: a path that reads as the error
# message. This script clears the shared gate folder and, only for a token
# of at least 16 characters, puts a link to `true` at that path. Without it
# the gate cannot start, the daemon's error (which quotes the path, so the
# message) is printed by compose, `up` exits non-zero and the notebook is
# not started. Always exits 0: the verdict is the link.
set -eu

gate="${DVENT_TOKEN_GATE:?DVENT_TOKEN_GATE must name the gate path}"
find "$(dirname "$gate")" -mindepth 1 -maxdepth 1 -exec rm -f {} +
token="${DVENT_JUPYTER_TOKEN:-}"
if [ "${#token}" -ge 16 ]; then
    ln -s /bin/true "$gate"
    echo "DVENT_JUPYTER_TOKEN accepted (${#token} characters)"
else
    echo "DVENT_JUPYTER_TOKEN refused: ${#token} characters, at least 16 needed" >&2
fi
