#!/usr/bin/env bash
# t1021-bayes-pg: bayes_lib.sh's checks over a PostgreSQL store (started by
# this test with tests/pg-up.sh, stopped at exit): 8 agents propose at once,
# one is killed with SIGKILL, and the sweep ends with exactly 40 trials.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/bayes_lib.sh"

PG_DIR=$(SQ_PG_OWNER=$$ "$SQ_SOURCE_DIR/tests/pg-up.sh") || { echo "not ok - PostgreSQL did not start"; exit 1; }
trap '"$SQ_SOURCE_DIR/tests/pg-down.sh" "$PG_DIR" --rm; lib_cleanup' EXIT

STORE_ARGS=(--store "$(cat "$PG_DIR/url")")
bayes_checks
finish
