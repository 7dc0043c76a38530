#!/bin/bash
# The server's state is the store's: kill -9 of `serve` in the middle of a
# sweep, then a restart on the same store, loses nothing (claims, leases,
# results, metrics, logs), and an agent's lease is still honoured by its
# attempt number. The server's reaper expires a lease on its own (no claim,
# no `reap`) when the agent stops heartbeating.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

sweep() { # NAME TTL TRIALS
    local t="" i
    for i in $(seq 1 "$3"); do t="$t${t:+,}{\"number\":$i,\"key\":\"k$i\",\"params_json\":\"{\\\"i\\\":$i}\"}"; done
    echo "{\"name\":\"$1\",\"spec_json\":\"{}\",\"command_json\":\"[\\\"true\\\"]\",\"max_attempts\":3,\"lease_ttl\":$2,\"total\":$3,\"trials\":[$t]}"
}
field() { json_get "$1" <resp.body; }

expect 'a server with a sweep, two trials claimed, one finished' '

    start_server --reap-every 0.2s &&
    expect_status 200 POST /api/v1/sweeps "$TOKEN" "$(sweep life 600 5)" &&
    expect_status 200 POST /api/v1/agents "$TOKEN" "{\"id\":\"a1\",\"host\":\"h\",\"pid\":1,\"slots\":2}" &&
    expect_status 200 POST /api/v1/claims "$TOKEN" "{\"agent_id\":\"a1\",\"sweep_id\":1,\"max\":2}" &&
    [ "$(field "len(d[\"claims\"])")" = 2 ] &&
    expect_status 200 POST /api/v1/trials/1/metrics "$TOKEN" "{\"attempt\":1,\"rows\":\"[{\\\"step\\\":1,\\\"loss\\\":0.25}]\"}" &&
    expect_status 200 PUT /api/v1/trials/1/log "$TOKEN" "{\"attempt\":1,\"text\":\"hello from trial 1\\n\"}" &&
    expect_status 200 POST /api/v1/trials/1/finish "$TOKEN" "{\"attempt\":1,\"outcome\":\"succeeded\",\"exit_code\":0,\"term_signal\":0,\"metrics_json\":\"{\\\"loss\\\":0.25}\"}"
'

expect 'kill -9 of the server, then a restart on the same store: nothing lost' '
    kill -9 "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null; ! kill -0 "$SERVER_PID" 2>/dev/null &&
    start_server --reap-every 0.2s &&
    expect_status 200 GET /api/v1/sweeps/life "$READ_TOKEN" &&
    [ "$(field "d[\"counts\"]")" = "{\"pending\": 3, \"running\": 1, \"succeeded\": 1, \"failed\": 0, \"cancelled\": 0, \"stopped\": 0}" ] &&
    expect_status 200 GET /api/v1/sweeps/life/trials/1 "$READ_TOKEN" &&
    [ "$(field "d[\"metrics_json\"]")" = "{\"loss\":0.25}" ] &&
    expect_status 200 GET /api/v1/trials/1/metrics "$READ_TOKEN" && body_has "0.25" &&
    expect_status 200 GET "/api/v1/trials/1/log?attempt=1" "$READ_TOKEN" && body_has "hello from trial 1"
'

expect 'the running trial keeps its lease across the restart and finishes' '
    expect_status 200 POST /api/v1/heartbeats "$TOKEN" "{\"agent_id\":\"a1\",\"leases\":[{\"trial_id\":2,\"attempt\":1}]}" &&
    [ "$(field "d[\"leases\"][0][\"lost\"]")" = false ] &&
    expect_status 200 POST /api/v1/trials/2/finish "$TOKEN" "{\"attempt\":1,\"outcome\":\"succeeded\",\"exit_code\":0,\"term_signal\":0}" &&
    expect_status 409 POST /api/v1/trials/2/finish "$TOKEN" "{\"attempt\":1,\"outcome\":\"succeeded\",\"exit_code\":0,\"term_signal\":0}" &&
    body_has ELEASE_LOST
'

expect 'the reaper expires a lease that is not renewed, without any claim or reap call' '
    expect_status 200 POST /api/v1/sweeps "$TOKEN" "$(sweep short 1 1)" &&
    id=$(field "d[\"id\"]") &&
    expect_status 200 POST /api/v1/claims "$TOKEN" "{\"agent_id\":\"a1\",\"sweep_id\":$id,\"max\":1}" &&
    [ "$(field "len(d[\"claims\"])")" = 1 ] &&
    wait_for 20 "http GET /api/v1/sweeps/short/trials/1 \"$READ_TOKEN\" >/dev/null && grep -q \"\\\"state\\\":\\\"pending\\\"\" resp.body" &&
    expect_status 200 GET /api/v1/sweeps/short/trials/1 "$READ_TOKEN" &&
    [ "$(field "d[\"last_outcome\"]")" = lost ] &&
    expect_status 200 GET /metrics "$READ_TOKEN" &&
    grep -q "^sweepq_reaped_total [1-9]" resp.body
'

expect 'the CLI reads the same store directly and agrees' '
    sq trials life --json >t.json && [ "$(json_get "len(d)" <t.json)" = 5 ] &&
    stop_server
'
finish
