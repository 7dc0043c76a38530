#!/usr/bin/env bash
# t0813-remote-own-serve: the project's store is a `sweepq serve` the user
# runs on 127.0.0.1 here (--store http://127.0.0.1:PORT). `launch` tunnels
# to that server (no second serve), the remote agent gets the tunnel's URL
# and the server's token in a 0600 file, and the sweep completes through it
# (real sshd with throwaway keys; fails, never skips, when it cannot start).
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/serve_lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/ssh_lib.sh"

start_sshd

mkdir -p proj
cd proj || exit 1
cp "$TRAINER" train.py
cat >sweep.yaml <<EOF
name: served
method: grid
program: train.py
command: [$PYTHON, "\${program}", --ledger=$TEST_DIR/ledger, --sleep=12, "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3, 4]}
EOF

expect 'a serve of the project runs here and holds the sweep' '
    start_server &&
    export SWEEPQ_STORE="$URL" &&
    sq create sweep.yaml >create.out &&
    add_remote box --slots 2 >add.out
'

expect 'launch tunnels to that server and starts no serve of its own' '
    sq launch served --remote box >launch.out 2>launch.err &&
    grep -q "^tunnel: the remote.s 127.0.0.1:[0-9]* reaches $URL here" launch.out &&
    grep -q "^started 1 agent on .box." launch.out &&
    test ! -e .sweepq/sweeps/served/remotes/box/serve.log &&
    test -z "$(pids_with_args "$SWEEPQ" serve --listen 127.0.0.1:0 --store "$URL")"
'

expect 'the agent uses the tunnel URL and the server'"'"'s token from a 0600 file' '
    port=$(cat .sweepq/sweeps/served/remotes/box/tunnel.port) &&
    test "$port" != "${URL##*:}" &&
    test "$(stat -c %a "$TEST_DIR/remote-box/.sweepq/remote.token")" = 600 &&
    test "$(head -n 1 "$TEST_DIR/remote-box/.sweepq/remote.token")" = "$TOKEN" &&
    agent=$(remote_agents "$TEST_DIR/remote-box") &&
    test -n "$agent" &&
    tr "\0" "\n" </proc/$agent/cmdline >cmdline &&
    grep -qx "http://127.0.0.1:$port" cmdline &&
    ! grep -qF "$TOKEN" cmdline
'

expect 'the sweep completes through the server, every trial once' '
    sq wait served --timeout 120s >wait.out &&
    ledger_exactly_once "$TEST_DIR/ledger" 4 &&
    grep -q "agent done: 4 started, 4 succeeded" "$TEST_DIR"/remote-box/.sweepq/sweeps/served/remotes/agent-*.log
'

finish
