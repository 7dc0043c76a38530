#!/usr/bin/env bash
# t0812-remote-tunnel: the project's store is its own SQLite file, so
# `launch` serves it on 127.0.0.1 here and opens a reverse ssh tunnel that
# the 2 remote agents reach it through (real sshd, throwaway keys; fails,
# never skips, when it cannot start). Killing the ssh client processes
# mid-sweep does not stop the remote agents; the keeper reopens the tunnel
# on the same remote port and the sweep completes, every trial once;
# `collect` brings the trial directories back; the keeper, its serve and
# its ssh stop by themselves once the sweep has ended.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/ssh_lib.sh"

start_sshd

# all_ok CHECK ARG...: CHECK holds for every ARG.
all_ok() {
    local check=$1 a
    shift
    for a in "$@"; do "$check" "$a" || { echo "# $check $a failed" >&2; return 1; }; done
}
collected() {
    test -n "$(find ".sweepq/sweeps/tunnel-grid/trials/$1" -name "metrics-*.jsonl" -size +0c)" &&
        test -s ".sweepq/sweeps/tunnel-grid/trials/$1/env.json"
}
keeper_pid() { cat .sweepq/sweeps/tunnel-grid/remotes/box/keeper.pid 2>/dev/null; }
tunnel_port() { cat .sweepq/sweeps/tunnel-grid/remotes/box/tunnel.port 2>/dev/null; }
# The agents as this machine sees them through the remote's end of the tunnel
# (not a port the server listed in .sweepq/server.url: the token is named).
agents_through_tunnel() {
    sq agents --store "http://127.0.0.1:$(tunnel_port)" --token-file .sweepq/server.token \
        --json >agents.json 2>agents.err &&
        test "$(json_get "len([a for a in d if a[\"alive\"]])" <agents.json)" = 2
}

mkdir -p proj
cd proj || exit 1
cp "$TRAINER" train.py
cat >sweep.yaml <<EOF
name: tunnel-grid
method: grid
program: train.py
command: [$PYTHON, "\${program}", --ledger=$TEST_DIR/ledger, --dump_env=1, --metrics=both,
          --sleep=3.5, "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3, 4]}
  y: {values: [1, 2, 3]}
EOF

expect 'a project with its own SQLite store and the sshd as a remote' '
    sq create sweep.yaml >create.out &&
    test -f .sweepq/sweepq.db &&
    add_remote box --slots 2 >add.out &&
    sq remote test box >test.out
'

expect 'launch serves the store, opens the tunnel and starts 2 agents there' '
    sq launch tunnel-grid --remote box --agents 2 >launch.out 2>launch.err &&
    grep -q "^tunnel: the remote.s 127.0.0.1:[0-9]* reaches a local .sweepq serve. here" launch.out &&
    grep -q "^started 2 agents on .box." launch.out &&
    pid_alive "$(keeper_pid)" &&
    test "$(tunnel_port)" -gt 0
'
AGENTS=$(awk '/^  pid / { print $2 }' launch.out | tr '\n' ' ')

expect 'the remote agents use the tunnel URL with a token from a 0600 file, not the command line' '
    test "$(stat -c %a "$TEST_DIR/remote-box/.sweepq/remote.token")" = 600 &&
    cmp <(head -n 1 "$TEST_DIR/remote-box/.sweepq/remote.token") <(head -n 1 .sweepq/server.token) &&
    for p in $AGENTS; do
        tr "\0" "\n" </proc/$p/cmdline >cmdline.$p &&
        grep -qx "http://127.0.0.1:$(tunnel_port)" cmdline.$p &&
        ! grep -qF "$(cat .sweepq/server.token)" cmdline.$p || exit_code=1
    done &&
    test -z "${exit_code:-}" &&
    wait_for 20 agents_through_tunnel
'

expect 'killing the ssh client processes leaves the remote agents running' '
    wait_for 30 "test \"\$(ledger_count $TEST_DIR/ledger)\" -ge 2" &&
    clients=$(ssh_clients) &&
    test -n "$clients" &&
    kill -9 $clients &&
    wait_for 10 "for c in $clients; do ! pid_alive \$c || exit 1; done" &&
    all_ok pid_alive $AGENTS
'

expect 'the keeper reopens the tunnel on the same remote port' '
    wait_for 30 "grep -q \"tunnel reopened\" .sweepq/sweeps/tunnel-grid/remotes/box/keeper.log" &&
    grep -q "tunnel ssh ended (killed by signal 9" .sweepq/sweeps/tunnel-grid/remotes/box/keeper.log &&
    wait_for 20 agents_through_tunnel
'

expect 'the sweep completes, every trial exactly once' '
    sq wait tunnel-grid --timeout 180s >wait.out &&
    ledger_exactly_once "$TEST_DIR/ledger" 12 &&
    sq status tunnel-grid --json >status.json &&
    test "$(json_get "d[0][\"counts\"][\"succeeded\"] if isinstance(d, list) else d[\"sweeps\"][0][\"counts\"][\"succeeded\"]" <status.json)" = 12
'

expect 'collect brings the 12 trial directories back' '
    sq collect tunnel-grid >collect.out &&
    grep -q "^box: 12 trial directories new or changed, 2 agent logs" collect.out &&
    all_ok collected 1 2 3 4 5 6 7 8 9 10 11 12 &&
    test "$(json_get "d[\"cwd\"]" <.sweepq/sweeps/tunnel-grid/trials/7/env.json)" = \
        "$TEST_DIR/remote-box/.sweepq/sweeps/tunnel-grid/trials/7"
'

expect 'the keeper, its serve and its ssh stop once the sweep has ended' '
    keeper=$(keeper_pid) &&
    wait_for 60 "! pid_alive $keeper" &&
    grep -q "sweep .tunnel-grid. ended" .sweepq/sweeps/tunnel-grid/remotes/box/keeper.log &&
    test -z "$(ssh_clients)" &&
    test -z "$(pids_with_args "$SWEEPQ" serve --listen 127.0.0.1:0 --store "sqlite:$TEST_DIR/proj/.sweepq/sweepq.db")"
'

finish
