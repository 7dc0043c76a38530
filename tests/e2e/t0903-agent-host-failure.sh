#!/usr/bin/env bash
# t0903-agent-host-failure: an agent whose machine cannot write the trial
# directories (here: its project's .sweepq is a read-only tmpfs) gives each
# trial back as preempted (no try used), backs off, says why, and after 5
# such trials in a row stops claiming and exits 73 (EXIT_HOST); a healthy
# agent on the same store runs every trial, none with a failure. Before the
# fix the broken agent failed nearly the whole shared sweep in a second.
. "$(dirname "$0")/lib.sh"

# Needs root for the mount: fail loudly rather than skip.
mkdir -p shared a/.sweepq b
mount -t tmpfs -o ro,size=1m tmpfs a/.sweepq || {
    echo "# cannot mount a read-only tmpfs (root needed)" >&2
    exit 1
}
trap 'umount "$TEST_DIR/a/.sweepq" 2>/dev/null; lib_cleanup' EXIT
STORE=sqlite:$TEST_DIR/shared/store.db

cat >sweep.yaml <<EOF2
name: hostfail
method: grid
max_attempts: 2
command: [sh, -c, 'sleep 0.2; echo \${param.i} >>$TEST_DIR/ledger']
parameters:
  i: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]}
EOF2

expect 'the sweep is created on the shared store' '
    sq create sweep.yaml --store "$STORE" >create.out
'

# A runs alone first, so that its 5 failures cannot race B to the last
# trial: the count below is then exact.
expect 'the agent on the read-only project gives trials back, says why, exits 73' '
    bg sh -c "cd a && exec \"\$SWEEPQ\" agent -j 1 --exit-when-idle --store \"$STORE\"" \
        >a.out 2>a.err &&
    A=$! &&
    wait_for 120 "! pid_alive $A" &&
    { wait $A; test $? = 73; } &&
    grep -q "Read-only file system" a.err &&
    grep -q "claiming again in" a.err &&
    grep -q "5 trials in a row could not be prepared here" a.err &&
    grep -q "agent stopped: this machine cannot write" a.err &&
    grep -q "make the project writable" a.err
'

expect 'it gave back exactly 5 trials, as preempted, without using a try' '
    test "$(grep -c "the trial was given back" a.err)" = 5 &&
    sq trials hostfail --json --store "$STORE" >trials-a.json &&
    test "$(json_get "sum(t[\"failures\"] for t in d)" <trials-a.json)" = 0 &&
    test "$(json_get "sum(t[\"attempts\"] for t in d)" <trials-a.json)" = 5 &&
    test "$(json_get "sorted(set(t[\"state\"] for t in d))" <trials-a.json)" = "[\"pending\"]"
'

expect 'a healthy agent on the same store runs every trial, none with a failure' '
    (cd b && sq agent -j 2 --exit-when-idle --store "$STORE" >../b.out 2>../b.err) &&
    ledger_exactly_once ledger 20 &&
    sq trials hostfail --json --store "$STORE" >trials.json &&
    test "$(json_get "sum(t[\"failures\"] for t in d)" <trials.json)" = 0 &&
    test "$(json_get "sorted(set(t[\"state\"] for t in d))" <trials.json)" = "[\"succeeded\"]"
'

finish
