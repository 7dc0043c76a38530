#!/usr/bin/env bash
# t0305-agent-preempt: SIGUSR1 to the agent reaches the trial, which writes
# a checkpoint and exits; the trial is pending again with no try used; the
# next attempt sees SWEEPQ_RESUME=1 and its checkpoint and finishes from it.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: preempt
method: grid
command: [$PYTHON, $TRAINER, --steps=20, --sleep=10, --dump_env=1, --ledger=$TEST_DIR/ledger,
          "\${args}"]
metric: {name: loss, goal: minimize}
max_attempts: 1
parameters:
  x: {values: [2]}
EOF
dir=.sweepq/sweeps/preempt/trials/1

expect 'SIGUSR1 to the agent makes the trial checkpoint and stop' '
    sq create sweep.yaml >create.out 2>&1 &&
    bg sq agent -j 1 >agent.out 2>agent.err &&
    agent=$! &&
    wait_for 30 "grep -q \"^step=3 \" $dir/attempt-1.log" &&
    kill -USR1 $agent &&
    wait_for 20 "! kill -0 $agent" &&
    { wait $agent; test $? = 0; } &&
    grep -q "stopping 1 running trial (SIGUSR1" agent.err &&
    test -f $dir/checkpoint.json &&
    test "$(ledger_count ledger)" = 0
'

expect 'the trial is pending again and used no try' '
    sq trials preempt --json >t1.json &&
    test "$(json_get "d[0][\"state\"]" <t1.json)" = pending &&
    test "$(json_get "d[0][\"failures\"]" <t1.json)" = 0 &&
    test "$(json_get "d[0][\"attempts\"]" <t1.json)" = 1
'

expect 'the next attempt resumes from its checkpoint and succeeds' '
    step=$(json_get "d[\"step\"]" <$dir/checkpoint.json) &&
    cp $dir/env.json env1.json &&
    test "$step" -ge 3 &&
    sq run sweep.yaml -j 1 >run.out 2>run.err &&
    grep -q "^preempt: finished, 1 succeeded" run.out &&
    test "$(json_get "d[\"SWEEPQ_RESUME\"]" <$dir/env.json)" = 1 &&
    test "$(json_get "d[\"SWEEPQ_ATTEMPT\"]" <$dir/env.json)" = 2 &&
    grep -q "^attempt 2 resumed at step $step\$" $dir/resume.log &&
    head -1 $dir/attempt-2.log | grep -q "^step=$((step + 1)) " &&
    ledger_exactly_once ledger 1
'

expect 'both attempts were the same W&B run' '
    test "$(json_get "d[\"WANDB_RUN_ID\"]" <env1.json)" = \
         "$(json_get "d[\"WANDB_RUN_ID\"]" <$dir/env.json)" &&
    test "$(json_get "d[\"SWEEPQ_RESUME\"]" <env1.json)" = 0
'

finish
