#!/bin/bash
# `sweepq serve` refuses what it must and keeps serving: the token matrix
# (none, wrong, read-only on writes; read-only fine for GET and /metrics),
# token files made once with mode 0600 and printed once, --token-file and
# --read-token-file, oversized bodies (by Content-Length and chunked) and
# headers, malformed JSON, unknown fields and wrong types with a message
# naming the field, and a clean stop on SIGTERM and SIGINT.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

SWEEP='{"name":"s","spec_json":"{}","command_json":"[\"true\"]","max_attempts":2,"lease_ttl":60,"total":2,"trials":[{"number":1,"key":"a","params_json":"{}"},{"number":2,"key":"b","params_json":"{}"}]}'

expect 'the first start makes both tokens with mode 0600 and prints them once' '

    start_server &&
    [ "$(stat -c %a .sweepq/server.token)" = 600 ] &&
    [ "$(stat -c %a .sweepq/server.read-token)" = 600 ] &&
    [ ${#TOKEN} -eq 64 ] && [ ${#READ_TOKEN} -eq 64 ] && [ "$TOKEN" != "$READ_TOKEN" ] &&
    grep -q "$TOKEN" serve.out && grep -q "$READ_TOKEN" serve.out &&
    case "$URL" in http://127.0.0.1:*) true ;; *) false ;; esac
'

expect 'health needs no token; everything else does' '
    expect_status 200 GET /api/v1/health "" && body_has "\"ok\":true" &&
    expect_status 401 GET /api/v1/sweeps "" && body_has "\"EAUTH\"" &&
    expect_status 401 GET /metrics "" &&
    expect_status 401 POST /api/v1/sweeps "" "$SWEEP" &&
    expect_status 401 GET /api/v1/no/such/path ""
'

expect 'a wrong token is refused for reads and writes' '
    case "$TOKEN" in *0) last=1 ;; *) last=0 ;; esac &&
    wrong=${TOKEN%?}$last && [ "$wrong" != "$TOKEN" ] && [ ${#wrong} -eq ${#TOKEN} ] &&
    expect_status 401 GET /api/v1/sweeps "$wrong" &&
    expect_status 401 GET /api/v1/sweeps "${TOKEN}0" &&
    expect_status 401 POST /api/v1/reap "not-the-token" "{}" &&
    got=$(curl -sS -o resp.body -w "%{http_code}" -H "Authorization: Basic $TOKEN" "$URL/api/v1/sweeps") &&
    [ "$got" = 401 ]
'

expect 'the read-only token reads but is refused every write with 403' '
    expect_status 200 GET /api/v1/sweeps "$READ_TOKEN" &&
    expect_status 200 GET /metrics "$READ_TOKEN" &&
    expect_status 403 POST /api/v1/sweeps "$READ_TOKEN" "$SWEEP" && body_has "read-only" &&
    expect_status 403 POST /api/v1/reap "$READ_TOKEN" "{}" &&
    expect_status 403 PUT /api/v1/trials/1/log "$READ_TOKEN" "{\"attempt\":1,\"text\":\"x\"}" &&
    expect_status 403 DELETE /api/v1/agents/x "$READ_TOKEN" &&
    expect_status 200 GET /api/v1/sweeps "$READ_TOKEN" && body_has "\"sweeps\":[]"
'

expect 'the write token writes' '
    expect_status 200 POST /api/v1/sweeps "$TOKEN" "$SWEEP" && body_has "\"added\":2" &&
    expect_status 200 GET /api/v1/sweeps/s "$READ_TOKEN" && body_has "\"pending\":2"
'

expect 'malformed JSON, unknown fields and wrong types are 400 naming the field' '
    expect_status 400 POST /api/v1/claims "$TOKEN" "{\"agent_id\":" && body_has "invalid JSON" &&
    expect_status 400 POST /api/v1/claims "$TOKEN" "{\"agent_id\":\"a\",\"sweep_id\":1,\"max\":1,\"colour\":1}" &&
    body_has "unknown field '"'"'colour'"'"'" &&
    expect_status 400 POST /api/v1/claims "$TOKEN" "{\"agent_id\":\"a\",\"sweep_id\":1,\"max\":\"2\"}" &&
    body_has "field '"'"'max'"'"' must be an integer" &&
    expect_status 400 POST /api/v1/sweeps "$TOKEN" "{\"name\":\"t\",\"spec_json\":{}}" &&
    body_has "spec_json" &&
    expect_status 400 POST /api/v1/claims "$TOKEN" "[]" && body_has "JSON object" &&
    expect_status 400 POST /api/v1/claims "$TOKEN" "$(printf "{\"agent_id\":\"\\377\"}")" &&
    expect_status 400 GET "/api/v1/sweeps?colour=red" "$TOKEN" && body_has "colour" &&
    expect_status 405 PATCH /api/v1/sweeps "$TOKEN" && body_has "EMETHOD" &&
    expect_status 404 GET /api/v1/nothing "$TOKEN" && body_has "ENOROUTE"
'

expect 'a body over 8 MiB is 413, by Content-Length or chunked, and the server goes on' '
    head -c 9000000 /dev/zero | tr "\0" " " >big.json &&
    got=$(curl -sS -o resp.body -w "%{http_code}" -H "Authorization: Bearer $TOKEN" \
          --data-binary @big.json "$URL/api/v1/reap") &&
    [ "$got" = 413 ] && body_has "ETOOBIG" &&
    got=$(curl -sS -o resp.body -w "%{http_code}" -H "Authorization: Bearer $TOKEN" \
          -H "Transfer-Encoding: chunked" --data-binary @big.json "$URL/api/v1/reap") &&
    [ "$got" = 413 ] && body_has "ETOOBIG" &&
    expect_status 200 POST /api/v1/reap "$TOKEN" "{}" && body_has "\"reaped\":0"
'

expect 'headers over the limit are refused and the server goes on' '
    long=$(head -c 70000 /dev/zero | tr "\0" a) &&
    got=$(curl -sS -o resp.body -w "%{http_code}" -H "X-Long: $long" "$URL/api/v1/health") &&
    [ "$got" -ge 400 ] && [ "$got" -lt 500 ] &&
    expect_status 200 GET /api/v1/health ""
'

expect 'SIGTERM stops the server cleanly (exit 0)' '
    kill -TERM "$SERVER_PID" && wait "$SERVER_PID" &&
    grep -q "stopping the server" serve.err
'

expect 'a second start reuses the tokens and does not print them' '
    old=$TOKEN && start_server &&
    [ "$TOKEN" = "$old" ] &&
    ! grep -q "$TOKEN" serve.out && ! grep -q "$READ_TOKEN" serve.out &&
    grep -q "write token in .*server.token" serve.out &&
    expect_status 200 GET /api/v1/sweeps/s "$TOKEN" &&
    kill -INT "$SERVER_PID" && wait "$SERVER_PID"
'

expect '--token-file and --read-token-file name other tokens' '
    echo "my-own-write-token" >w.tok && echo "my-own-read-token" >r.tok &&
    start_server --token-file w.tok --read-token-file r.tok &&
    expect_status 200 POST /api/v1/reap my-own-write-token "{}" &&
    expect_status 401 POST /api/v1/reap "$(cat .sweepq/server.token)" "{}" &&
    expect_status 200 GET /api/v1/sweeps my-own-read-token &&
    expect_status 403 POST /api/v1/reap my-own-read-token "{}" &&
    stop_server
'

expect 'serve refuses a bad listen address, a taken port, one TLS file, equal tokens' '
    must_fail sq serve --listen nowhere 2>err && grep -q "listen address" err &&
    start_server && port=${URL##*:} &&
    must_fail sq serve --listen "127.0.0.1:$port" 2>err && grep -q "Address already in use" err &&
    stop_server &&
    must_fail sq serve --listen 127.0.0.1:0 --tls-cert w.tok 2>err && grep -q "tls-key" err &&
    must_fail sq serve --listen 127.0.0.1:0 --token-file w.tok --read-token-file w.tok 2>err &&
    grep -q "same" err
'
finish
