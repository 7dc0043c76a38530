#!/usr/bin/env bash
# t0713-https-store: the http store over TLS. Against a `sweepq serve
# --tls-cert` with a self-signed certificate made here, a client that does
# not trust it is refused at once with a message that says what to do (not
# retried as if the server were down); with SWEEPQ_CA_FILE naming the
# certificate, an agent runs a sweep over https and the verbs read it.
. "$(dirname "$0")/lib.sh"

N=20
mkdir -p server/.sweepq remote
cat >remote/sweep.yaml <<EOF
name: tls
method: grid
command: [sh, -c, 'echo \$SWEEPQ_TRIAL >>$TEST_DIR/ledger']
parameters:
  i: {values: [$(seq -s, $N)]}
EOF
TOKEN_FILE=$TEST_DIR/server/.sweepq/server.token

expect 'a server with a self-signed certificate starts on https' '
    command -v openssl &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout key.pem -out cert.pem 2>openssl.err &&
    bg sh -c "cd server && exec \"\$0\" serve --listen 127.0.0.1:0 --tls-cert ../cert.pem \
        --tls-key ../key.pem --store sqlite:$TEST_DIR/server/.sweepq/sweepq.db" "$SWEEPQ" \
        >serve.out 2>serve.err &&
    wait_for 20 "grep -q \"serving https\" serve.out" &&
    URL=$(sed -n "s/.*serving \(https[^ ]*\).*/\1/p" serve.out) &&
    test -n "$URL"
'

expect 'a client that does not trust the certificate is refused and told what to do' '
    (cd remote && must_fail "$SWEEPQ" status --store "$URL" --token-file "$TOKEN_FILE" \
        2>../untrusted.err) &&
    grep -F "SWEEPQ_CA_FILE" untrusted.err &&
    ! grep -F "retry" untrusted.err
'

export SWEEPQ_CA_FILE=$TEST_DIR/cert.pem
expect 'with SWEEPQ_CA_FILE, an agent runs a sweep over https' '
    (cd remote && "$SWEEPQ" create sweep.yaml --store "$URL" --token-file "$TOKEN_FILE" >create.out &&
        timeout 120 "$SWEEPQ" agent -j 4 --exit-when-idle --store "$URL" \
            --token-file "$TOKEN_FILE" >agent.out 2>&1) &&
    ledger_exactly_once ledger $N
'

expect 'the verbs read the sweep over https' '
    (cd remote && "$SWEEPQ" trials tls --json --store "$URL" --token-file "$TOKEN_FILE" \
        >../trials.json) &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = $N
'

finish
