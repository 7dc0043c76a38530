#!/usr/bin/env bash
# t0721-logs-follow-remote: two project directories share one store, as two
# machines would: the agent runs trials in machine-a, `sweepq logs` looks
# from machine-b, where no trial directory exists. The agent ships a
# running trial's log as it grows (--ship-every 200ms), so machine-b sees
# it before the trial ends; `logs -f` there follows the stored tail to the
# trial's end and prints each line once, also when the log outgrows the
# store's cap (256 KiB) while it is followed.
. "$(dirname "$0")/lib.sh"

store=sqlite:$TEST_DIR/shared.db
mkdir machine-a machine-b
# The trial prints a line, waits for the test's go-ahead (at most 60 s),
# prints another and succeeds.
cat >machine-b/follow.yaml <<EOF
name: follow
method: grid
command: [sh, -c, "echo first line; i=0; while [ ! -e $TEST_DIR/go ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done; echo second line"]
parameters:
  n: {values: [1]}
EOF

expect 'a sweep created from machine-b runs on an agent in machine-a' '
    (cd machine-b && sq create --store "$store" follow.yaml >create.out) &&
    cd machine-a &&
    bg sq agent --store "$store" --ship-logs always --ship-every 200ms --exit-when-idle \
        >../agent.out 2>../agent.err &&
    agent_pid=$! &&
    cd .. &&
    wait_for 30 "test -e machine-a/.sweepq/sweeps/follow/trials/1/attempt-1.log"
'

cd machine-b || exit 1

expect 'while the trial runs, machine-b reads its stored tail' '
    wait_for 30 "sq logs --store \"$store\" follow 1 >running.out 2>running.err && grep -qx \"first line\" running.out" &&
    grep -q "tail stored in the store" running.err &&
    sq status --store "$store" follow --json >status.json &&
    test "$(json_get "(d[0] if isinstance(d, list) else d)[\"counts\"][\"running\"]" <status.json)" = 1
'

expect 'logs -f on machine-b follows the stored tail to the end of the trial' '
    bg sq logs --store "$store" -f follow 1 >follow.out 2>follow.err &&
    follow_pid=$! &&
    wait_for 30 "grep -qx \"first line\" follow.out" &&
    touch "$TEST_DIR/go" &&
    wait_for 60 "! pid_alive $follow_pid" &&
    printf "first line\nsecond line\n" | cmp - follow.out &&
    test "$(grep -c "tail stored in the store" follow.err)" = 1
'

expect 'the agent recorded the trial and exited' '
    wait_for 30 "! pid_alive $agent_pid" &&
    grep -q "1 succeeded" ../agent.err
'

expect 'machine-a, which has the file, prints it with no note' '
    (cd ../machine-a && sq logs --store "$store" follow 1 >../a.out 2>../a.err) &&
    printf "first line\nsecond line\n" | cmp - ../a.out &&
    test ! -s ../a.err
'

# 20000 numbered lines (220 KB), the go-ahead, 20000 more: the tail stored
# at the end (the last 256 KiB) starts inside the first half.
cat >big.py <<EOF
import os, sys, time
for i in range(1, 20001):
    print("line %05d" % i)
sys.stdout.flush()
for _ in range(600):
    if os.path.exists("$TEST_DIR/go-big"):
        break
    time.sleep(0.1)
for i in range(20001, 40001):
    print("line %05d" % i)
EOF
cat >big.yaml <<EOF
name: big
method: grid
command: [$PYTHON, $TEST_DIR/machine-b/big.py]
parameters:
  n: {values: [1]}
EOF

expect 'logs -f prints a log that outgrows the cap whole, each line once' '
    sq create --store "$store" big.yaml >create-big.out &&
    cd ../machine-a &&
    bg sq agent --store "$store" --ship-logs always --ship-every 200ms --exit-when-idle \
        >../agent-big.out 2>../agent-big.err &&
    cd ../machine-b &&
    bg sq logs --store "$store" -f big 1 >big.out 2>big.err &&
    big_pid=$! &&
    wait_for 60 "grep -qx \"line 20000\" big.out" &&
    touch "$TEST_DIR/go-big" &&
    wait_for 60 "! pid_alive $big_pid" &&
    seq -f "line %05g" 1 40000 | cmp - big.out &&
    ! grep -q "moved past" big.out
'

cd "$TEST_DIR" || exit 1
finish
