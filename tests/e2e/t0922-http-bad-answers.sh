#!/usr/bin/env bash
# t0922-http-bad-answers: claim answers that are not what they seem strand
# no trial and run none twice. A proxy in front of the server
# (corrupt_proxy.py) lets the server commit each claim, then replaces its
# answer: a 200 whose body is not JSON, a 200 of the wrong shape, the same
# claim listed twice, a claim of another sweep. The agent treats each as an
# answer lost on the way: it sends the same request id again and gets the
# same trials back. With max_attempts 1 every trial succeeds once, at its
# first attempt.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

N=3
mkdir -p remote
cat >remote/sweep.yaml <<EOF
name: once
method: grid
command: [sh, -c, 'echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 30s
max_attempts: 1
parameters:
  i: {values: [$(seq -s, $N)]}
EOF
DB=sqlite:$TEST_DIR/server/.sweepq/sweepq.db
TOKEN_FILE=$TEST_DIR/server/.sweepq/server.token

expect 'a server, and a proxy in front of it that corrupts the first claim answers' '
    http_serve_start 127.0.0.1:0 &&
    bg "$PYTHON" "$SQ_SOURCE_DIR/tests/e2e/corrupt_proxy.py" "$URL" proxy.port proxy.log \
        notjson shape dup foreign 2>proxy.err &&
    wait_for 20 "test -s proxy.port" &&
    PROXY=http://127.0.0.1:$(cat proxy.port) &&
    (cd remote && "$SWEEPQ" create sweep.yaml --store "$PROXY" --token-file "$TOKEN_FILE" \
        >../create.out)
'

expect 'an agent through the proxy runs the sweep to its end' '
    (cd remote && timeout 120 "$SWEEPQ" agent -j $N --exit-when-idle --store "$PROXY" \
        --token-file "$TOKEN_FILE" >../agent.out 2>../agent.err)
'

expect 'each corrupted answer was followed by the same request id, answered whole' '
    for k in notjson shape dup foreign; do grep -q "^$k " proxy.log || return 1; done &&
    first=$(sed -n "1s/.*\"request_id\": *\"\([^\"]*\)\".*/\1/p" proxy.log) && test -n "$first" &&
    test "$(grep -c "\"request_id\": *\"$first\"" proxy.log)" = 5 &&
    grep -q "^claim .*\"request_id\": *\"$first\"" proxy.log &&
    grep -q "not JSON" agent.err
'

expect 'every trial succeeded once, at its first attempt' '
    sq trials once --store "$DB" --json >trials.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = $N &&
    test "$(json_get "sorted(set(t[\"attempts\"] for t in d))" <trials.json)" = "[1]" &&
    ledger_exactly_once ledger $N &&
    test "$(awk "{ print \$2 }" ledger | sort -u)" = 1
'
finish
