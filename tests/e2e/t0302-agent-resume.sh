#!/usr/bin/env bash
# t0302-agent-resume: Ctrl-C once drains (running trials finish, nothing new
# starts), Ctrl-C twice stops the trials (back to pending, no try used), and
# running the same spec again finishes the sweep: every trial succeeds
# exactly once and finished trials are not run again.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: resume
method: grid
command: [$PYTHON, $TRAINER, --sleep=2, --steps=4, --ledger=$TEST_DIR/ledger,
          --started=$TEST_DIR/started, "\${args}"]
metric: {name: loss, goal: minimize}
max_attempts: 1
parameters:
  x: {values: [1, 2, 3, 4, 5, 6, 7, 8]}
EOF

started() { ledger_count started; }

expect 'Ctrl-C once: running trials finish and nothing new starts' '
    bg sq run sweep.yaml -j 2 >run1.out 2>run1.err &&
    pid=$! &&
    wait_for 30 "test \$(started) -ge 2" &&
    kill -INT $pid &&
    wait_for 10 "grep -q \"finishing 2 running trials; press Ctrl-C again to stop them\" run1.err" &&
    wait_for 30 "! kill -0 $pid" &&
    { wait $pid; test $? = 130; } &&
    test "$(ledger_count ledger)" = 2 &&
    test "$(started)" = 2
'

expect 'the drained trials are recorded, the rest still pending' '
    sq trials resume --json >t1.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <t1.json)" = 2 &&
    test "$(json_get "sum(t[\"state\"] == \"pending\" for t in d)" <t1.json)" = 6
'

expect 'Ctrl-C twice: the running trials are stopped and go back to pending' '
    bg sq run sweep.yaml -j 2 >run2.out 2>run2.err &&
    pid=$! &&
    wait_for 30 "test \$(started) -ge 4" &&
    kill -INT $pid &&
    wait_for 10 "grep -q \"press Ctrl-C again\" run2.err" &&
    kill -INT $pid &&
    wait_for 20 "! kill -0 $pid" &&
    { wait $pid; test $? = 130; } &&
    grep -q "stopping 2 running trials (SIGTERM" run2.err &&
    test "$(ledger_count ledger)" = 2
'

expect 'stopped trials used no try and nothing runs' '
    sq trials resume --json >t2.json &&
    test "$(json_get "sum(t[\"state\"] == \"pending\" for t in d)" <t2.json)" = 6 &&
    test "$(json_get "sum(t[\"state\"] == \"running\" for t in d)" <t2.json)" = 0 &&
    test "$(json_get "max(t[\"failures\"] for t in d)" <t2.json)" = 0 &&
    test "$(json_get "sum(t[\"attempts\"] == 1 and t[\"state\"] == \"pending\" for t in d)" <t2.json)" = 2
'

expect 'the stopped trials'"'"' processes are gone' '
    for p in $(awk "NR > 2 { print \$3 }" started); do
        wait_for 10 "! pid_alive $p" || return 1
    done
'

expect 'running again finishes the sweep, each trial exactly once' '
    sq run sweep.yaml -j 2 >run3.out 2>run3.err &&
    grep -q "^resume: finished, 8 succeeded, 0 failed" run3.out &&
    ledger_exactly_once ledger 8
'

expect 'trials finished before were not started again' '
    first=$(head -2 started | awk "{ print \$1 }" | sort -n | tr "\n" " ") &&
    for t in $first; do
        test "$(awk -v t=$t "\$1 == t" started | wc -l)" = 1 || return 1
    done
'

finish
