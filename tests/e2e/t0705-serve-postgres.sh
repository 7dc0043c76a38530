#!/bin/bash
# `sweepq serve --store postgresql://...`: the server in front of a real
# PostgreSQL (started by this test with tests/pg-up.sh, stopped at exit),
# one connection per worker thread: eight clients claiming and finishing
# at once through it get each trial exactly once, and the CLI reading
# PostgreSQL directly sees the same sweep.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

PG_DIR=$(SQ_PG_OWNER=$$ "$SQ_SOURCE_DIR/tests/pg-up.sh") || { echo "not ok - PostgreSQL did not start"; exit 1; }
trap '"$SQ_SOURCE_DIR/tests/pg-down.sh" "$PG_DIR" --rm; lib_cleanup' EXIT
PG_URL=$(cat "$PG_DIR/url")
N=100

expect 'serve starts on PostgreSQL, with its tokens in the project here' '

    start_server --store "$PG_URL" --threads 4 &&
    grep -q "(store postgres" serve.out &&
    ! grep -q "password=" serve.out &&
    [ -s .sweepq/server.token ]
'

expect 'a sweep created through the server' '
    t="" && for i in $(seq 1 $N); do t="$t${t:+,}{\"number\":$i,\"key\":\"k$i\",\"params_json\":\"{}\"}"; done &&
    expect_status 200 POST /api/v1/sweeps "$TOKEN" "{\"name\":\"pgserve\",\"spec_json\":\"{}\",\"command_json\":\"[\\\"true\\\"]\",\"max_attempts\":1,\"lease_ttl\":600,\"total\":$N,\"trials\":[$t]}" &&
    SWEEP_ID=$(json_get "d[\"id\"]" <resp.body)
'

expect 'eight clients through the server get each trial exactly once' '
    pids="" &&
    for n in 1 2 3 4 5 6 7 8; do client $n "$SWEEP_ID" & pids="$pids $!"; done &&
    ok=0 && for p in $pids; do wait $p || ok=1; done && [ $ok = 0 ] &&
    cat done.* | sort -n >all &&
    [ "$(wc -l <all)" = $N ] && [ "$(sort -u all | wc -l)" = $N ] &&
    ! grep -v "^200$" codes.*
'

expect 'PostgreSQL read directly agrees' '
    sq trials pgserve --state succeeded --json --store "$PG_URL" >t.json &&
    [ "$(json_get "len(d)" <t.json)" = $N ] &&
    expect_status 200 GET /metrics "$READ_TOKEN" &&
    grep -q "^sweepq_trials{sweep=\"pgserve\",state=\"succeeded\"} $N\$" resp.body &&
    stop_server
'
finish
