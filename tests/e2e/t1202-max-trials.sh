#!/usr/bin/env bash
# t1202-max-trials: W&B's `wandb agent --count` and hpc-sweep-manager's
# --max-runs habit (issue 16, item 9): `run --max-trials K` runs K attempts
# and exits 0 when none failed (the rest stay pending for a later run);
# `submit --max-trials K` gives each array task's agent that limit. (launch
# passes the same option to each remote agent it starts.)
. "$(dirname "$0")/lib.sh"

cat >s.yaml <<YAML
program: t.py
command: ["$PYTHON", -c, "pass"]
method: grid
parameters:
  x: {values: [1, 2, 3, 4, 5]}
YAML

expect 'run --max-trials 2 runs two trials and exits 0' '
    sq run s.yaml --max-trials 2 -j 1 >run.out 2>run.err &&
    grep -q "^s: active, 2 succeeded, 0 failed, 0 cancelled, 3 pending" run.out
'

expect 'a second run --max-trials 3 finishes the sweep, exit 0' '
    sq run s.yaml --max-trials 3 -j 1 >run2.out 2>run2.err &&
    grep -q "^s: finished, 5 succeeded" run2.out
'

cat >f.yaml <<YAML
program: t.py
command: ["$PYTHON", -c, "import sys; sys.exit(1)"]
max_attempts: 1
method: grid
parameters:
  x: {values: [1, 2, 3]}
YAML

expect 'run --max-trials still exits 1 when a trial failed' '
    must_fail_rc=0; sq run f.yaml --max-trials 1 -j 1 >f.out 2>f.err || must_fail_rc=$? &&
    test "$must_fail_rc" = 1
'

expect 'submit --max-trials K puts --max-trials K on each task'"'"'s agent' '
    sq submit s --slurm --array 2 --max-trials 4 --dry-run >sub.out 2>sub.err &&
    grep -q "agent --sweep .s. --exit-when-idle .* --max-trials 4$" sub.out
'

expect 'a negative --max-trials is a usage error' '
    rc=0; sq submit s --slurm --max-trials -1 --dry-run >neg.out 2>&1 || rc=$? &&
    test "$rc" = 2
'

finish
