#!/usr/bin/env bash
# t0712-http-lease-lost: a server that stays down longer than the leases
# does not kill the agent, but its trials' leases expire meanwhile: the agent
# kills those trials by its own clock (lease.c). When the server is back,
# fencing refuses the late work: the agent learns that the leases are lost,
# records nothing, claims the trials again and runs them to success. No trial
# is recorded twice; each succeeded in its second attempt, and the killed
# first attempts never reached their end. Trials that end while the server
# is down keep their result until it returns, which then refuses it (the
# lease expired): they run again and succeed once.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

N=4
mkdir -p remote
cat >remote/sweep.yaml <<EOF
name: lost
method: grid
command: [sh, -c, 'echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/starts; sleep 8; echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 2s
max_attempts: 3
parameters:
  i: {values: [$(seq -s, $N)]}
EOF
DB=sqlite:$TEST_DIR/server/.sweepq/sweepq.db

expect 'an agent runs the sweep through the server' '
    http_serve_start 127.0.0.1:0 &&
    (cd remote && "$SWEEPQ" create sweep.yaml --store "$URL" \
        --token-file "$TEST_DIR/server/.sweepq/server.token" >../create.out) &&
    bg sh -c "cd remote && exec \"\$0\" agent -j $N --exit-when-idle --store \"\$1\" --token-file \"\$2\"" \
        "$SWEEPQ" "$URL" "$TEST_DIR/server/.sweepq/server.token" >agent.out 2>agent.err &&
    AGENT=$! &&
    wait_for 60 "test \$(ledger_count starts) = $N"
'

expect 'the server dies and its store expires the leases while it is down' '
    kill -9 $SERVER_PID && { wait $SERVER_PID 2>/dev/null; true; } &&
    sleep 2.5 &&
    sq reap --store "$DB" >reap.out &&
    sq trials lost --state pending --store "$DB" --json >pending.json &&
    test "$(json_get "len(d)" <pending.json)" = $N &&
    pid_alive $AGENT
'

expect 'back on the same port, the agent drops the lost trials and runs them again' '
    http_serve_start "127.0.0.1:$PORT" &&
    wait_for 120 "! pid_alive $AGENT" &&
    wait $AGENT &&
    test "$(grep -c "lease lost" agent.err)" = $N
'

expect 'each trial succeeded once, in its second attempt; the first never finished' '
    sq trials lost --store "$DB" --json >trials.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = $N &&
    test "$(json_get "sorted(set(t[\"attempts\"] for t in d))" <trials.json)" = "[2]" &&
    ledger_exactly_once ledger $N &&
    test "$(awk "{ print \$2 }" ledger | sort -u)" = 2
'

# The other way a lease is lost while the server is down: the trial ends
# meanwhile, and its result waits in the agent for the server to return.
cat >remote/late.yaml <<EOF
name: late
method: grid
command: [sh, -c, 'echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/starts2; sleep 2; echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/late.ledger']
lease_ttl: 6s
max_attempts: 3
parameters:
  i: {values: [$(seq -s, $N)]}
EOF

expect 'trials that end while the server is down wait to record their result' '
    (cd remote && "$SWEEPQ" create late.yaml --store "$URL" \
        --token-file "$TEST_DIR/server/.sweepq/server.token" >../create2.out) &&
    bg sh -c "cd remote && exec \"\$0\" agent -j $N --exit-when-idle --store \"\$1\" --token-file \"\$2\"" \
        "$SWEEPQ" "$URL" "$TEST_DIR/server/.sweepq/server.token" >agent2.out 2>agent2.err &&
    AGENT=$! &&
    wait_for 60 "test \$(ledger_count starts2) = $N" &&
    kill -9 $SERVER_PID && { wait $SERVER_PID 2>/dev/null; true; } &&
    wait_for 60 "test \$(ledger_count late.ledger) = $N" &&
    sleep 6.5 &&
    sq reap --store "$DB" >reap2.out &&
    pid_alive $AGENT
'

expect 'back, the server refuses the late results; the agent runs the trials again' '
    http_serve_start "127.0.0.1:$PORT" &&
    wait_for 120 "! pid_alive $AGENT" &&
    wait $AGENT &&
    test "$(grep -c "lease lost" agent2.err)" = $N &&
    sq trials late --store "$DB" --json >late.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <late.json)" = $N &&
    test "$(json_get "sorted(set(t[\"attempts\"] for t in d))" <late.json)" = "[2]" &&
    test "$(awk "\$2 == 2" late.ledger | wc -l)" = $N
'

finish
