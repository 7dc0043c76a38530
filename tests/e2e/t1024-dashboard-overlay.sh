#!/usr/bin/env bash
# t1024-dashboard-overlay: the sweep view of the dashboard (a real `sweepq
# serve`, headless Chromium through tests/browser/overlay.js) overlays every
# trial's curve of the sweep's metric by step, and marks each stopped trial
# with a cross where it was stopped. The trials of a bayes sweep are
# proposed, fed metric rows step by step and ended (four succeeded, two
# stopped at step 3) through the HTTP API, as agents do.
#
# Needs node, npm and chromium (scripts/install-deps), and playwright-core
# installed by t0730's `npm ci` (done here too when missing).
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/serve_lib.sh"

BROWSER_DIR="$SQ_SOURCE_DIR/tests/browser"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

expect 'node, chromium and playwright-core are there' '
    command -v node && command -v "$CHROMIUM" &&
    (
        flock 9 &&
        if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
            (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund) >npm.out 2>&1 || { cat npm.out; exit 1; }
        fi
    ) 9>"$BROWSER_DIR/.npm-lock"
'

cat >sweep.yaml <<EOF
name: overlay
method: bayes
metric: {name: loss, goal: minimize}
run_cap: 6
command: [true]
parameters:
  x: {min: 0.0, max: 1.0}
EOF

expect 'a bayes sweep and a server' '
    sq create sweep.yaml >create.out 2>&1 &&
    start_server &&
    expect_status 200 POST /api/v1/agents "$TOKEN" \
        "{\"id\":\"a1\",\"host\":\"h\",\"pid\":1,\"slots\":1,\"version\":\"t\"}"
'

# trial N: proposed and claimed, then rows loss = 1/step + N/10 for steps
# 1..9, or 1..3 for the stopped ones (2 and 5), then finished.
feed() {
    local n=$1 last=9 outcome=succeeded extra="" rows="" s id
    case $n in 2 | 5) last=3 outcome=stopped extra=",\"stopped_step\":3" ;; esac
    expect_status 200 POST /api/v1/sweeps/1/proposals "$TOKEN" \
        "{\"agent_id\":\"a1\",\"trial\":{\"number\":$n,\"key\":\"p$n\",\"params_json\":\"{\\\"x\\\":0.$n}\"}}" &&
        id=$(json_get 'd["claims"][0]["trial_id"]' <resp.body) || return 1
    for s in $(seq 1 $last); do
        rows="$rows{\\\"step\\\":$s,\\\"loss\\\":$(awk "BEGIN{print 1/$s + $n/10}")},"
    done
    expect_status 200 POST /api/v1/trials/$id/metrics "$TOKEN" "{\"attempt\":1,\"rows\":\"[${rows%,}]\"}" &&
        expect_status 200 POST /api/v1/trials/$id/finish "$TOKEN" \
            "{\"attempt\":1,\"outcome\":\"$outcome\",\"exit_code\":0,\"term_signal\":0,\"error\":null,\"metrics_json\":\"{\\\"loss\\\":$(awk "BEGIN{print 1/$last + $n/10}")}\"$extra}"
}

expect 'six trials report the metric by step; two are stopped at step 3' '
    for n in 1 2 3 4 5 6; do feed $n || return 1; done &&
    sq status overlay --json >status.json &&
    test "$(json_get "d[0][\"counts\"][\"stopped\"]" <status.json)" = 2 &&
    test "$(json_get "d[0][\"state\"]" <status.json)" = finished
'

expect 'the dashboard overlays the six curves and marks the two stops' '
    CHROMIUM=$CHROMIUM node "$BROWSER_DIR/overlay.js" "$URL" "$READ_TOKEN" overlay 6 2 "$TEST_DIR" \
        >browser.out 2>&1 || { cat browser.out; false; }
'
sed "s/^/# browser: /" browser.out
finish
