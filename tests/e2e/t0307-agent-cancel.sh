#!/usr/bin/env bash
# t0307-agent-cancel: `sweepq cancel` of a running sweep reaches its agent
# with the next heartbeat (at most a second); the trials get SIGTERM and,
# when they ignore it, SIGKILL after the grace period; nothing else starts
# and run exits 1.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: cancelme
method: grid
command: [$PYTHON, $TRAINER, --sleep=60, --steps=60, --ignore_term=1,
          --started=$TEST_DIR/started, "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3, 4]}
EOF

expect 'two trials run' '
    bg sq run sweep.yaml -j 2 --grace 2s >run.out 2>run.err &&
    runner=$! &&
    wait_for 30 "test \$(ledger_count started) -ge 2"
'

expect 'cancel kills them within the heartbeat and the grace period' '
    sq cancel cancelme >cancel.out 2>&1 &&
    start=$SECONDS &&
    for p in $(awk "{ print \$3 }" started); do
        wait_for 8 "! pid_alive $p" || return 1
    done &&
    test $((SECONDS - start)) -le 5
'

expect 'run ends with status 1 and nothing else started' '
    wait_for 10 "! kill -0 $runner" &&
    { wait $runner; test $? = 1; } &&
    test "$(ledger_count started)" = 2 &&
    grep -q "^trial [12] cancelled after" run.err &&
    ! grep -q "lease lost" run.err
'

expect 'every trial is cancelled' '
    sq trials cancelme --json >t.json &&
    test "$(json_get "[t[\"state\"] for t in d]" <t.json)" = \
        "[\"cancelled\", \"cancelled\", \"cancelled\", \"cancelled\"]"
'

finish
