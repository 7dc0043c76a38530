#!/bin/bash
# The project is private by default: .sweepq/ is 0700, the store, logs and
# trial directories are for this user only, and the agent's secrets reach
# neither other users nor trials. A job script for a store URL with a
# password (a real PostgreSQL; trust authentication ignores the password)
# gives it to the agent in $SWEEPQ_STORE, so /proc/PID/cmdline of the agent
# does not show it; a trial sees neither that URL nor $SWEEPQ_TOKEN.
. "$(dirname "$0")/lib.sh"

PG_DIR=$(SQ_PG_OWNER=$$ "$SQ_SOURCE_DIR/tests/pg-up.sh") || { echo "not ok - PostgreSQL did not start"; exit 1; }
trap '"$SQ_SOURCE_DIR/tests/pg-down.sh" "$PG_DIR" --rm; lib_cleanup' EXIT
PORT=$(cat "$PG_DIR/port")
SECRET_URL="postgresql://postgres:hunter2secret@127.0.0.1:$PORT/sweep"

mode() { stat -c %a "$1"; }

cat >local.yaml <<'EOF'
name: local
method: grid
command: [sh, -c, 'env >env.txt']
parameters:
  x: {values: [1]}
EOF

expect 'a new project, its store, trial directories and logs are private' '
    SWEEPQ_TOKEN=tok-must-not-leak sq run local.yaml >run.out 2>&1 &&
    test "$(mode .sweepq)" = 700 && test "$(mode .sweepq/sweepq.db)" = 600 &&
    test "$(mode .sweepq/sweeps/local/trials/1)" = 700 &&
    test "$(mode .sweepq/sweeps/local/trials/1/attempt-1.log)" = 600 &&
    for f in .sweepq/sweepq.db-wal .sweepq/sweepq.db-shm; do
        [ ! -e "$f" ] || test "$(mode "$f")" = 600 || return 1
    done
'

expect 'a trial does not inherit SWEEPQ_TOKEN' '
    grep -q "^SWEEPQ_SWEEP=local$" .sweepq/sweeps/local/trials/1/env.txt &&
    ! grep -q "SWEEPQ_TOKEN" .sweepq/sweeps/local/trials/1/env.txt
'

cat >remote.yaml <<EOF
name: remote
method: grid
command: [sh, -c, 'env >env.txt; while [ ! -e $TEST_DIR/go ]; do sleep 0.1; done']
parameters:
  x: {values: [1]}
EOF

expect 'a job script keeps the password out of the agent'"'"'s argv and the trial'"'"'s environment' '
    sq create remote.yaml --store "$SECRET_URL" >create.out &&
    sq submit remote --slurm --store "$SECRET_URL" --dry-run >script.sh 2>submit.err &&
    grep -q "^SWEEPQ_STORE=.*hunter2secret.* exec " script.sh &&
    ! grep "exec " script.sh | grep -q -- "--store" &&
    bg bash script.sh &&
    AGENT=$! &&
    wait_for 60 "test -s .sweepq/sweeps/remote/trials/1/env.txt" &&
    tr "\0" " " </proc/$AGENT/cmdline >cmdline.txt &&
    grep -q "agent --sweep" cmdline.txt && ! grep -q hunter2secret cmdline.txt &&
    ! grep -q hunter2secret .sweepq/sweeps/remote/trials/1/env.txt &&
    touch go && wait_for 60 "! pid_alive $AGENT"
'

finish
