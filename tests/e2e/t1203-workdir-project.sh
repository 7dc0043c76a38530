#!/usr/bin/env bash
# t1203-workdir-project: a trial runs in its own directory, so relative
# paths land under .sweepq/ (issue 16, item 16, documented loudly in
# docs/spec.md "Commands"); `workdir: .` runs every trial in the project
# directory, with the trial directory still in $SWEEPQ_TRIAL_DIR.
. "$(dirname "$0")/lib.sh"

cat >default.yaml <<'YAML'
program: t.py
command: [sh, -c, "mkdir -p results_${param.d} && pwd > results_${param.d}/where"]
method: grid
parameters:
  d: {values: [a]}
YAML

expect 'by default a relative path lands in the trial directory' '
    sq run default.yaml -j 1 >d.out 2>d.err &&
    test -f .sweepq/sweeps/default/trials/1/results_a/where &&
    test ! -e results_a
'

cat >project.yaml <<'YAML'
program: t.py
command: [sh, -c, "mkdir -p results_${param.d} && pwd > results_${param.d}/where && echo \"$SWEEPQ_TRIAL_DIR\" > results_${param.d}/trial_dir"]
workdir: .
method: grid
parameters:
  d: {values: [b]}
YAML

expect 'workdir: . runs the trial in the project; $SWEEPQ_TRIAL_DIR is still the trial'"'"'s' '
    sq run project.yaml -j 1 >p.out 2>p.err &&
    test "$(cat results_b/where)" = "$TEST_DIR" &&
    test "$(cat results_b/trial_dir)" = "$TEST_DIR/.sweepq/sweeps/project/trials/1"
'

finish
