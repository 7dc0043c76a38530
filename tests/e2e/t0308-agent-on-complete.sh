#!/usr/bin/env bash
# t0308-agent-on-complete: four agents share a sweep; when its last trial is
# final, exactly one of them runs on_complete, once, in the project root,
# with SWEEPQ_SWEEP set.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: together
method: grid
command: [$PYTHON, $TRAINER, --sleep=0.3, --ledger=$TEST_DIR/ledger, "\${args}"]
metric: {name: loss, goal: minimize}
on_complete: echo "\$SWEEPQ_SWEEP \$(pwd)" >>$TEST_DIR/completed
parameters:
  x: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}
EOF

expect 'four agents run the sweep together' '
    sq create sweep.yaml >create.out 2>&1 &&
    pids= &&
    for i in 1 2 3 4; do
        bg sq agent -j 2 --exit-when-idle >agent$i.out 2>agent$i.err &&
        pids="$pids $!" || return 1
    done &&
    for p in $pids; do
        wait_for 60 "! kill -0 $p" && wait $p || return 1
    done &&
    ledger_exactly_once ledger 12
'

expect 'on_complete ran exactly once, in the project root' '
    test "$(ledger_count completed)" = 1 &&
    test "$(cat completed)" = "together $TEST_DIR" &&
    test "$(cat agent*.err | grep -c "running on_complete of sweep .together.")" = 1 &&
    cat agent*.err | grep -q "on_complete of sweep .together. ended: exit status 0"
'

expect 'more than one agent took part' '
    test "$(grep -l "succeeded in" agent*.err | wc -l)" -ge 2
'

expect 'running the sweep again does not run on_complete again' '
    sq run sweep.yaml >run.out 2>run.err &&
    test "$(ledger_count completed)" = 1
'

cat >orphan.yaml <<EOF
name: orphan
method: grid
command: [$PYTHON, $TRAINER, --sleep=30, --started=$TEST_DIR/orphan-started, "\${args}"]
lease_ttl: 2s
max_attempts: 1
on_complete: echo "\$SWEEPQ_SWEEP" >>$TEST_DIR/completed
parameters:
  x: {values: [1]}
EOF

expect 'a sweep that ends when a dead agent'"'"'s lease expires still completes, once' '
    sq create orphan.yaml >orphan-create.out 2>&1 &&
    bg sq agent --sweep orphan >orphan1.out 2>orphan1.err &&
    victim=$! &&
    wait_for 30 "test -s orphan-started" &&
    kill -9 $victim &&
    { sq run orphan.yaml >orphan.out 2>orphan.err; test $? = 1; } &&
    grep -q "^orphan: finished, 0 succeeded, 1 failed" orphan.out &&
    test "$(grep -c "^orphan$" completed)" = 1 &&
    timeout 30 "$SWEEPQ" agent --exit-when-idle >idle.out 2>idle.err &&
    test "$(grep -c "^orphan$" completed)" = 1
'

finish
