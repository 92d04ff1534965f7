#!/usr/bin/env bash
# The test image's command: the whole suite, as CI runs it.
#
# Starts a throwaway PostgreSQL inside this container (scripts/postgres: a
# cluster in /tmp, listening on 127.0.0.1 only), then runs
# `cargo test --all-features` with CI=true, so the postgres store is not
# skipped: the Gherkin features run once on each of the memory, sqlite and
# postgres stores and say so in the output. Extra arguments go to cargo test.
set -euo pipefail

eval "$(scripts/postgres start)"
status=0
CI=true cargo test --all-features "$@" || status=$?
scripts/postgres stop >/dev/null 2>&1 || true
exit "$status"
