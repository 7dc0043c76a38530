#!/usr/bin/env bash
# t0304-agent-fencing: an agent frozen (SIGSTOP) past its lease TTL loses
# its trial to another agent, which finishes it; thawed (SIGCONT), the first
# agent's late result is refused by the attempt fence, and the stored result
# stays the second agent's.
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: fence
method: grid
command: [$PYTHON, $TRAINER, --sleep=3, --metrics=file, --started=$TEST_DIR/started, "\${args}"]
metric: {name: loss, goal: minimize}
lease_ttl: 2s
parameters:
  x: {values: [2]}
EOF

expect 'the first agent starts the trial and is frozen' '
    sq create sweep.yaml >create.out 2>&1 &&
    bg sq agent -j 1 --exit-when-idle >agent1.out 2>agent1.err &&
    first=$! &&
    wait_for 30 "test \$(ledger_count started) -ge 1" &&
    kill -STOP $first
'

expect 'a second agent takes the trial over after the TTL and finishes it' '
    sq run sweep.yaml -j 1 >run.out 2>run.err &&
    grep -q "^fence: finished, 1 succeeded" run.out &&
    test "$(awk "\$2 == 2" started | wc -l)" = 1
'

expect 'the stored result is the second attempt'"'"'s' '
    sq trials fence --json >t1.json &&
    test "$(json_get "d[0][\"attempts\"]" <t1.json)" = 2 &&
    test "$(json_get "d[0][\"metrics\"][\"attempt\"]" <t1.json)" = 2 &&
    agent2=$(json_get "d[0][\"agent\"]" <t1.json)
'

expect 'thawed, the first agent is refused and writes nothing' '
    kill -CONT $first &&
    wait_for 30 "! kill -0 $first" &&
    { wait $first; test $? = 0; } &&
    grep -q "trial 1 attempt 1: lease lost" agent1.err &&
    sq trials fence --json >t2.json &&
    cmp t1.json t2.json
'

finish
