#!/bin/sh
# Usage: dvent-as-owner COMMAND [ARGS...]
#
# Runs COMMAND as the owner (uid and gid) of the notebooks folder, so that
# whatever JupyterLab or the kernel writes there belongs on the host to the
# folder's owner, whatever uid that is. The group `dvent` (gid 1000, which
# owns the image's home, caches and crate) is added as a supplementary group.
# Every capability is dropped on the way (bounding and inheritable sets
# emptied, no new privileges), so COMMAND runs with none, even when the
# owner is root.
#
# Needs root with CAP_SETUID, CAP_SETGID and CAP_SETPCAP (the only ones the
# compose service keeps); started as anyone else it runs COMMAND as is.
# Folder: $DVENT_NOTEBOOKS_DIR, default /home/dvent/dvent/notebooks.
set -eu

dir="${DVENT_NOTEBOOKS_DIR:-/home/dvent/dvent/notebooks}"
if [ "$(id -u)" != 0 ]; then
    exec "$@"
fi
owner="$(stat -c '%u:%g' "$dir")"
uid="${owner%:*}"
gid="${owner#*:}"
exec setpriv --reuid="$uid" --regid="$gid" --groups=1000 \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
