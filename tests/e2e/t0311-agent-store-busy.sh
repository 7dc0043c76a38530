#!/usr/bin/env bash
# t0311-agent-store-busy: while another process holds the store's write
# lock past the store's busy deadline, the agent's writes fail with "busy";
# it says so once, keeps its trials running, retries with backoff and
# records everything once the lock is gone.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: busy
method: grid
command: [$PYTHON, $TRAINER, --sleep=3, --ledger=$TEST_DIR/ledger, --started=$TEST_DIR/started,
          "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2]}
EOF

hold_lock() { # hold_lock SECONDS: the store's write lock, from another process
    "$PYTHON" -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[3], "w").close()
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")' .sweepq/sweepq.db "$1" locked
}

expect 'the agent outlives a store locked past its busy deadline' '
    bg sq run sweep.yaml -j 2 >run.out 2>run.err &&
    runner=$! &&
    wait_for 30 "test \$(ledger_count started) -ge 2" &&
    bg hold_lock 13 &&
    locker=$! &&
    wait_for 10 "test -f locked" &&
    wait_for 40 "! kill -0 $locker" &&
    wait_for 40 "! kill -0 $runner" &&
    wait $runner &&
    grep -q "^busy: finished, 2 succeeded" run.out
'

expect 'it said the store was busy, once per streak, and retried' '
    grep -q "store busy while .*, retrying" run.err &&
    test "$(grep -c "store busy while recording a trial" run.err)" -le 2
'

expect 'the trials ran to their end meanwhile, once each' '
    ledger_exactly_once ledger 2 &&
    test "$(ledger_count started)" = 2
'

finish
