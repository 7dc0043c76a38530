#!/usr/bin/env bash
# t0800-submit-scripts: the job scripts 'sweepq submit --dry-run' writes.
# PBS Pro and Torque scripts equal the reviewed files in tests/pbs/ (with
# @ROOT@ and @SWEEPQ@ for this run's project root and binary); Slurm scripts
# carry the preemption directives; .sweepq/config.yaml's submit: gives the
# defaults and the command line wins; bad requests are refused. No
# scheduler is needed: nothing is submitted.
. "$(dirname "$0")/lib.sh"

SELF=$(readlink -f "$SWEEPQ")
cat >sweep.yaml <<EOF
name: sc
method: grid
command: [true, "\${args}"]
parameters:
  x: {values: [1, 2, 3]}
EOF
cat >config-submit.yaml <<EOF
submit:
  scheduler: slurm
  partition: short
  time: "00:20:00"
  array: 3
  cpus: 2
  grace: 2m
  extra: |
    --constraint=cpu
    --exclusive
EOF
jobs=.sweepq/sweeps/sc/jobs

# normalize FILE: the run's own paths replaced by the placeholders.
normalize() { sed -e "s|$SELF|@SWEEPQ@|g" -e "s|$TEST_DIR|@ROOT@|g" "$1"; }

expect 'PBS Pro script matches the reviewed file' '
    sq create sweep.yaml >create.out &&
    sq submit sc --pbs --pbs-flavor pro --array 8 --cpus 4 --gpus-per-task 1 --mem 16GiB \
        --time 04:00:00 --partition gpuq --account proj1 --extra "-l place=scatter" \
        --dry-run >pro.sh 2>pro.err &&
    grep -q "wrote $TEST_DIR/$jobs/submit-1.sh (not submitted: --dry-run)" pro.err &&
    cmp pro.sh $jobs/submit-1.sh &&
    normalize pro.sh >pro.norm &&
    diff -u "$SQ_SOURCE_DIR/tests/pbs/pro.sh" pro.norm
'

expect 'Torque script matches the reviewed file' '
    sq submit sc --pbs --pbs-flavor torque --array 8 --cpus 4 --gpus-per-task 1 --mem 16GiB \
        --time 04:00:00 --partition gpuq --account proj1 --extra "-l feature=a100" \
        --dry-run >torque.sh 2>torque.err &&
    cmp torque.sh $jobs/submit-2.sh &&
    normalize torque.sh >torque.norm &&
    diff -u "$SQ_SOURCE_DIR/tests/pbs/torque.sh" torque.norm
'

expect 'a single PBS task is no array; PBS has no QOS' '
    sq submit sc --pbs --pbs-flavor pro --dry-run >one.sh 2>/dev/null &&
    ! grep -q "^#PBS -J" one.sh &&
    grep -qx "#PBS -l select=1:ncpus=1" one.sh &&
    must_fail sq submit sc --pbs --pbs-flavor torque --qos high --dry-run 2>qos.err &&
    grep -q "cannot use QOS .high. with PBS" qos.err
'

expect 'Slurm script: array, preemption directives, agent command' '
    sq submit sc --slurm --array 4 --time 1:30:00 --grace 90s --qos high --mem 2GiB \
        --gpus-per-task 2 --dry-run >slurm.sh 2>/dev/null &&
    grep -qx "#SBATCH --array=0-3" slurm.sh &&
    grep -qx "#SBATCH --signal=B:USR1@90" slurm.sh &&
    grep -qx "#SBATCH --requeue" slurm.sh &&
    grep -qx "#SBATCH --open-mode=append" slurm.sh &&
    grep -qx "#SBATCH --output=$TEST_DIR/$jobs/slurm-%A_%a.out" slurm.sh &&
    grep -qx "#SBATCH --time=01:30:00" slurm.sh &&
    grep -qx "#SBATCH --qos=high" slurm.sh &&
    grep -qx "#SBATCH --mem=2048M" slurm.sh &&
    grep -qx "#SBATCH --gres=gpu:2" slurm.sh &&
    grep -qx "export SWEEPQ_REQUEUE=1" slurm.sh &&
    grep -qxF "cd '\''$TEST_DIR'\'' || exit 1" slurm.sh &&
    grep -qxF "exec '\''$SELF'\'' agent --sweep '\''sc'\'' --exit-when-idle -j 1 --grace 45s" slurm.sh &&
    bash -n slurm.sh
'

expect 'config.yaml submit: gives defaults; the command line wins' '
    cp config-submit.yaml .sweepq/config.yaml &&
    sq submit sc --dry-run >cfg.sh 2>/dev/null &&
    grep -qx "#SBATCH --partition=short" cfg.sh &&
    grep -qx "#SBATCH --time=00:20:00" cfg.sh &&
    grep -qx "#SBATCH --array=0-2" cfg.sh &&
    grep -qx "#SBATCH --cpus-per-task=2" cfg.sh &&
    grep -qx "#SBATCH --signal=B:USR1@120" cfg.sh &&
    grep -qx "#SBATCH --constraint=cpu" cfg.sh &&
    grep -qx "#SBATCH --exclusive" cfg.sh &&
    grep -q -- "--exit-when-idle -j 2 --grace 60s\$" cfg.sh &&
    sq submit sc --partition long --array 5 --time 2:00:00 --dry-run >cli.sh 2>/dev/null &&
    grep -qx "#SBATCH --partition=long" cli.sh &&
    grep -qx "#SBATCH --array=0-4" cli.sh &&
    grep -qx "#SBATCH --time=02:00:00" cli.sh
'

expect 'a --store is passed to the agents as an absolute URL' '
    (cd .sweepq && sq submit sc --slurm --store sqlite:sweepq.db --dry-run >../store.sh 2>/dev/null) &&
    grep -qF -- "--store '\''sqlite:$TEST_DIR/.sweepq/sweepq.db'\''" store.sh
'

expect 'bad requests are refused' '
    rm .sweepq/config.yaml &&
    must_fail sq submit sc --dry-run 2>none.err &&
    grep -q "choose a scheduler: --slurm, --pbs or --cluster auto" none.err &&
    must_fail sq submit sc --slurm --pbs --dry-run 2>two.err &&
    grep -q "choose one of --slurm, --pbs and --cluster" two.err &&
    must_fail sq submit nosuch --slurm --dry-run 2>nf.err &&
    grep -q "no sweep named .nosuch." nf.err &&
    must_fail sq submit sc --slurm --grace 0s --dry-run 2>grace.err &&
    grep -q "Slurm signals 1 to 65535 s" grace.err &&
    must_fail sq submit sc --pbs --pbs-flavor lsf --dry-run 2>flavor.err &&
    grep -q "pro or torque" flavor.err &&
    printf "submit:\n  array: many\n" >.sweepq/config.yaml &&
    must_fail sq submit sc --slurm --dry-run 2>cfg.err &&
    grep -q "invalid .submit.array: many." cfg.err
'

finish
