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

finish
