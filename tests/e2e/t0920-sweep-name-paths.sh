#!/bin/bash
# A sweep name becomes a directory under .sweepq/sweeps/, so the store
# refuses a name that is no plain file name whoever creates it (here through
# `serve`'s API, which only the CLI checked before), and an agent that finds
# such a name in a store written by something else refuses to build a path
# from it instead of writing outside the project.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

sweep_body() {
    printf '{"name":"%s","spec_json":"{}","command_json":"[\\"true\\"]","max_attempts":1,"lease_ttl":60,"total":1,"trials":[{"number":1,"key":"a","params_json":"{}"}]}' "$1"
}

expect 'creating ../../../../tmp/x through the API is refused with 400' '
    start_server &&
    expect_status 400 POST /api/v1/sweeps "$TOKEN" "$(sweep_body ../../../../tmp/x)" &&
    body_has "invalid sweep name" &&
    expect_status 400 POST /api/v1/sweeps "$TOKEN" "$(sweep_body ..)" &&
    expect_status 400 POST /api/v1/sweeps "$TOKEN" "$(sweep_body "a\\nb")" &&
    expect_status 200 GET /api/v1/sweeps "$TOKEN" && body_has "\"sweeps\":[]" &&
    stop_server
'

mkdir -p outside
cat >ok.yaml <<'YAML'
name: ok
method: grid
command: [echo, hi]
parameters:
  x: {values: [1]}
YAML

expect 'an agent does not build a trial directory from an unsafe stored name' '
    sq create ok.yaml >create.out 2>&1 &&
    sqlite3 .sweepq/sweepq.db "UPDATE sweeps SET name = '"'"'../../outside/x'"'"' WHERE name = '"'"'ok'"'"'" &&
    sq agent --exit-when-idle >agent.out 2>&1;
    grep -q "invalid sweep name" agent.out &&
    [ -z "$(ls -A outside)" ] && [ ! -e .sweepq/outside ]
'

finish
