#!/bin/bash
# `sweepq serve` checks the token from the headers before it reads a body
# (issue 11 item 9): 40 tokenless connections that each send an 8 MB body
# leave the server's memory where it was (its peak resident set, VmHWM,
# grows by far less than one such body per connection), each is answered 401
# or closed, and the server goes on answering with and without a token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

expect 'the server starts and answers' '
    start_server &&
    expect_status 200 GET /api/v1/health "" &&
    expect_status 200 POST /api/v1/reap "$TOKEN" "{}"
'

expect 'a tokenless request with a body is 401 at once, its body unread' '
    got=$(curl -sS -o resp.body -w "%{http_code}" --max-time 20 \
          -H "Content-Type: application/json" --data-binary "{}" "$URL/api/v1/reap") &&
    [ "$got" = 401 ] && body_has "EAUTH"
'

expect '40 tokenless 8 MB bodies do not grow the server by 40 bodies' '
    base=$(rss_kb "$SERVER_PID") && [ -n "$base" ] &&
    port=${URL##*:} &&
    "$PYTHON" "$SQ_SOURCE_DIR/tests/e2e/unauth_flood.py" 127.0.0.1 "$port" "$SERVER_PID" 40 8000000 >flood.out &&
    cat flood.out && read -r line <flood.out &&
    hwm=$(echo "$line" | sed "s/.*hwm_kb=\([0-9]*\).*/\1/") &&
    answered=$(echo "$line" | sed "s/.*answered_401=\([0-9]*\).*/\1/") &&
    closed=$(echo "$line" | sed "s/.*closed=\([0-9]*\).*/\1/") &&
    echo "# base ${base} kB, peak ${hwm} kB" &&
    [ "$hwm" -lt $((base + 65536)) ] &&
    [ $((answered + closed)) -eq 40 ]
'

expect 'the server goes on: health, a tokenless 401 and an authorised write' '
    pid_alive "$SERVER_PID" &&
    expect_status 200 GET /api/v1/health "" &&
    expect_status 401 GET /api/v1/sweeps "" &&
    expect_status 200 POST /api/v1/reap "$TOKEN" "{}" && body_has "\"reaped\":0"
'

expect 'an authorised body of 7 MB is still read' '
    head -c 7000000 /dev/zero | tr "\0" " " >big.json && echo "{}" >>big.json &&
    got=$(curl -sS -o resp.body -w "%{http_code}" --max-time 60 -H "Authorization: Bearer $TOKEN" \
          --data-binary @big.json "$URL/api/v1/reap") &&
    [ "$got" = 200 ] && body_has "\"reaped\":0"
'

stop_server
finish
