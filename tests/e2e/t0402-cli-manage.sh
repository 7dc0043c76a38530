#!/bin/bash
# The verbs that change sweeps, on real sweeps run by real agents: pause and
# resume, cancel and retry (of cancelled and of failed trials), wait (its
# exit status, --tag, --timeout), tags added by a second `run --tag`, reap,
# and logs -f on a running trial.
. "$(dirname "$0")/lib.sh"

# exits N CMD...: runs CMD; succeeds when it exits with status N exactly.
exits() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || { echo "# expected exit $want from '$*', got $rc" >&2; return 1; }
}

# spec NAME [EXTRA_YAML] [TRAINER_ARGS...]: a 3x3 grid of the trainer.
spec() {
    local name=$1 extra=${2:-} args=""
    shift 2 2>/dev/null || shift $#
    for a in "$@"; do args="$args, \"$a\""; done
    cat >"$name.yaml" <<EOF
name: $name
program: "$TRAINER"
interpreter: "$PYTHON"
command: ["\${env}", "\${interpreter}", "\${program}", "\${args}", "--ledger=$TEST_DIR/$name.ledger"$args]
method: grid
metric: {name: loss, goal: minimize}
lease_ttl: 4s
parameters:
  a: {values: [0, 2, 3]}
  b: {values: [1, 2, 4]}
$extra
EOF
}

# count SWEEP STATE: how many trials of SWEEP are in STATE.
count() {
    sq trials "$1" --state "$2" --json >count.json && json_get "len(d)" <count.json
}

sweep_state() {
    sq status "$1" --json >state.json && json_get "d[0][\"state\"]" <state.json
}

# agent ARGS...: an agent in the foreground, bounded in time. (In the
# background use `bg sq agent ...`: bg can kill the binary itself, not a
# function's subshell that would leave the agent running after the test.)
agent() { timeout 120 "$SWEEPQ" agent --exit-when-idle -j 3 "$@"; }

spec p
expect 'pause keeps agents from starting a sweep'"'"'s trials' '
    sq create p.yaml >/dev/null &&
    sq pause p >pause.out && grep -F "is paused" pause.out &&
    test "$(sweep_state p)" = paused &&
    agent --sweep p >agent.out 2>&1 &&
    test "$(ledger_count p.ledger)" = 0 &&
    test "$(count p pending)" = 9
'

expect 'pausing a paused sweep says so and succeeds' '
    sq pause p >again.out && grep -F "already paused" again.out
'

expect 'resume lets the agent run every trial' '
    sq resume p >resume.out && grep -F "is active" resume.out &&
    agent --sweep p >agent2.out 2>&1 &&
    ledger_exactly_once p.ledger 9 &&
    test "$(count p succeeded)" = 9
'

expect 'resuming a finished sweep is refused with exit 5' '
    exits 5 sq resume p 2>err &&
    grep -F "finished" err
'

spec c
expect 'cancel cancels every pending trial and wait then exits 1' '
    sq create c.yaml >/dev/null &&
    sq cancel c >cancel.out && grep -F "cancelled 9 trials" cancel.out &&
    test "$(count c cancelled)" = 9 &&
    exits 1 sq wait c --timeout 30 >wait.out 2>&1 &&
    grep -F "9 cancelled" wait.out
'

expect 'retry --cancelled puts them back and the next agent runs them' '
    sq retry c --cancelled >retry.out && grep -F "9 cancelled trials" retry.out &&
    test "$(count c pending)" = 9 &&
    test "$(sweep_state c)" = active &&
    agent --sweep c >agent3.out 2>&1 &&
    ledger_exactly_once c.ledger 9 &&
    sq wait c --timeout 30 >wait2.out && grep -F "9 succeeded" wait2.out &&
    sq wait c --json >wait2.json &&
    test "$(json_get "d[0][\"counts\"][\"succeeded\"]" <wait2.json)" = 9
'

