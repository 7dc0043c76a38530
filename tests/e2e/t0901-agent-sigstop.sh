#!/usr/bin/env bash
# t0901-agent-sigstop: an agent stopped (SIGSTOP) past its trial's lease
# finds, as soon as it runs again (SIGCONT), that the lease passed by its own
# clock: it kills the trial before it lets it go on, and writes nothing for
# it. Meanwhile another agent reaped the lease and ran the trial again; the
# trial succeeds once, with that attempt's metrics only. (While an agent is
# stopped its trials run on: nothing can stop them but the agent.)
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: frozen
method: grid
command: [sh, -c, 'echo \$\$ >pid-\$SWEEPQ_ATTEMPT; echo start \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger; n=\$((SWEEPQ_ATTEMPT == 1 ? 600 : 10)); i=0; while [ \$i -lt \$n ]; do i=\$((i + 1)); echo tick \$SWEEPQ_ATTEMPT \$i >>$TEST_DIR/ledger; echo "{\"step\": \$i, \"att\": \$SWEEPQ_ATTEMPT}" >>\$SWEEPQ_METRICS_FILE; sleep 0.2; done; echo end \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 2s
max_attempts: 3
parameters:
  i: {values: [1]}
EOF
PID1=.sweepq/sweeps/frozen/trials/1/pid-1

expect 'agent A runs the trial, then is stopped with SIGSTOP' '
    sq create sweep.yaml >create.out &&
    bg sq agent -j 1 >a.out 2>a.err &&
    A=$! &&
    wait_for 60 "grep -q \"^tick 1 3\$\" ledger" &&
    kill -STOP $A
'

expect 'agent B reaps the expired lease and starts attempt 2' '
    bg sq agent -j 1 >b.out 2>b.err &&
    B=$! &&
    wait_for 120 "grep -q \"^start 2\$\" ledger"
'

expect 'continued, A kills its trial at once and warns why' '
    kill -CONT $A &&
    wait_for 30 "! pid_alive \$(cat $PID1)" &&
    wait_for 30 "grep -q \"could not be renewed\" a.err" &&
    pid_alive $A
'

expect 'the trial succeeds once, at attempt 2, with attempt 2 metrics only' '
    wait_for 120 "sq trials frozen --state succeeded --json >done.json &&
        test \"\$(json_get \"len(d)\" <done.json)\" = 1" &&
    kill -INT $A $B && wait $A && wait $B &&
    ! grep -q "^end 1\$" ledger &&
    test "$(json_get "d[0][\"attempts\"]" <done.json)" = 2 &&
    test "$(json_get "d[0][\"metrics\"][\"att\"]" <done.json)" = 2 &&
    "$PYTHON" -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute(\"SELECT attempt, value FROM metrics WHERE name = ?\", (\"att\",)).fetchall()
bad = [(a, v) for a, v in rows if a == 2 and v != 2]
assert rows and not bad, (rows, bad)
" .sweepq/sweepq.db
'

finish
