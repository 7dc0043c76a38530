#!/usr/bin/env bash
# t0803-slurm-timelimit: preemption by a real time limit on a real
# single-node Slurm (tests/slurm-up.sh). The job has --time 00:01:00 (the
# smallest Slurm takes) and --grace 50s, and its one trial needs about 45 s
# of work, more than it gets before the warning. Slurm sends USR1 somewhere
# between 10 and 40 s in (it checks limits about every 30 s); the agent
# forwards it, the trial checkpoints, the job requeues itself; the test
# cuts Slurm's 120 s requeue hold-off short each time (as t0802) until the
# trial has finished on a later attempt with SWEEPQ_RESUME=1. The job must
# never reach its limit (TIMEOUT). About a minute; fails (never skips)
# when Slurm cannot start.
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

cat >sweep.yaml <<EOF
name: tl
program: $SQ_SOURCE_DIR/examples/preemptible/train.py
interpreter: $PYTHON
method: grid
max_attempts: 1
parameters:
  lr: {value: 0.1}
  epochs: {value: 90}
  epoch_seconds: {value: 0.5}
EOF
trial=.sweepq/sweeps/tl/trials/1

state_of() { squeue -h --states=all -j "$1" -o %T:%r 2>/dev/null; }

# release_until_done TASK SECONDS: whenever the requeued task waits out its
# hold-off, start it now (a second after the kill, as t0802 explains);
# returns 0 once the sweep has no trial left to run.
release_until_done() {
    local task=$1 deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if "$SWEEPQ" trials tl --json >trials.json 2>/dev/null &&
            [ "$(json_get "d[0][\"state\"]" <trials.json)" = succeeded ]; then
            return 0
        fi
        if [ "$(state_of "$task")" = PENDING:BeginTime ]; then
            sleep 1.5
            scontrol update JobId="$task" StartTime=now || true
        fi
        sleep 0.2
    done
    echo "# the trial did not finish within $2 s; last job state: $(state_of "$task")" >&2
    return 1
}

expect 'USR1 before the time limit, requeue, and the trial finishes on a later attempt' '
    sq create sweep.yaml >create.out &&
    sq submit tl --slurm --time 00:01:00 --grace 50s >submit.out 2>&1 &&
    job=$(awk "/^submitted/ { print \$4 }" submit.out) &&
    task=${job}_0 &&
    release_until_done "$task" 170 &&
    grep -q "^attempt=1 resume=0 start_epoch=0 " $trial/starts.log &&
    grep -q "^attempt=2 resume=1 start_epoch=[1-9]" $trial/starts.log &&
    grep -q "^done: loss=" $trial/attempt-*.log &&
    grep -q "requeued Slurm job $task" .sweepq/sweeps/tl/jobs/slurm-${job}_0.out &&
    ! grep -q "DUE TO TIME LIMIT" .sweepq/sweeps/tl/jobs/slurm-${job}_0.out &&
    wait_for 30 "test \"\$(state_of $task)\" = COMPLETED:None"
'

finish
