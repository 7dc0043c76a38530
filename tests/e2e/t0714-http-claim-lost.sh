#!/usr/bin/env bash
# t0714-http-claim-lost: a claim the server committed but whose answer the
# agent never got (the server died right after its commit, the connection
# broke) loses no trial. The agent sends the claim's request_id again; the
# server answers with the trials the lost answer held, at the same attempt,
# instead of claiming others and leaving those running under the agent
# until their lease expires (a try used up by a trial that never ran).
# With max_attempts 1 every trial still succeeds, at its first attempt.
#
# The answer is lost by a proxy in front of the server (claim_drop_proxy.py)
# that closes the connection instead of passing on the first claim's answer,
# twice: libcurl sends the request again by itself once, and the second loss
# reaches the agent as SQ_EIO; the agent retries with the same request_id.
# Then the same is done by hand with curl across a killed (-9) and restarted
# server.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

N=3
mkdir -p remote
cat >remote/sweep.yaml <<EOF
name: once
method: grid
command: [sh, -c, 'echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 4s
max_attempts: 1
parameters:
  i: {values: [$(seq -s, $N)]}
EOF
DB=sqlite:$TEST_DIR/server/.sweepq/sweepq.db
TOKEN_FILE=$TEST_DIR/server/.sweepq/server.token

expect 'a server, and a proxy in front of it that loses the first claim answers' '
    http_serve_start 127.0.0.1:0 &&
    bg "$PYTHON" "$SQ_SOURCE_DIR/tests/e2e/claim_drop_proxy.py" "$URL" proxy.port proxy.log 2 \
        2>proxy.err &&
    wait_for 20 "test -s proxy.port" &&
    PROXY=http://127.0.0.1:$(cat proxy.port) &&
    (cd remote && "$SWEEPQ" create sweep.yaml --store "$PROXY" --token-file "$TOKEN_FILE" \
        >../create.out)
'

expect 'an agent through the proxy runs the sweep to its end' '
    (cd remote && timeout 120 "$SWEEPQ" agent -j $N --exit-when-idle --store "$PROXY" \
        --token-file "$TOKEN_FILE" >../agent.out 2>../agent.err)
'

expect 'the lost claim was sent again with its request_id and got the same trials back' '
    test "$(grep -c "^dropped" proxy.log)" = 2 &&
    lost=$(sed -n "s/^dropped .*\"request_id\": *\"\([^\"]*\)\".*/\1/p" proxy.log | sort -u) &&
    test "$(echo "$lost" | wc -l)" = 1 && test -n "$lost" &&
    again=$(grep "^claim .*\"request_id\": *\"$lost\"" proxy.log | head -n 1) &&
    test -n "$again" &&
    ids() { echo "$1" | sed "s/.*-> //" | grep -o "\"trial_id\": *[0-9]*" | tr -d " " | sort; } &&
    test "$(ids "$(grep -m1 "^dropped" proxy.log)")" = "$(ids "$again")" &&
    test -n "$(ids "$again")" &&
    grep -q "claiming trials" agent.err
'

expect 'every trial succeeded once, at its first attempt; none was reaped' '
    sq trials once --store "$DB" --json >trials.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = $N &&
    test "$(json_get "sorted(set(t[\"attempts\"] for t in d))" <trials.json)" = "[1]" &&
    ledger_exactly_once ledger $N &&
    test "$(awk "{ print \$2 }" ledger | sort -u)" = 1
'

# By hand: a claim committed just before the server is killed.
claim() {
    curl -sS --max-time 20 -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
        -d "{\"agent_id\":\"node9:1:ab\",\"sweep_id\":$1,\"max\":2,\"request_id\":\"$2\"}" \
        "$URL/api/v1/claims"
}
numbers() { grep -o "\"number\": *[0-9]*" | tr -dc "0-9\n" | tr "\n" " "; }

expect 'a claim answered just before the server is killed (-9) is the same after its restart' '
    sed "s/^name: once/name: twice/" remote/sweep.yaml >remote/twice.yaml &&
    (cd remote && "$SWEEPQ" create twice.yaml --store "$URL" --token-file "$TOKEN_FILE" >/dev/null) &&
    SID=$(curl -sS --max-time 20 -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
        "$URL/api/v1/sweeps/twice" | json_get "d[\"id\"]") &&
    claim "$SID" claim-1 >first.json &&
    kill -9 $SERVER_PID && { wait $SERVER_PID 2>/dev/null; true; } &&
    http_serve_start "127.0.0.1:$PORT" &&
    claim "$SID" claim-1 >again.json &&
    test "$(numbers <first.json)" = "1 2 " &&
    test "$(numbers <again.json)" = "1 2 " &&
    test "$(json_get "[c[\"attempt\"] for c in d[\"claims\"]]" <again.json)" = "[1, 1]" &&
    claim "$SID" claim-2 >next.json &&
    test "$(numbers <next.json)" = "3 " &&
    sq trials twice --store "$DB" --json >twice.json &&
    test "$(json_get "sorted(t[\"state\"] for t in d)" <twice.json)" = "[\"running\", \"running\", \"running\"]"
'
finish
