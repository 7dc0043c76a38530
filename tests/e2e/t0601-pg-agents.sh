#!/usr/bin/env bash
# t0601-pg-agents: 16 agent processes share one PostgreSQL store (started
# by this test with tests/pg-up.sh, stopped at exit) and run a sweep of
# 2,000 quick trials: each trial succeeds exactly once (the ledger the
# trials write), the sweep finishes and its completion is claimed once.
. "$(dirname "$0")/lib.sh"

PG_DIR=$(SQ_PG_OWNER=$$ "$SQ_SOURCE_DIR/tests/pg-up.sh") || { echo "not ok - PostgreSQL did not start"; exit 1; }
trap '"$SQ_SOURCE_DIR/tests/pg-down.sh" "$PG_DIR" --rm; lib_cleanup' EXIT
URL=$(cat "$PG_DIR/url")

N=2000
cat >sweep.yaml <<EOF
name: pg16
method: grid
command: [sh, -c, 'echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 3s
max_attempts: 5
parameters:
  i: {values: [$(seq -s, $N)]}
EOF

expect 'the sweep is created in PostgreSQL' '
    sq create sweep.yaml --store "$URL" >create.out 2>&1 &&
    grep -q "2000 new" create.out
'

expect '16 agents run every trial and exit when idle' '
    pids=() &&
    for i in $(seq 16); do
        bg sq agent --store "$URL" --sweep pg16 -j 1 --exit-when-idle >a$i.out 2>a$i.err
        pids+=($!)
    done &&
    for p in "${pids[@]}"; do wait $p || exit 1; done
'

expect 'each trial succeeded exactly once' '
    ledger_exactly_once ledger $N &&
    sq trials pg16 --json --store "$URL" >trials.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" and t[\"attempts\"] == 1 for t in d)" <trials.json)" = $N
'

expect 'the sweep is finished with every trial succeeded' '
    sq status pg16 --json --store "$URL" >status.json &&
    json_get "d" <status.json >status.txt &&
    grep -q "finished" status.txt
'

finish
