#!/usr/bin/env bash
# t0301-agent-grid: `sweepq run` of a 3x3 grid with -j 3 of a trainer that
# reports metrics three ways: every trial succeeds once with its metrics,
# export has 9 rows, best is right, and each trial saw the environment of
# DESIGN.md "What a trial sees".
. "$(dirname "$0")/lib.sh"

cat >sweep.yaml <<EOF
name: grid
method: grid
program: $TRAINER
command: [$PYTHON, "\${program}", --ledger=$TEST_DIR/ledger, --dump_env=1, --metrics=both,
          --sleep=1.2, "\${args}"]
metric: {name: loss, goal: minimize}
env: {EXTRA_SETTING: "x-\${param.x}"}
parameters:
  x: {values: [1, 2, 3]}
  y: {values: [1, 2, 3]}
EOF

expect 'run of a 3x3 grid with -j 3 succeeds' '
    sq run sweep.yaml -j 3 >run.out 2>run.err &&
    grep -q "^grid: finished, 9 succeeded, 0 failed" run.out
'

expect 'each trial succeeded exactly once' '
    ledger_exactly_once ledger 9
'

expect 'export has 9 rows, each with its metrics' '
    sq export grid --format json -o export.json &&
    test "$(json_get "len(d)" <export.json)" = 9 &&
    test "$(json_get "sum(1 for r in d if r[\"state\"] == \"succeeded\" and \"metric.loss\" in r and \"metric.acc\" in r)" <export.json)" = 9
'

expect 'final metrics are the last values reported' '
    sq trials grid --json >trials.json &&
    test "$(json_get "[t[\"metrics\"][\"loss\"] for t in d if t[\"number\"] == 5][0]" <trials.json)" = 0.5 &&
    test "$(json_get "[t[\"metrics\"][\"loss\"] for t in d if t[\"number\"] == 1][0]" <trials.json)" = 2.5
'

expect 'the time series of each metric was stored, step by step' '
    q="SELECT count(DISTINCT m.step) FROM metrics m JOIN trials t ON t.id = m.trial_id
       WHERE t.number = 1 AND m.name = '"'"'loss'"'"'" &&
    test "$(sqlite3 .sweepq/sweepq.db "$q")" = 3
'

expect 'best is trial 5 (x=2, y=2)' '
    sq best grid -n 1 --json >best.json &&
    test "$(json_get "d[0][\"number\"] if isinstance(d, list) else d[\"trials\"][0][\"number\"]" <best.json)" = 5 &&
    grep -q "^ *1 *5 *0.5" run.out
'

expect 'trial directories hold params.json, command.txt and the attempt log' '
    dir=.sweepq/sweeps/grid/trials/4 &&
    test "$(json_get "d[\"x\"], d[\"y\"]" <$dir/params.json)" = "[2, 1]" &&
    grep -q -- "--x=2 --y=1" $dir/command.txt &&
    grep -q "^step=3 loss=" $dir/attempt-1.log
'

expect 'a trial sees its environment' '
    dir=$TEST_DIR/.sweepq/sweeps/grid/trials/4 &&
    env=$dir/env.json &&
    test "$(json_get "d[\"SWEEPQ_SWEEP\"]" <$env)" = grid &&
    test "$(json_get "d[\"SWEEPQ_TRIAL\"]" <$env)" = 4 &&
    test "$(json_get "d[\"SWEEPQ_ATTEMPT\"]" <$env)" = 1 &&
    test "$(json_get "d[\"SWEEPQ_RESUME\"]" <$env)" = 0 &&
    test "$(json_get "d[\"SWEEPQ_TRIAL_DIR\"]" <$env)" = "$dir" &&
    test "$(json_get "d[\"cwd\"]" <$env)" = "$dir" &&
    test "$(json_get "d[\"SWEEPQ_METRICS_FILE\"]" <$env)" = "$dir/metrics-1.jsonl" &&
    test "$(json_get "d[\"WANDB_RESUME\"]" <$env)" = allow &&
    test "$(json_get "d[\"WANDB_RUN_GROUP\"]" <$env)" = grid &&
    test "$(json_get "d[\"WANDB_DIR\"]" <$env)" = "$dir" &&
    json_get "d[\"WANDB_RUN_ID\"]" <$env | grep -Eq "^[0-9a-f]{16}$"
'

expect 'the spec'"'"'s env reaches the trial, with its parameters' '
    test "$(json_get "d[\"EXTRA_SETTING\"]" <.sweepq/sweeps/grid/trials/7/env.json)" = x-3
'

expect 'WANDB_RUN_ID differs between trials' '
    a=$(json_get "d[\"WANDB_RUN_ID\"]" <.sweepq/sweeps/grid/trials/1/env.json) &&
    b=$(json_get "d[\"WANDB_RUN_ID\"]" <.sweepq/sweeps/grid/trials/2/env.json) &&
    test "$a" != "$b"
'

expect 'running the same spec again runs nothing' '
    sq run sweep.yaml -j 3 >again.out 2>again.err &&
    ledger_exactly_once ledger 9 &&
    grep -q "9 succeeded" again.out
'

expect 'plain progress lines name each trial with its metrics' '
    grep -Eq "^trial [0-9] succeeded in [0-9.]+m?s: loss=" run.err
'

cat >jsonfile.yaml <<EOF
name: jsonfile
method: grid
command: [$PYTHON, -c, "import json, sys; print(\"lr=%s\" % json.load(open(sys.argv[1]))[\"lr\"])",
          "\${args_json_file}"]
metric: {name: lr, goal: minimize}
parameters:
  lr: {values: [0.25, 0.5]}
EOF

expect 'a command reading \${args_json_file} finds params.json at its start' '
    sq run jsonfile.yaml >jsonfile.out 2>jsonfile.err &&
    sq trials jsonfile --json >jsonfile.json &&
    test "$(json_get "[t[\"metrics\"][\"lr\"] for t in d]" <jsonfile.json)" = "[0.25, 0.5]"
'

finish
