#!/usr/bin/env bash
# t1200-wandb-habits: W&B files run as `wandb agent` runs them (issue 16,
# items 1-3 and 5): parameters sorted by name at every level for grid order
# and ${args}; a nested parameter is one argument holding its dict in
# Python's repr, so W&B's own nested-params example parses its command line;
# a repeated grid value runs once; and each trial gets W&B's config file
# (WANDB_SWEEP_PARAM_PATH) and the spec's project, which the example reads
# the way wandb.init() does. The sweep: form keeps its written order and
# writes null/true/false as hpc-sweep-manager does.
. "$(dirname "$0")/lib.sh"

expect 'quickstart trial 1 is W&B'"'"'s: --batch_size=16 --epochs=5 --lr=0.001' '
    sq create "$SQ_SOURCE_DIR/examples/quickstart/sweep.yaml" --dry-run --json >qs.json &&
    test "$(json_get "\" \".join(d[0][\"argv\"][3:])" <qs.json)" = "--batch_size=16 --epochs=5 --lr=0.001" &&
    test "$(json_get "[t[\"params\"][\"batch_size\"] for t in d[:4]]" <qs.json)" = "[16, 16, 16, 32]"
'

cat >cap.yaml <<'YAML'
program: t.py
method: grid
run_cap: 2
parameters:
  z: {values: [1, 2]}
  a: {values: [x, y]}
YAML

expect 'run_cap keeps the first trials of the sorted grid, as W&B does' '
    sq create cap.yaml --dry-run --json >cap.json &&
    test "$(json_get "str([(t[\"params\"][\"a\"], t[\"params\"][\"z\"]) for t in d])" <cap.json)" = "[('"'"'x'"'"', 1), ('"'"'x'"'"', 2)]"
'

cat >dup.yaml <<'YAML'
program: t.py
method: grid
parameters:
  v1: {values: [null, 2, 3, a, [2, 3], 3]}
  v2: {values: [a, b, "c'"]}
  v3: {values: [1, 1.0]}
YAML

expect 'repeated grid values run once (W&B'"'"'s own test: 15 runs, not 18)' '
    sq create dup.yaml --dry-run --json >dup.json &&
    test "$(json_get "len(d)" <dup.json)" = 15
'

# W&B's examples/nested-params sweep file, as it ships, but for the program
# (tests/e2e/compat/ holds its command line) and the interpreter.
cat >nested.yaml <<YAML
description: sweep examples with nested parameters using cli
program: $SQ_SOURCE_DIR/tests/e2e/compat/train-nested-cli.py
command: ["\${env}", "$PYTHON", "\${program}", "\${args}"]
project: sweeps-examples
method: grid
metric:
  name: loss
  goal: minimize
parameters:
  batch_size:
    values: [32, 64]
  optimizer:
    parameters:
      lr:
        values: [0.001, 0.0001]
      nadam:
        parameters:
          beta:
            values: [0.9, 0.95]
YAML

expect 'W&B'"'"'s nested-params example runs its 8 trials unchanged' '
    sq run nested.yaml -j 2 >run.out 2>run.err &&
    grep -q "^nested: finished, 8 succeeded, 0 failed" run.out
'

expect 'trial 1 got --optimizer as one dict, keys sorted, as W&B'"'"'s agent passes it' '
    r=.sweepq/sweeps/nested/trials/1/result.json &&
    test "$(json_get "d[\"argv_optimizer\"]" <$r)" = "{'"'"'lr'"'"': 0.001, '"'"'nadam'"'"': {'"'"'beta'"'"': 0.9}}"
'

expect 'wandb.config (read from WANDB_SWEEP_PARAM_PATH) holds the nested values and the project' '
    r=.sweepq/sweeps/nested/trials/8/result.json &&
    test "$(json_get "str(d[\"config\"][\"optimizer\"])" <$r)" = "{'"'"'lr'"'"': 0.0001, '"'"'nadam'"'"': {'"'"'beta'"'"': 0.95}}" &&
    test "$(json_get "d[\"config\"][\"batch_size\"]" <$r)" = 64 &&
    test "$(json_get "d[\"project\"]" <$r)" = sweeps-examples
'

# ${args_json_file} (TRIAL_DIR/params.json, written before the start when
# the command names it) holds W&B's args_json: nested, keys in order.
cat >argsjson.yaml <<YAML
program: t.py
command: ["$PYTHON", -c, "import os, shutil, sys; shutil.copy(sys.argv[1], os.environ['SWEEPQ_TRIAL_DIR'] + '/copy.json')", "\${args_json_file}"]
method: grid
parameters:
  z: {value: 1}
  opt:
    parameters:
      name: {value: adam}
      lr: {value: 0.1}
YAML

expect 'params.json nests the same way; sweepq'"'"'s own tables keep dotted names' '
    sq run argsjson.yaml -j 1 >aj.out 2>aj.err &&
    test "$(cat .sweepq/sweeps/argsjson/trials/1/copy.json)" = "{\"opt\": {\"lr\": 0.1, \"name\": \"adam\"}, \"z\": 1}" &&
    sq trials nested --json >trials.json &&
    test "$(json_get "str(sorted(d[0][\"params\"]))" <trials.json)" = "['"'"'batch_size'"'"', '"'"'optimizer.lr'"'"', '"'"'optimizer.nadam.beta'"'"']"
'

cat >hsm.yaml <<'YAML'
program: train.py
sweep:
  grid:
    z: [null]
    a: [true, false]
YAML

expect 'the sweep: form keeps its written order and Hydra'"'"'s null/true/false' '
    sq create hsm.yaml --dry-run --json >hsm.json &&
    test "$(json_get "\" \".join(d[1][\"argv\"][3:])" <hsm.json)" = "z=null a=false"
'

finish
