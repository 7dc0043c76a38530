#!/usr/bin/env bash
# t0902-agent-store-vanished: a SQLite store deleted (`rm -rf .sweepq`) or
# replaced by another file under a running agent is noticed within a second
# or so (the path's device and inode against those seen at the start): the
# agent kills its trials, records nothing more, and exits with the store's
# status (4) and a message, instead of finishing the sweep in a database
# nobody reads and reporting success.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: gone
method: grid
command: [sh, -c, 'echo \$\$ >>$TEST_DIR/pids; echo start >>$TEST_DIR/ledger; sleep 60; echo end >>$TEST_DIR/ledger']
parameters:
  i: {values: [1, 2]}
EOF

run_agent() { # starts an agent on the sweep and waits for its 2 trials
    : >ledger && : >pids &&
    sq create sweep.yaml >create.out &&
    bg sq agent -j 2 --exit-when-idle >agent.out 2>agent.err &&
    A=$! &&
    wait_for 60 "test \$(ledger_count ledger) = 2"
}

stops_with_error() { # the agent exits 4 with the message; its trials are dead
    wait_for 60 "! pid_alive $A" &&
    { wait $A; test $? = 4; } &&
    grep -q "was deleted or replaced while the agent ran" agent.err &&
    for p in $(cat pids); do ! pid_alive $p || return 1; done &&
    ! grep -q "^end" ledger
}

expect 'rm -rf .sweepq under a running agent stops it with an error' '
    run_agent &&
    rm -rf .sweepq &&
    stops_with_error
'

expect 'a store file replaced by another stops the agent the same way' '
    mkdir -p other && (cd other && "$SWEEPQ" create ../sweep.yaml >create.out) &&
    rm -rf .sweepq &&
    run_agent &&
    cp other/.sweepq/sweepq.db .sweepq/new.db &&
    mv .sweepq/new.db .sweepq/sweepq.db &&
    stops_with_error
'

finish
