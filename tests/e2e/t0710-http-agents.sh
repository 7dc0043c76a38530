#!/usr/bin/env bash
# t0710-http-agents: 8 agents on another "machine" (their own directory)
# reach the store only through `sweepq serve` on 127.0.0.1 and finish a
# 500-trial sweep. Mid-sweep the server is killed with SIGKILL and started
# again on the same store and port: the agents retry with their backoff,
# carry on, and nothing is lost: every trial succeeded exactly once and its
# command ran once (the ledger and each trial's marker), in the attempt the
# store recorded.
#
# The agents are `sweepq run` (an agent that stays until the sweep is done
# everywhere): a claim the server committed just before it was killed never
# reaches its agent, so that trial waits for its lease (10 s) to expire and
# runs in a second attempt; an agent that left when idle would not be there
# to run it.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

N=500
mkdir -p remote
cat >remote/sweep.yaml <<EOF
name: remote
method: grid
command: [sh, -c, 'sleep 0.0\$((SWEEPQ_TRIAL % 7)); echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger; echo \$SWEEPQ_ATTEMPT >>marker']
lease_ttl: 10s
max_attempts: 3
parameters:
  i: {values: [$(seq -s, $N)]}
EOF

expect 'the server starts on a free port and prints its URL' '
    http_serve_start 127.0.0.1:0 &&
    case "$URL" in http://127.0.0.1:*) ;; *) false ;; esac &&
    test -s server/.sweepq/server.token
'

# Everything below talks to the server only: the agents' directory has no
# store of its own and finds the token through --token-file.
rsq() { (cd remote && "$SWEEPQ" "$@" --store "$URL" --token-file "$TEST_DIR/server/.sweepq/server.token"); }

agents=()
expect 'the sweep is created through the server and 8 agents start' '
    rsq create sweep.yaml >create.out 2>&1 &&
    for i in 1 2 3 4 5 6 7 8; do
        bg sh -c "cd remote && exec \"\$0\" run sweep.yaml -j 2 --store \"\$1\" --token-file \"\$2\"" \
            "$SWEEPQ" "$URL" "$TEST_DIR/server/.sweepq/server.token" >agent$i.out 2>agent$i.err &&
        agents+=($!) || return 1
    done &&
    test ${#agents[@]} = 8
'

expect 'the server is killed with SIGKILL mid-sweep and restarted on the same port' '
    wait_for 120 "test \$(ledger_count ledger) -ge 150" &&
    kill -9 $SERVER_PID && wait $SERVER_PID 2>/dev/null;
    done_at_kill=$(ledger_count ledger) &&
    echo "killed at $done_at_kill" >kill.txt &&
    test "$done_at_kill" -lt $N &&
    sleep 2 &&
    http_serve_start "127.0.0.1:$PORT" &&
    for p in "${agents[@]}"; do pid_alive $p || return 1; done
'

expect 'the agents carry on and finish the sweep, each exiting 0' '
    for p in "${agents[@]}"; do
        wait_for 300 "! pid_alive $p" || return 1
    done &&
    for p in "${agents[@]}"; do wait $p || return 1; done
'

expect 'the agents saw the server go away and retried' '
    cat agent*.err >agents.err &&
    grep -q "retrying: cannot reach store .http://127.0.0.1:$PORT" agents.err
'

expect 'every trial succeeded exactly once, in the attempt that ran' '
    rsq trials remote --json >trials.json &&
    test "$(json_get "len(d)" <trials.json)" = $N &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = $N &&
    json_get "\"\\n\".join(\"%d %d\" % (t[\"number\"], t[\"attempts\"]) for t in d)" \
        <trials.json | sort >recorded &&
    sort ledger >ledger.sorted &&
    cmp recorded ledger.sorted &&
    json_get "sum(t[\"attempts\"] > 1 for t in d)" <trials.json >orphans &&
    rsq status remote >status.out &&
    grep -q "finished" status.out
'

expect 'each trial ran once: the ledger and the markers' '
    ledger_exactly_once ledger $N &&
    test "$(ls remote/.sweepq/sweeps/remote/trials | wc -l)" = $N &&
    for d in remote/.sweepq/sweeps/remote/trials/*; do
        test "$(wc -l <$d/marker)" = 1 || { echo "# $d: $(cat $d/marker)"; return 1; }
    done
'

expect 'the store behind the server agrees' '
    sq status remote --store "sqlite:$TEST_DIR/server/.sweepq/sweepq.db" >direct.out &&
    grep -q "^remote  *finished .* $N/$N  *$N " direct.out
'

echo "# $(cat kill.txt 2>/dev/null); trials in a second attempt: $(cat orphans 2>/dev/null)"
finish
