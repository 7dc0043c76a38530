#!/usr/bin/env bash
# t0306-agent-failures: timeouts (SIGTERM, then SIGKILL after the grace
# period), failures retried up to max_attempts, a program that cannot run,
# CUDA out-of-memory, and run's exit status, in one batch of specs.
. "$(dirname "$0")/lib.sh"

spec() { # spec NAME MAX_ATTEMPTS EXTRA_KEYS COMMAND...
    local name=$1 max=$2 extra=$3
    shift 3
    {
        echo "name: $name"
        echo "method: grid"
        echo "command: [$(IFS=,; echo "$*")]"
        echo "max_attempts: $max"
        [ -n "$extra" ] && echo "$extra"
        echo "parameters: {x: {values: [2]}}"
    } >$name.yaml
}
spec timeout 1 "timeout: 1s" "$PYTHON" "$TRAINER" --sleep=30 --steps=30
# sh sets its trap at once; a Python trainer on a loaded machine may not
# have ignored SIGTERM yet when the timeout comes.
spec stubborn 1 "timeout: 1s" sh -c "'trap \"\" TERM; sleep 30'"
spec flaky 3 "" "$PYTHON" "$TRAINER" --fail_attempts=2 --ledger=$TEST_DIR/ledger
spec broken 2 "" "$PYTHON" "$TRAINER" --fail_attempts=9
spec missing 2 "" no-such-program-sweepq
spec oom 1 "" "$PYTHON" "$TRAINER" --oom=1

trial() { # trial SWEEP EXPR: EXPR over the sweep's first trial as t
    sq trials "$1" --json >"$1.json" && json_get "(lambda t: $2)(d[0])" <"$1.json"
}

expect 'the batch runs to its end and exits 1 because trials failed' '
    start=$SECONDS &&
    { sq run timeout.yaml stubborn.yaml flaky.yaml broken.yaml missing.yaml oom.yaml \
        -j 6 --grace 1s --tag batch-1 >run.out 2>run.err; test $? = 1; } &&
    test $((SECONDS - start)) -lt 25
'

expect 'every sweep of the batch has the tag' '
    sq recent --json >recent.json &&
    test "$(json_get "sum(\"batch-1\" in s[\"tags\"] for s in d)" <recent.json)" = 6
'

expect 'a trial past its timeout is stopped with SIGTERM and timed out' '
    test "$(trial timeout "t[\"state\"]")" = failed &&
    test "$(trial timeout "t[\"error\"]")" = "timed out after 1s" &&
    test "$(trial timeout "t[\"signal\"]")" = 15 &&
    grep -q "timeout trial 1 attempt 1 timed out after 1s" run.err
'

expect 'a trial that ignores SIGTERM is killed after the grace period' '
    test "$(trial stubborn "t[\"error\"]")" = "timed out after 1s" &&
    test "$(trial stubborn "t[\"signal\"]")" = 9 &&
    dur=$(trial stubborn "t[\"duration\"]") &&
    awk -v d=$dur "BEGIN { exit !(d >= 1.9 && d < 10) }"
'

expect 'a failing trial is retried until it succeeds' '
    test "$(trial flaky "t[\"state\"]")" = succeeded &&
    test "$(trial flaky "t[\"attempts\"]")" = 3 &&
    test "$(trial flaky "t[\"failures\"]")" = 2 &&
    ledger_exactly_once ledger 1
'

expect 'a trial failing every time fails after max_attempts, saying why' '
    test "$(trial broken "t[\"state\"]")" = failed &&
    test "$(trial broken "t[\"attempts\"]")" = 2 &&
    test "$(trial broken "t[\"exit_code\"]")" = 1 &&
    test "$(trial broken "t[\"error\"]")" = "exited with status 1: failing attempt 2 on purpose"
'

expect 'a program that cannot run fails with the reason, also in its log' '
    test "$(trial missing "t[\"state\"]")" = failed &&
    test "$(trial missing "t[\"error\"]")" = \
        "cannot run '"'"'no-such-program-sweepq'"'"': No such file or directory" &&
    grep -q "^sweepq: cannot run .no-such-program-sweepq.: No such file or directory" \
        .sweepq/sweeps/missing/trials/1/attempt-2.log
'

expect 'CUDA out of memory is named as the cause' '
    test "$(trial oom "t[\"error\"]")" = "CUDA out of memory"
'

finish
