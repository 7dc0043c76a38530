#!/usr/bin/env bash
# t1023-bayes-seed: `seed` makes a sequential bayes run reproducible: the
# same spec run twice with one agent and -j 1, in two projects, proposes the
# same parameters for every trial, past the 10 random startup trials into
# TPE's proposals. Without run_cap a bayes sweep does not finish by itself:
# it runs until cancelled.
. "$(dirname "$0")/lib.sh"

spec() {
    cat >"$1/sweep.yaml" <<EOF2
name: seeded
method: bayes
metric: {name: loss, goal: minimize}
$2
seed: 5
command: ['$PYTHON', '$TRAINER', '--steps=2', '\${args}']
parameters:
  x: {min: 0.0, max: 4.0}
  lr: {distribution: log_uniform_values, min: 0.001, max: 1.0}
  width: {values: [1, 2, 3, 4]}
EOF2
}

expect 'two projects each run the seeded sweep of 14 trials, one at a time' '
    for p in one two; do
        mkdir -p $p && spec $p "run_cap: 14" &&
        (cd $p && "$SWEEPQ" run sweep.yaml -j 1 >run.out 2>run.err) || return 1
    done
'

expect 'both ran 14 trials with the same parameters, trial by trial' '
    (cd one && "$SWEEPQ" trials seeded --json >../one.json) &&
    (cd two && "$SWEEPQ" trials seeded --json >../two.json) &&
    "$PYTHON" - <<PY
import json
a, b = (json.load(open(f)) for f in ("one.json", "two.json"))
assert len(a) == len(b) == 14, (len(a), len(b))
assert [t["params"] for t in a] == [t["params"] for t in b]
assert len({json.dumps(t["params"], sort_keys=True) for t in a}) == 14
PY
'

expect 'without run_cap the sweep goes on until cancelled' '
    mkdir -p open && spec open "" &&
    (cd open && "$SWEEPQ" create sweep.yaml >create.out 2>&1 &&
        grep -q "bayes search without run_cap" create.out &&
        "$SWEEPQ" agent --sweep seeded -j 1 --max-trials 12 >agent.out 2>agent.err &&
        "$SWEEPQ" status seeded --json >status.json &&
        test "$(json_get "d[0][\"state\"]" <status.json)" = active &&
        test "$(json_get "d[0][\"counts\"][\"succeeded\"]" <status.json)" = 12 &&
        "$SWEEPQ" cancel seeded >cancel.out 2>&1 &&
        "$SWEEPQ" status seeded --json >status2.json &&
        test "$(json_get "d[0][\"state\"]" <status2.json)" = cancelled)
'
finish
