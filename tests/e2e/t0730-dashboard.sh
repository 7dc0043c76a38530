#!/usr/bin/env bash
# t0730-dashboard: the dashboard at / of a real `sweepq serve`, in a real
# headless Chromium (Debian's /usr/bin/chromium driven by the npm package
# playwright-core, tests/browser/dashboard.js). A sweep runs while the page is
# open: an agent over HTTP runs trainer.py trials that sleep a little, write
# metrics step by step and fail on purpose when y=4, on GPUs read from a
# snapshot. The page must list the sweep and the agent with its GPUs, draw
# the trial table, the parallel coordinates, every trial's curve of the
# metric overlaid by step and a trial's metric curves,
# filter, search and sort, show live progress and a trial's log, say when
# the server is killed and carry on by itself once it is back. The assets
# are the files of web/ byte for byte, served without a token.
#
# Needs node, npm and chromium (scripts/install-deps installs them); the
# first run installs playwright-core into tests/browser/node_modules with
# `npm ci` from its package-lock.json. Env DASHBOARD_PNG=PATH also saves the
# final screenshot there (docs/dashboard.png is made so).
. "$(dirname "$0")/lib.sh"

BROWSER_DIR="$SQ_SOURCE_DIR/tests/browser"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
unset CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER SWEEPQ_GPU_SNAPSHOT SWEEPQ_TOKEN SWEEPQ_TOKEN_FILE

expect 'node, npm and chromium are installed' '
    (
        for tool in node npm "$CHROMIUM"; do
            command -v "$tool" || { echo "# $tool is missing: run scripts/install-deps" >&2; exit 1; }
        done
    )
'

# npm ci once per checkout; the lock keeps two tests from installing at once.
expect 'playwright-core is installed from the lock file' '
    (
        flock 9 &&
        if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
            (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund) >npm.out 2>&1 ||
                { cat npm.out; exit 1; }
        fi
    ) 9>"$BROWSER_DIR/.npm-lock" &&
    test -f "$BROWSER_DIR/node_modules/playwright-core/package.json"
'

cat >sweep.yaml <<EOF
name: dash
method: grid
program: $TRAINER
command: [$PYTHON, "\${program}", --metrics=both, --steps=6, --sleep=1.5, --fail_if=y:4, "\${args}"]
metric: {name: loss, goal: minimize}
max_attempts: 1
resources: {gpus: 1}
parameters:
  x: {values: [1, 1.5, 2, 2.5, 3, 3.5]}
  y: {values: [0.5, 1, 2, 4]}
  opt: {values: [adam, sgd]}
EOF

# serve picks a free port (port 0) and prints its URL on its first line:
# "sweepq: serving URL (store STORE)".
expect 'serve starts on a free port with a sweep of 48 trials' '
    sq create sweep.yaml >create.out 2>&1 &&
    bg sq serve --listen 127.0.0.1:0 >serve.out 2>serve.err &&
    SERVE_PID=$! &&
    wait_for 30 "grep -q \"^sweepq: serving http://127.0.0.1:[0-9]\" serve.out" &&
    BASE=$(sed -n "1s/^sweepq: serving \(http:[^ ]*\).*/\1/p" serve.out) &&
    BASE=${BASE%/} &&
    wait_for 30 "curl -fsS $BASE/api/v1/health" &&
    test -s .sweepq/server.read-token
'
TOKEN=$(cat .sweepq/server.read-token 2>/dev/null)

expect 'serve prints the dashboard URL with the read token in its fragment' '
    grep -qxF "sweepq: dashboard: $BASE/#token=$TOKEN" serve.out
'

expect 'the assets are the files of web/, byte for byte, with no token' '
    curl -fsS -D index.h -o index.html $BASE/ &&
    cmp index.html "$SQ_SOURCE_DIR/web/index.html" &&
    curl -fsS -o index2.html $BASE/index.html &&
    cmp index2.html "$SQ_SOURCE_DIR/web/index.html" &&
    grep -qi "^content-type: text/html" index.h &&
    curl -fsS -D app.h -o app.js $BASE/assets/app.js &&
    cmp app.js "$SQ_SOURCE_DIR/web/app.js" &&
    grep -qi "^content-type: text/javascript" app.h &&
    curl -fsS -o uplot.js $BASE/assets/vendor/uplot/uPlot.iife.min.js &&
    cmp uplot.js "$SQ_SOURCE_DIR/web/vendor/uplot/uPlot.iife.min.js" &&
    code=$(curl -s -o /dev/null -w "%{http_code}" $BASE/assets/nothing.js) &&
    test "$code" = 404
'

# succeeded: how many trials of the sweep succeeded, read over the API.
succeeded() {
    curl -fsS -H "Authorization: Bearer $TOKEN" -o sweep.json $BASE/api/v1/sweeps/dash &&
        json_get 'd["counts"]["succeeded"]' <sweep.json
}

expect 'an agent over HTTP runs the sweep' '
    bg sq agent --store $BASE -j 2 --gpu-snapshot "$SQ_SOURCE_DIR/tests/gpu/h100x4-idle.json" \
        >agent.out 2>agent.err &&
    wait_for 60 "test \$(succeeded) -ge 1"
'

# Mid-way the driver stops serve (kill -9) and starts it again on the same
# address (the page must notice and carry on); the restarted server's pid is
# in serve2.pid, killed at exit.
expect 'the dashboard passes its checks in headless Chromium' '
    CHROMIUM=$CHROMIUM \
    DASHBOARD_STOP="kill -9 $SERVE_PID" \
    DASHBOARD_START="$SWEEPQ serve --listen ${BASE#http://} >serve2.out 2>&1 </dev/null & echo \$! >serve2.pid" \
        node "$BROWSER_DIR/dashboard.js" "$BASE" "$TOKEN" dash "$TEST_DIR" >browser.out 2>&1
'
test -s serve2.pid && BG_PIDS+=("$(cat serve2.pid)")
sed "s/^/# browser: /" browser.out

# One line per check of dashboard.js, so a failure names what broke.
for check in 'without a token the page asks for one, and takes a pasted one' \
    'the sweep list loads with the token from the fragment' \
    'agents are listed with their last heartbeat and GPUs' \
    'the trial table draws with rows' \
    'live progress moves' \
    'the parallel-coordinates plot draws' \
    "every trial's curve of the metric is overlaid by step" \
    'a line of the parallel coordinates names its trial and selects it' \
    'filtering by state changes the rows' \
    'searching the parameters keeps the matching rows' \
    'sorting by the metric column orders the rows' \
    'a trial shows its metric curves' \
    "the log viewer shows the trial's output" \
    'the page says when the server is gone and carries on when it is back' \
    'the page ran without script errors'; do
    expect "page: $check" 'grep -qxF "ok - $check" browser.out'
done

expect 'a screenshot of the page was taken' '
    test -s dashboard.png &&
    test "$(head -c 8 dashboard.png | od -An -tx1 | tr -d " ")" = 89504e470d0a1a0a
'

finish
