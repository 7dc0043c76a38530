#!/usr/bin/env bash
# t1022-bayes-serve: bayes_lib.sh's checks with every agent reaching the
# store only through `sweepq serve` on 127.0.0.1 (proposals travel as POST
# /api/v1/sweeps/ID/proposals): exactly 40 trials, each succeeded once,
# although one agent is killed with SIGKILL mid-sweep.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/bayes_lib.sh"

expect 'the server starts' '
    http_serve_start 127.0.0.1:0
'
STORE_ARGS=(--store "$URL" --token-file "$TEST_DIR/server/.sweepq/server.token")
bayes_checks

expect 'the server is still up' '
    pid_alive $SERVER_PID
'
finish
