#!/bin/bash
# More agents than connections (issue 15 item 1): `sweepq serve
# --max-connections 8` and 20 agents (-j 1), each in its own directory,
# on a sweep of 60 `sleep` trials. Idle keep-alive connections do not
# starve the agents that come later: the server closes the least recently
# used idle one to make room and its agent reconnects on its next request.
# Every agent runs at least one trial, every trial succeeds exactly once,
# and the server counts the idle connections it closed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

AGENTS=20
cat >sweep.yaml <<EOF
name: many
method: grid
command: [sh, -c, 'sleep 2; echo \$SWEEPQ_TRIAL >>$TEST_DIR/ledger; echo \$AGENT_NAME >>$TEST_DIR/ran']
lease_ttl: 30s
max_attempts: 3
parameters:
  i: {values: [$(seq -s, 60)]}
EOF

expect 'the server starts with --max-connections 8 and the sweep is made' '
    start_server --max-connections 8 &&
    "$SWEEPQ" create sweep.yaml --store "$URL" --token-file "$TEST_DIR/.sweepq/server.token" >create.out 2>&1
'

pids=()
expect "$AGENTS agents run the sweep to its end" '
    for i in $(seq $AGENTS); do
        mkdir -p a$i &&
        bg env AGENT_NAME=a$i sh -c "cd a$i && exec \"\$0\" agent -j 1 --exit-when-idle --store \"\$1\" --token-file \"\$2\"" \
            "$SWEEPQ" "$URL" "$TEST_DIR/.sweepq/server.token" >a$i.out 2>a$i.err &&
        pids+=($!) || return 1
    done &&
    for p in "${pids[@]}"; do wait "$p" || return 1; done &&
    ledger_exactly_once ledger 60
'

expect 'every agent ran at least one trial' '
    sort -u ran >ran.uniq && cat ran.uniq && [ "$(wc -l <ran.uniq)" -eq "$AGENTS" ]
'

expect 'the server made room by closing idle connections' '
    expect_status 200 GET /metrics "$READ_TOKEN" &&
    grep "^sweepq_connections" resp.body &&
    closed=$(sed -n "s/^sweepq_connections_closed_total{reason=\"idle\"} \([0-9]*\)$/\1/p" resp.body) &&
    [ "${closed:-0}" -gt 0 ]
'

stop_server
finish
