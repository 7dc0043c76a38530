#!/usr/bin/env bash
# t0801-slurm-array: a real single-node Slurm (tests/slurm-up.sh). A 4-task
# array job of agents runs a 12-trial sweep to the end, every trial exactly
# once; `queue` shows the array's tasks from squeue; `cancel` on a second
# sweep cancels its trials and scancels its running job. Fails (never
# skips) when Slurm cannot start.
. "$(dirname "$0")/lib.sh"

# Also after a failed start: slurm-up may have left a daemon behind.
slurm_stop() {
    if [ -f "$TEST_DIR/slurm/slurm.conf" ]; then
        "$SQ_SOURCE_DIR/tests/slurm-down.sh" "$TEST_DIR/slurm" 2>>"$TEST_DIR/slurm-down.err"
    fi
}
trap 'slurm_stop; lib_cleanup' EXIT

expect 'a single-node Slurm starts' '
    SLURM_DIR=$("$SQ_SOURCE_DIR/tests/slurm-up.sh" "$TEST_DIR/slurm" 2>slurm-up.err | tail -n 1) &&
    test -f "$SLURM_DIR/env.sh" || { cat slurm-up.err; false; }
'
[ "$FAILED" -eq 0 ] || finish
. "$SLURM_DIR/env.sh"

cat >grid.yaml <<EOF
name: grid
method: grid
command: [$PYTHON, $TRAINER, --steps=2, --sleep=1, --ledger=$TEST_DIR/ledger, "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3, 4]}
  y: {values: [1, 2, 3]}
EOF
jobs=.sweepq/sweeps/grid/jobs

# agents_done JOB TASK...: each task's output says its agent ended.
agents_done() {
    local job=$1 t
    shift
    for t in "$@"; do
        grep -q "agent done" "$jobs/slurm-${job}_$t.out" || return 1
    done
}

# running_trials SWEEP N: N of the sweep's trials are running.
running_trials() {
    "$SWEEPQ" trials "$1" --json >"$TEST_DIR/running.json" &&
        test "$(json_get "sum(t[\"state\"] == \"running\" for t in d)" <"$TEST_DIR/running.json")" = "$2"
}

# tasks_seen FILE: the array tasks a queue listing shows, sorted, one line.
tasks_seen() { awk 'NR > 1 { print $3 }' "$1" | sort -n | tr '\n' ' '; }

expect 'submit records the array job' '
    sq create grid.yaml >create.out &&
    sq submit grid --slurm --array 4 >submit.out 2>submit.err &&
    grep -q "^submitted Slurm job [0-9]* for sweep .grid. (4 array tasks)" submit.out &&
    job=$(awk "/^submitted/ { print \$4 }" submit.out) &&
    grep -qx "slurm $job $TEST_DIR/$jobs/submit-1.sh" $jobs/jobs.txt
'

expect '--cluster auto finds Slurm here' '
    sq submit grid --cluster auto --dry-run >auto.sh 2>/dev/null &&
    grep -qx "#SBATCH --array=0-0" auto.sh
'

expect 'queue shows the four array tasks' '
    wait_for 60 "sq queue grid >q.out 2>&1 && test \"\$(tasks_seen q.out)\" = \"0 1 2 3 \"" &&
    grep -q "^SWEEP  *JOB  *TASK  *STATE  *TIME  *REASON" q.out &&
    test "$(awk "NR > 1 && \$2 == \"$job\"" q.out | wc -l)" = 4
'

expect 'the array runs the 12 trials to the end, each once' '
    timeout 150 "$SWEEPQ" wait grid >wait.out 2>&1 &&
    ledger_exactly_once ledger 12 &&
    wait_for 60 "test \"\$(squeue -h --states=all -j $job -o %T | sort -u)\" = COMPLETED" &&
    agents_done $job 0 1 2 3
'

expect 'queue --watch ends when no job is pending or running' '
    timeout 30 "$SWEEPQ" queue grid --watch --interval 0.5 >watch.out 2>&1 &&
    test "$(awk "NR > 1 && \$4 == \"COMPLETED\"" watch.out | wc -l)" = 4
'

cat >long.yaml <<EOF
name: long
method: grid
command: [$PYTHON, $TRAINER, --steps=100, --sleep=100, "\${args}"]
parameters:
  x: {values: [1, 2, 3, 4]}
EOF

expect 'cancel cancels the trials and scancels the running job' '
    sq create long.yaml >create2.out &&
    sq submit long --slurm --array 2 >submit2.out 2>&1 &&
    job2=$(awk "/^submitted/ { print \$4 }" submit2.out) &&
    wait_for 60 "running_trials long 2" &&
    sq cancel long >cancel.out 2>cancel.err &&
    grep -q "^cancelled 4 trials of sweep .long." cancel.out &&
    grep -q "^cancelled Slurm job $job2 of sweep .long." cancel.out &&
    wait_for 60 "test \"\$(squeue -h --states=all -j $job2 -o %T | sort -u)\" = CANCELLED" &&
    sq queue long >q2.out &&
    test "$(awk "NR > 1 && \$4 == \"CANCELLED\"" q2.out | wc -l)" = 2 &&
    sq trials long --json >long.json &&
    test "$(json_get "sorted(set(t[\"state\"] for t in d))" <long.json)" = "[\"cancelled\"]"
'

expect 'cancel again has no job left to scancel' '
    sq cancel long >cancel2.out 2>&1 &&
    ! grep -q "Slurm job" cancel2.out
'

finish
