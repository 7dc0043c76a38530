#!/bin/bash
# `sweepq serve` stays up for new clients under a slowloris (issue 11 item
# 10): with --max-connections 60, 200 token-less connections that never
# finish their headers (tests/e2e/slowloris.py, bounded to 45 s) hold at
# most half the places; while they are held, the health probe, a CLI verb
# and a new agent that runs a whole sweep all get their answers, and the
# server counts the connections it closed to make room.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

cat >sweep.yaml <<EOF
name: slow
method: grid
command: [sh, -c, 'echo \$SWEEPQ_TRIAL >>$TEST_DIR/ledger']
parameters:
  i: {values: [1, 2, 3, 4, 5, 6]}
EOF

expect 'the server starts with --max-connections 60' '
    start_server --max-connections 60 &&
    expect_status 200 GET /api/v1/health ""
'

expect 'a --max-connections past the open-file limit is refused with the reason' '
    must_fail sq serve --listen 127.0.0.1:0 --max-connections 100000000 >big.out 2>&1 &&
    grep -q "lower --max-connections" big.out
'

expect 'a slowloris of 200 connections takes its places' '
    port=${URL##*:} &&
    bg "$PYTHON" "$SQ_SOURCE_DIR/tests/e2e/slowloris.py" 127.0.0.1 "$port" 200 45 loris.status &&
    LORIS=$! &&
    wait_for 30 "test -s loris.status"
'

rsq() { "$SWEEPQ" "$@" --store "$URL" --token-file "$TEST_DIR/.sweepq/server.token"; }

expect 'health, a CLI verb and a new agent are answered while it runs' '
    pid_alive "$LORIS" &&
    expect_status 200 GET /api/v1/health "" &&
    rsq create sweep.yaml >create.out 2>&1 &&
    rsq agent --exit-when-idle -j 2 >agent.out 2>&1 &&
    ledger_exactly_once ledger 6 &&
    rsq status slow >status.out 2>&1 && grep -q "slow *finished" status.out &&
    expect_status 200 GET /api/v1/health "" &&
    pid_alive "$LORIS"
'

expect 'the server closed token-less connections to make room' '
    cat loris.status &&
    expect_status 200 GET /metrics "$READ_TOKEN" &&
    grep "^sweepq_connections" resp.body &&
    closed=$(sed -n "s/^sweepq_connections_closed_total{reason=\"pending\"} \([0-9]*\)$/\1/p" resp.body) &&
    [ "${closed:-0}" -gt 0 ]
'

kill "$LORIS" 2>/dev/null
stop_server
finish
