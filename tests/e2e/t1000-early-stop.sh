#!/usr/bin/env bash
# t1000-early-stop: a hyperband sweep (early_terminate: {type: hyperband,
# min_iter: 2, eta: 2}: bands 2, 4, 8) run by 4 agents on SQLite, on
# PostgreSQL (tests/pg-up.sh) and through `sweepq serve` stops exactly the
# trials W&B's rule stops, as a table computed here independently
# (expected.py, from the trials' deterministic curves) says; stopped trials
# are final (never rerun, not even by `retry`), the sweep finishes with them
# counted as done, and on SQLite an agent killed with SIGKILL mid-sweep
# loses nothing (its trial runs again elsewhere, with the same verdict).
#
# The order in which trials reach a band decides the threshold, so the test
# makes it deterministic: each trial waits for its gate file (the test opens
# one at a time, after the previous trial is final), and after reporting
# the value of a band's step it waits for the agent's verdict in its own log
# ("sweepq: early_terminate at step B ...": goes on, or SIGTERM). Steps are
# the n-th value of the metric (docs/search.md).
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

N=8

cat >curves.py <<'EOF'
A = [0.30, 0.10, 0.50, 0.20, 0.05, 0.40, 0.15, 0.60]
B = [1.00, 2.00, 0.50, 1.50, 3.00, 0.80, 1.20, 0.30]
EPOCHS = 8


def loss(i, e):
    """Trial i's loss after epoch e: falls as B/e towards A."""
    return round(A[i - 1] + B[i - 1] / e, 6)
EOF

# W&B's rule (wandb/sweeps hyperband_stopping.py) replayed trial by trial in
# the gate order: bands int(min_iter * eta^k); at band b the values at step b
# of every trial that reached it (this one included), sorted; threshold =
# sorted[int((1/eta) * n)]; stop when the value is greater (minimize). A
# stopped trial's history ends at its band.
cat >expected.py <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from curves import loss, EPOCHS
N, MIN_ITER, ETA = int(sys.argv[2]), 2, 2.0
bands, band = [], MIN_ITER
for _ in range(100):
    bands.append(int(band))
    band *= ETA
r = 1.0 / ETA
hist = {}
for i in range(1, N + 1):
    c = [loss(i, e) for e in range(1, EPOCHS + 1)]
    stopped = None
    for b in (b for b in bands if b <= EPOCHS):
        vals = [h[b - 1] for h in hist.values() if len(h) >= b] + [c[b - 1]]
        if c[b - 1] > sorted(vals)[int(r * len(vals))]:
            stopped = b
            break
    hist[i] = c[:stopped] if stopped else c
    print(i, 'stopped' if stopped else 'succeeded', stopped or 'null')
EOF

# The trial: waits for its gate, then prints one line per epoch (with lr and
# w, which must not become metrics); after each band's step it waits for the
# agent's verdict in its log. It leaves when its agent is gone (an orphan of
# the agent killed below) and never waits without a deadline.
cat >trial.py <<'EOF'
import os, sys, time
sys.path.insert(0, sys.argv[1])
from curves import loss, EPOCHS
i, gates = int(sys.argv[2]), sys.argv[3]
log = os.path.join(os.environ['SWEEPQ_TRIAL_DIR'], 'attempt-%s.log' % os.environ['SWEEPQ_ATTEMPT'])
parent = os.getppid()


def wait(cond):
    deadline = time.time() + 300
    while not cond():
        if os.getppid() != parent or time.time() > deadline:
            sys.exit(3)
        time.sleep(0.05)


wait(lambda: os.path.exists(os.path.join(gates, str(i))))
for e in range(1, EPOCHS + 1):
    print('epoch %d lr=0.1 w=256 loss=%s' % (e, loss(i, e)), flush=True)
    if e in (2, 4, 8):
        mark = 'sweepq: early_terminate at step %d ' % e
        wait(lambda: mark in open(log).read())
EOF

python3 expected.py "$TEST_DIR" $N >expected.txt

