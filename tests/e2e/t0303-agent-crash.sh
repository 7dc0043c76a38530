#!/usr/bin/env bash
# t0303-agent-crash: an agent killed with SIGKILL mid-trial takes its
# children with it (parent-death signal); after the lease TTL another agent
# reaps the leases, runs the trials again and completes them; the ledger
# shows one success per trial.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: crash
method: grid
command: [$PYTHON, $TRAINER, --sleep=3, --ledger=$TEST_DIR/ledger,
          --started=$TEST_DIR/started, "\${args}"]
metric: {name: loss, goal: minimize}
lease_ttl: 2s
parameters:
  x: {values: [1, 2, 3]}
EOF

expect 'an agent starts three trials' '
    sq create sweep.yaml >create.out 2>&1 &&
    bg sq agent -j 3 >agent1.out 2>agent1.err &&
    agent=$! &&
    wait_for 30 "test \$(ledger_count started) -ge 3"
'

expect 'kill -9 of the agent takes its trials with it' '
    kill -9 $agent &&
    for p in $(awk "{ print \$3 }" started); do
        wait_for 10 "! pid_alive $p" || return 1
    done &&
    test "$(ledger_count ledger)" = 0
'

expect 'the trials still look running until their leases expire' '
    sq trials crash --json >t1.json &&
    test "$(json_get "sum(t[\"state\"] == \"running\" for t in d)" <t1.json)" = 3
'

expect 'another agent reaps them after the TTL and completes the sweep' '
    sq run sweep.yaml -j 3 >run.out 2>run.err &&
    grep -q "^crash: finished, 3 succeeded, 0 failed" run.out &&
    ledger_exactly_once ledger 3
'

expect 'each trial took two attempts; the crash used up one try' '
    sq trials crash --json >t2.json &&
    test "$(json_get "[t[\"attempts\"] for t in d]" <t2.json)" = "[2, 2, 2]" &&
    test "$(json_get "[t[\"failures\"] for t in d]" <t2.json)" = "[1, 1, 1]" &&
    test "$(awk "\$2 == 2" started | wc -l)" = 3
'

finish
