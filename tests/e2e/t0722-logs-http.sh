#!/usr/bin/env bash
# t0722-logs-http: an agent on a `sweepq serve` store ships its trials' logs
# by default (auto: the store is not a SQLite file), so `sweepq logs` from
# another directory, through the server, shows a running trial's output and,
# after the end, the whole log. The server is killed while the trials end:
# the agent warns, keeps their final tails and stores them once the server
# is back.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

mkdir -p remote viewer
cat >remote/sweep.yaml <<EOF
name: lg
method: grid
command: [sh, -c, 'echo start \$SWEEPQ_TRIAL; i=0; while [ ! -e $TEST_DIR/go ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done; echo done \$SWEEPQ_TRIAL; echo \$SWEEPQ_TRIAL >>$TEST_DIR/ended']
lease_ttl: 120s
parameters:
  i: {values: [1, 2]}
EOF
TOKEN=$TEST_DIR/server/.sweepq/server.token

# viewer_logs TRIAL OUT: `sweepq logs lg TRIAL` through the server, from a
# directory that has no trial directories; stdout to OUT, stderr to OUT.err.
viewer_logs() {
    (cd "$TEST_DIR/viewer" && "$SWEEPQ" logs lg "$1" --store "$URL" --token-file "$TOKEN" \
        >"$TEST_DIR/$2" 2>"$TEST_DIR/$2.err")
}

expect 'an agent runs the sweep through the server, shipping logs by default' '
    http_serve_start 127.0.0.1:0 &&
    (cd remote && "$SWEEPQ" create sweep.yaml --store "$URL" --token-file "$TOKEN" >../create.out) &&
    bg sh -c "cd remote && exec \"\$0\" agent -j 2 --exit-when-idle --ship-every 200ms --store \"\$1\" --token-file \"\$2\"" \
        "$SWEEPQ" "$URL" "$TOKEN" >agent.out 2>agent.err &&
    AGENT=$! &&
    wait_for 60 "test -s remote/.sweepq/sweeps/lg/trials/2/attempt-1.log"
'

expect 'while the trials run, their output is read through the server' '
    wait_for 30 "viewer_logs 1 running1.out && grep -qx \"start 1\" running1.out" &&
    wait_for 30 "viewer_logs 2 running2.out && grep -qx \"start 2\" running2.out" &&
    grep -q "tail stored in the store, 8 bytes from the agent on $(hostname)" running1.out.err
'

expect 'the server dies; the trials end meanwhile and the agent keeps their logs' '
    kill -9 $SERVER_PID && { wait $SERVER_PID 2>/dev/null; true; } &&
    touch go &&
    wait_for 60 "test \$(ledger_count ended) = 2" &&
    wait_for 30 "grep -q \"its log is not stored yet, retrying\" agent.err" &&
    pid_alive $AGENT
'

expect 'the server is back: the final tails are stored and the agent ends' '
    http_serve_start 127.0.0.1:$PORT &&
    wait_for 60 "! pid_alive $AGENT" &&
    grep -q "2 succeeded" agent.err &&
    viewer_logs 1 final1.out && printf "start 1\ndone 1\n" | cmp - final1.out &&
    viewer_logs 2 final2.out && printf "start 2\ndone 2\n" | cmp - final2.out &&
    ! grep -q "is not stored:" agent.err
'

finish