# run_backend NAME STORE KILL: creates sweep NAME on STORE, starts 4 agents,
# opens the gates one by one (with KILL=1, first kills the agent of trial 3
# with SIGKILL) and checks the outcome against expected.txt.
run_backend() {
    local name=$1 store=$2 kill=$3 i agents=() victim=
    mkdir -p "gates-$name"
    cat >"$name.yaml" <<EOF
name: $name
method: grid
metric: {name: loss, goal: minimize}
early_terminate: {type: hyperband, min_iter: 2, eta: 2}
command: [$PYTHON, $TEST_DIR/trial.py, $TEST_DIR, '\${param.i}', $TEST_DIR/gates-$name]
lease_ttl: 3s
max_attempts: 3
parameters:
  i: {values: [$(seq -s, $N)]}
EOF
    sq create "$name.yaml" --store "$store" >"$name.create" 2>&1 || return 1
    for i in 1 2 3 4; do
        bg sq agent --store "$store" --sweep "$name" -j 1 --exit-when-idle \
            >"$name.agent$i.out" 2>"$name.agent$i.err"
        agents+=($!)
    done
    state_of() { # state_of N: the state of trial N (and its agent's pid in $agent_pid)
        sq trials "$name" --json --store "$store" >"$name.trials.json" 2>/dev/null &&
            json_get "[t for t in d if t['number'] == $1][0]['state']" <"$name.trials.json"
    }
    if [ "$kill" = 1 ]; then
        wait_for 120 "test \"\$(state_of 3)\" = running" || return 1
        victim=$(json_get "[t for t in d if t['number'] == 3][0]['agent'].split(':')[1]" \
            <"$name.trials.json")
        kill -9 "$victim" || return 1
        echo "killed agent $victim holding trial 3" >"$name.kill"
    fi
    for i in $(seq $N); do
        touch "gates-$name/$i"
        wait_for 180 "case \"\$(state_of $i)\" in succeeded|stopped) true;; *) false;; esac" ||
            { cat "$name.trials.json" >&2; return 1; }
    done
    for p in "${agents[@]}"; do
        [ "$p" = "$victim" ] && continue
        wait "$p" || { echo "# agent $p failed" >&2; return 1; }
    done
    sq trials "$name" --json --store "$store" >"$name.trials.json" &&
        json_get "'\n'.join('%d %s %s' % (t['number'], t['state'],
                  t['stopped_step'] if t['stopped_step'] is not None else 'null') for t in d)" \
            <"$name.trials.json" >"$name.got" &&
        diff expected.txt "$name.got" >&2 || return 1
    # Only the spec's metric came from the lines "epoch 1 lr=0.1 w=256 loss=...".
    test "$(json_get "sorted(set(k for t in d for k in t['metrics']))" <"$name.trials.json")" = '["loss"]' || return 1
    # Attempts: one each, two for the trial whose agent was killed.
    test "$(json_get "[t['attempts'] for t in d]" <"$name.trials.json")" = \
        "$([ "$kill" = 1 ] && echo '[1, 1, 2, 1, 1, 1, 1, 1]' || echo '[1, 1, 1, 1, 1, 1, 1, 1]')" || return 1
}

# check_final NAME STORE: stopped is final: retry puts nothing back, the sweep
# is finished and `wait` counts the stopped trials as done (exit 0).
check_final() {
    local name=$1 store=$2
    sq retry "$name" --store "$store" >"$name.retry" 2>&1 &&
        sq trials "$name" --json --store "$store" >"$name.after.json" &&
        test "$(json_get "[t['state'] for t in d].count('stopped')" <"$name.after.json")" = \
            "$(grep -c stopped expected.txt)" &&
        sq wait "$name" --store "$store" --timeout 30s >"$name.wait" 2>&1 &&
        grep -q "^$name: finished, $(grep -c succeeded expected.txt) succeeded, 0 failed, 0 cancelled, $(grep -c stopped expected.txt) stopped early$" "$name.wait" &&
        sq status "$name" --json --store "$store" >"$name.status.json" &&
        test "$(json_get "d['counts']['stopped'] if isinstance(d, dict) else d[0]['counts']['stopped']" <"$name.status.json")" = "$(grep -c stopped expected.txt)"
}

expect 'the expected table stops some trials at each band and lets others finish' '
    grep -q "stopped 2" expected.txt && grep -q "stopped 4" expected.txt &&
    grep -q "stopped 8" expected.txt && grep -q succeeded expected.txt
'

expect 'SQLite: 4 agents stop exactly the trials of the table; an agent killed mid-sweep loses nothing' '
    run_backend lite "sqlite:$TEST_DIR/lite.db" 1
'
expect 'SQLite: stopped trials are final and count as done' '
    check_final lite "sqlite:$TEST_DIR/lite.db"
'

PG_DIR=$(SQ_PG_OWNER=$$ "$SQ_SOURCE_DIR/tests/pg-up.sh") || { echo "not ok - PostgreSQL did not start"; exit 1; }
trap '"$SQ_SOURCE_DIR/tests/pg-down.sh" "$PG_DIR" --rm; lib_cleanup' EXIT
PG_URL=$(cat "$PG_DIR/url")

expect 'PostgreSQL: 4 agents stop exactly the trials of the table' '
    run_backend pg "$PG_URL" 0
'
expect 'PostgreSQL: stopped trials are final and count as done' '
    check_final pg "$PG_URL"
'

expect 'serve: 4 agents through the HTTP API stop exactly the trials of the table' '
    http_serve_start 127.0.0.1:0 &&
    export SWEEPQ_TOKEN_FILE="$TEST_DIR/server/.sweepq/server.token" &&
    run_backend served "$URL" 0
'
expect 'serve: stopped trials are final and count as done' '
    check_final served "$URL"
'

finish
