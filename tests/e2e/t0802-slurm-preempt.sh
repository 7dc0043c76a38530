#!/usr/bin/env bash
# t0802-slurm-preempt: preemption with requeue on a real single-node Slurm
# (tests/slurm-up.sh), with examples/preemptible/train.py. The job gets USR1
# as Slurm sends it before a time limit (`scancel --signal=USR1 --batch`,
# which reaches the batch shell, our agent, at once and deterministically);
# the agent forwards it, the trial checkpoints and exits, the attempt is
# recorded as preempted (no try used) and the agent runs `scontrol
# requeue`. Slurm holds a requeued job for 120 s (BeginTime); the test
# waits for PENDING:BeginTime, sleeps past the kill's second (an earlier
# update makes Slurm refuse to launch it: docs/clusters.md) and
# starts it now. The trial then resumes from its checkpoint with
# SWEEPQ_RESUME=1 and the same WANDB_RUN_ID, and finishes. Fails (never
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

cat >sweep.yaml <<EOF
name: pre
program: $SQ_SOURCE_DIR/examples/preemptible/train.py
interpreter: $PYTHON
method: grid
metric: {name: loss, goal: minimize}
max_attempts: 1
parameters:
  lr: {value: 0.1}
  epochs: {value: 12}
  epoch_seconds: {value: 0.5}
EOF
trial=.sweepq/sweeps/pre/trials/1
jobs=.sweepq/sweeps/pre/jobs

state_of() { squeue -h --states=all -j "$1" -o %T:%r 2>/dev/null; }

expect 'the job starts and its trial trains' '
    sq create sweep.yaml >create.out &&
    sq submit pre --slurm --grace 20s >submit.out 2>&1 &&
    job=$(awk "/^submitted/ { print \$4 }" submit.out) &&
    task=${job}_0 &&
    wait_for 60 "grep -q \"^epoch=2 \" $trial/attempt-1.log"
'

expect 'USR1: the trial checkpoints, is preempted, and the job is requeued' '
    scancel --signal=USR1 --batch "$task" &&
    wait_for 60 "test \"\$(state_of $task)\" = PENDING:BeginTime" &&
    test -f $trial/checkpoint.json &&
    grep -q "^checkpointed at epoch" $trial/attempt-1.log &&
    grep -q "requeued Slurm job $task" $jobs/slurm-${job}_0.out &&
    sq trials pre --json >t1.json &&
    test "$(json_get "d[0][\"state\"]" <t1.json)" = pending &&
    test "$(json_get "d[0][\"failures\"]" <t1.json)" = 0 &&
    test "$(json_get "d[0][\"attempts\"]" <t1.json)" = 1
'

expect 'the requeued job runs again and the trial resumes to the end' '
    sleep 1.5 &&
    scontrol update JobId="$task" StartTime=now &&
    timeout 90 "$SWEEPQ" wait pre >wait.out 2>&1 &&
    wait_for 60 "test \"\$(state_of $task)\" = COMPLETED:None" &&
    sed -n 1p $trial/starts.log | grep -q "^attempt=1 resume=0 start_epoch=0 run_id=" &&
    sed -n 2p $trial/starts.log | grep -q "^attempt=2 resume=1 start_epoch=[1-9]" &&
    test "$(sed -n "1s/.*run_id=//p" $trial/starts.log)" = "$(sed -n "2s/.*run_id=//p" $trial/starts.log)" &&
    grep -q "^done: loss=" $trial/attempt-2.log &&
    sq trials pre --json >t2.json &&
    test "$(json_get "d[0][\"state\"]" <t2.json)" = succeeded &&
    test "$(json_get "d[0][\"attempts\"]" <t2.json)" = 2 &&
    test "$(grep -c "agent done" $jobs/slurm-${job}_0.out)" = 2
'

expect 'queue (every sweep with jobs) shows the job completed' '
    sq queue >q.out &&
    awk -v j="$job" "NR > 1 && \$2 == j && \$3 == 0 && \$4 == \"COMPLETED\" { f = 1 } END { exit !f }" q.out
'

finish
