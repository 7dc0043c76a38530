#!/usr/bin/env bash
# t1020-bayes-sqlite: a bayes sweep with run_cap 40 run by 8 agents over one
# SQLite store, one of them killed with SIGKILL mid-sweep, ends with exactly
# 40 trials, each succeeded once (bayes_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/bayes_lib.sh"

STORE_ARGS=(--store "sqlite:$TEST_DIR/store.db")
bayes_checks
finish
