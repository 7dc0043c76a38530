#!/usr/bin/env bash
# t0711-http-cli: every verb works with --store http://... against a real
# `sweepq serve`: run and create, the reading verbs (status, trials, best,
# logs, export, agents, recent, wait) from a directory with no project,
# which they leave without a .sweepq/, and the verbs that change sweeps
# (pause, resume, cancel, retry, import, reap, gc). The token comes from
# --token-file or from $SWEEPQ_TOKEN; a missing or wrong one is refused.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

# exits N CMD...: runs CMD; succeeds when it exits with status N exactly.
exits() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || { echo "# expected exit $want from '$*', got $rc" >&2; return 1; }
}

spec() {
    cat >"$1.yaml" <<EOF
name: $1
program: "$TRAINER"
interpreter: "$PYTHON"
command: ["\${env}", "\${interpreter}", "\${program}", "\${args}", "--ledger=$TEST_DIR/$1.ledger"]
method: grid
metric: {name: loss, goal: minimize}
parameters:
  a: {values: [0, 2, 3]}
  b: {values: [1, 2, 4]}
EOF
}

mkdir -p client reader
TOKEN_FILE=$TEST_DIR/server/.sweepq/server.token
# rsq DIR VERB ARGS...: the verb in DIR, through the server.
rsq() {
    local dir=$1
    shift
    (cd "$TEST_DIR/$dir" && "$SWEEPQ" "$@" --store "$URL" --token-file "$TOKEN_FILE")
}
count() {
    rsq reader trials "$1" --state "$2" --json >count.json && json_get "len(d)" <count.json
}

expect 'the server starts' '
    http_serve_start 127.0.0.1:0
'

(cd client && spec grid && spec later && spec imp)

expect 'run creates a sweep through the server and runs it here' '
    rsq client run grid.yaml -j 3 >run.out 2>run.err &&
    grep -q "^grid: finished, 9 succeeded, 0 failed" run.out &&
    ledger_exactly_once grid.ledger 9
'

expect 'status, trials, best and export read it through the server' '
    rsq reader status >status.out &&
    grep -q "^grid  *finished .* 9/9" status.out &&
    rsq reader trials grid --json >trials.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = 9 &&
    rsq reader best grid -n 1 --json >best.json &&
    test "$(json_get "d[\"trials\"][0][\"metrics\"][\"loss\"]" <best.json)" = \
        "$(json_get "min(t[\"metrics\"][\"loss\"] for t in d)" <trials.json)" &&
    rsq reader export grid --format csv -o "$TEST_DIR/grid.csv" &&
    test "$(wc -l <grid.csv)" = 10 &&
    rsq reader export grid --format json >export.json &&
    test "$(json_get "len(d)" <export.json)" = 9
'

expect 'logs prints a trial'"'"'s output shipped to the server' '
    rsq reader logs grid 5 >log5.out &&
    test -s log5.out &&
    cmp log5.out client/.sweepq/sweeps/grid/trials/5/attempt-1.log
'

expect 'agents, recent and wait read through the server' '
    rsq reader agents --json >agents.json &&
    test "$(json_get "isinstance(d, list)" <agents.json)" = true &&
    rsq reader recent >recent.out &&
    grep -q "grid" recent.out &&
    rsq reader wait grid --timeout 10s >wait.out
'

expect 'the reading verbs left no .sweepq/ in a directory without a project' '
    test ! -e reader/.sweepq
'

expect 'create, pause and resume change the sweep on the server' '
    rsq client create later.yaml >create.out &&
    rsq reader pause later >pause.out && grep -F "is paused" pause.out &&
    rsq reader status later --json >st.json &&
    test "$(json_get "d[0][\"state\"]" <st.json)" = paused &&
    rsq reader resume later >resume.out && grep -F "is active" resume.out
'

expect 'cancel and retry change the trials on the server' '
    rsq reader cancel later >cancel.out && grep -F "cancelled 9 trials" cancel.out &&
    test "$(count later cancelled)" = 9 &&
    exits 1 rsq reader wait later --timeout 10s >wait2.out 2>&1 &&
    rsq reader retry later --cancelled >retry.out &&
    test "$(count later pending)" = 9 &&
    rsq client agent --exit-when-idle -j 3 >agent.out 2>&1 &&
    test "$(count later succeeded)" = 9 &&
    rsq reader wait later --timeout 10s >wait3.out
'

printf '%s\n' 'a,b,loss' '0,1,5.5' '2,2,0.25' >results.csv
expect 'import marks trials succeeded through the server' '
    rsq client create imp.yaml >/dev/null &&
    rsq reader import imp "$TEST_DIR/results.csv" >import.out &&
    grep -F "imported 2 trials" import.out &&
    test "$(count imp succeeded)" = 2
'

expect 'reap and gc run through the server' '
    rsq reader reap >reap.out &&
    rsq reader gc --older-than 1 >gc.out &&
    rsq reader status grid >still.out
'

expect 'the token may come from SWEEPQ_TOKEN' '
    (cd reader && SWEEPQ_TOKEN=$(cat "$TOKEN_FILE") "$SWEEPQ" status --store "$URL" >env.out) &&
    grep -q "^grid " reader/env.out
'

expect 'without a token, or with a wrong one, the server refuses and says why (exit 4)' '
    (cd reader && exits 4 "$SWEEPQ" status --store "$URL" 2>noauth.err) &&
    grep -F "token" reader/noauth.err &&
    (cd reader && SWEEPQ_TOKEN=wrong exits 4 "$SWEEPQ" status --store "$URL" 2>bad.err) &&
    grep -F "token" reader/bad.err
'

expect 'an unreachable server is an error naming the store without its password' '
    exits 4 "$SWEEPQ" status --store "http://me:pw123@127.0.0.1:1" 2>down.err &&
    grep -F "127.0.0.1:1" down.err &&
    ! grep -F pw123 down.err
'

finish