spec f "max_attempts: 1" "--fail_if=a:0"
expect 'trials that fail count as failed and wait exits 1' '
    must_fail sq run f.yaml -j 3 >runf.out 2>&1 &&
    test "$(count f failed)" = 3 &&
    test "$(count f succeeded)" = 6 &&
    exits 1 sq wait f --timeout 60 >waitf.out 2>&1 && grep -F "3 failed" waitf.out
'

expect 'retry (failed by default) puts only the failed trials back' '
    sq retry f >retryf.out && grep -F "3 failed trials" retryf.out &&
    test "$(count f pending)" = 3 &&
    test "$(count f succeeded)" = 6 &&
    sq retry f --cancelled >none.out && grep -F "no cancelled trials" none.out
'

expect 'wait --timeout gives up with exit 1 on a sweep that is not finished' '
    exits 1 sq wait f --timeout 0.5 --interval 0.1 2>err &&
    grep -F "gave up" err
'

spec t1 "tags: [batch-7]"
spec t2 "tags: [batch-7]"
expect 'wait --tag blocks until every sweep of the batch is done, then exits 0' '
    sq create t1.yaml >/dev/null && sq create t2.yaml >/dev/null &&
    bg sq wait --tag batch-7 --interval 0.1 --timeout 120 >waittag.out 2>&1 && wpid=$! &&
    sleep 0.5 && pid_alive $wpid &&
    agent --sweep t1 >a1.out 2>&1 &&
    sleep 0.3 && pid_alive $wpid &&
    agent --sweep t2 >a2.out 2>&1 &&
    wait $wpid &&
    grep -F "all 2 sweeps finished: 18 succeeded" waittag.out
'

spec tg
expect 'run --tag b after run --tag a leaves the sweep tagged a and b' '
    sq run tg.yaml --tag a -j 3 >runa.out 2>&1 &&
    sq run tg.yaml --tag b >runb.out 2>&1 &&
    sq status tg --json >tg.json &&
    test "$(json_get "d[0][\"tags\"]" <tg.json)" = "[\"a\", \"b\"]" &&
    test "$(count tg succeeded)" = 9
'

expect 'wait --tag finds the sweep by the tag its second run added' '
    sq wait --tag b --timeout 30 >waitb.out &&
    grep -F "tg: finished, 9 succeeded" waitb.out &&
    sq wait --tag a --timeout 30 >waita.out &&
    grep -F "tg: finished" waita.out
'

expect 'wait for an unknown tag or sweep exits 3' '
    exits 3 sq wait --tag nosuch 2>err &&
    exits 3 sq wait nosuch 2>err &&
    grep -F "no sweep named '"'"'nosuch'"'"'" err
'

expect 'reap runs and reports' '
    sq reap >reap.out && grep -E "^reaped [0-9]+ expired lease" reap.out
'

spec s "" "--sleep=1.5" "--steps=4"
expect 'logs -f follows a running trial to its end' '
    sq create s.yaml >/dev/null &&
    bg sq agent --exit-when-idle -j 3 --sweep s >agent4.out 2>&1 &&
    wait_for 60 "test \"\$(count s running)\" -ge 1" &&
    sq trials s --state running --json >running.json &&
    n=$(json_get "d[0][\"number\"]" <running.json) &&
    timeout 60 "$SWEEPQ" logs s "$n" -f >follow.out &&
    grep -F "step=4 " follow.out &&
    sq trials s --json >after.json &&
    test "$(json_get "[t[\"state\"] for t in d if t[\"number\"] == $n][0]" <after.json)" = succeeded
'

spec r "" "--sleep=30" "--steps=30"
expect 'cancel of a running sweep stops its trials and wait exits 1' '
    sq create r.yaml >/dev/null &&
    bg sq agent --exit-when-idle -j 3 --sweep r >agent5.out 2>&1 && apid=$! &&
    wait_for 60 "test \"\$(count r running)\" -ge 1" &&
    sq cancel r >cancelr.out && grep -E "cancelled 9 trials" cancelr.out &&
    exits 1 sq wait r --timeout 60 --interval 0.2 >waitr.out 2>&1 &&
    test "$(count r cancelled)" = 9 &&
    test "$(ledger_count r.ledger)" = 0
'

finish
