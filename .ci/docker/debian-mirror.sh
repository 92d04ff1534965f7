#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt is configured with: deb822
# files (`URIs:`) first, then classic one-line sources, else deb.debian.org.
set -euo pipefail
mirror="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources \
            | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
if [ -z "$mirror" ]; then
    mirror="$(grep -hsE '^deb .*/debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                | awk '{print $2}' | head -n1 || true)"
fi
echo "${mirror:-http://deb.debian.org/debian}"
