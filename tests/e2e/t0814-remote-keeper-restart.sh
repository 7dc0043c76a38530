#!/usr/bin/env bash
# t0814-remote-keeper-restart: the tunnel keeper itself dies (kill -9 of
# the keeper, its serve and its ssh, as a crash or a reboot of this machine
# would leave it) while 2 remote agents run trials through its tunnel.
# `launch SWEEP --remote NAME --agents 0` starts a new keeper on the same
# remote port and starts no agent: the same 2 agents reconnect by
# themselves. Then only the keeper is killed (its serve dies with it, its
# ssh stays, holding the port): the next `launch --agents 0` stops that ssh
# and takes the port again. The same 2 agents finish the sweep, every trial
# once and none failed; `collect` brings the trial directories back. Real sshd, throwaway keys;
# fails, never skips, when it cannot start.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/ssh_lib.sh"

start_sshd

STATE=.sweepq/sweeps/restart-grid/remotes/box
REMOTE_LOGS=$TEST_DIR/remote-box/.sweepq/sweeps/restart-grid/remotes
keeper_pid() { cat "$STATE/keeper.pid" 2>/dev/null; }
tunnel_port() { cat "$STATE/tunnel.port" 2>/dev/null; }
keeper_serves() { keeper_serve_pids "sqlite:$TEST_DIR/proj/.sweepq/sweepq.db"; }
collected_all() {
    local t
    for t in $(seq 1 "$1"); do
        test -n "$(find ".sweepq/sweeps/restart-grid/trials/$t" -name "metrics-*.jsonl" -size +0c)" || return 1
    done
}
all_alive() { local p; for p in "$@"; do pid_alive "$p" || return 1; done; }
all_dead() { local p; for p in "$@"; do ! pid_alive "$p" || return 1; done; }
# The agents as this machine sees them through the remote's end of the tunnel
# (not a port the server listed in .sweepq/server.url: the token is named).
agents_through_tunnel() {
    sq agents --store "http://127.0.0.1:$(tunnel_port)" --token-file .sweepq/server.token \
        --json >agents.json 2>agents.err &&
        test "$(json_get "len([a for a in d if a[\"alive\"]])" <agents.json)" = 2
}
# Every one of the 12 trials succeeded at its first attempt.
all_first_attempt() {
    sq trials restart-grid >trials.out &&
        awk 'NR > 1 && NF { n++; if ($2 != "succeeded" || $3 != 1) { print "# " $0; bad = 1 } }
             END { exit bad || n != 12 }' trials.out >&2
}

mkdir -p proj
cd proj || exit 1
cp "$TRAINER" train.py
cat >sweep.yaml <<EOF
name: restart-grid
method: grid
program: train.py
command: [$PYTHON, "\${program}", --ledger=$TEST_DIR/ledger, --metrics=both, --sleep=3,
          "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3, 4]}
  y: {values: [1, 2, 3]}
EOF

expect 'a project with its own SQLite store and the sshd as a remote' '
    sq create sweep.yaml >create.out &&
    add_remote box --slots 2 >add.out
'

expect 'launch opens the tunnel and starts 2 agents there' '
    sq launch restart-grid --remote box --agents 2 >launch.out 2>launch.err &&
    grep -q "^started 2 agents on .box." launch.out &&
    pid_alive "$(keeper_pid)" &&
    test "$(tunnel_port)" -gt 0 &&
    wait_for 20 agents_through_tunnel
'
AGENTS=$(awk '/^  pid / { print $2 }' launch.out | tr '\n' ' ')
PORT=$(tunnel_port)
OLD_KEEPER=$(keeper_pid)

expect 'kill -9 of the keeper, its serve and its ssh: the agents keep running and see the store gone' '
    wait_for 30 "sq trials restart-grid | grep -q running" &&
    victims="$OLD_KEEPER $(keeper_serves) $(ssh_clients)" &&
    test "$(echo $victims | wc -w)" -ge 3 &&
    kill -9 $victims &&
    wait_for 10 "all_dead $victims" &&
    all_alive $AGENTS &&
    test "$(tunnel_port)" = "$PORT" &&
    wait_for 30 "grep -qs \"cannot reach store .http://127.0.0.1:$PORT.\" $REMOTE_LOGS/agent-*.log"
'

expect 'launch --agents 0 starts a new keeper on the same remote port and no agent' '
    sq launch restart-grid --remote box --agents 0 >relaunch.out 2>relaunch.err &&
    grep -q "^tunnel: restored the remote.s 127.0.0.1:$PORT: the agents given it reconnect" relaunch.out &&
    ! grep -q "^started\|^synced" relaunch.out &&
    ! grep -q "warning" relaunch.err &&
    test "$(tunnel_port)" = "$PORT" &&
    pid_alive "$(keeper_pid)" && test "$(keeper_pid)" != "$OLD_KEEPER" &&
    grep -q "remote port $PORT restored" "$STATE/keeper.log" &&
    test "$(wc -l <"$STATE/agents")" = 2 &&
    test "$(remote_agents "$TEST_DIR/remote-box" | sort | tr "\n" " ")" = "$(echo $AGENTS | tr " " "\n" | sort | tr "\n" " ")"
'

expect 'the same 2 agents reconnect and go on with the sweep' '
    wait_for 30 agents_through_tunnel &&
    wait_for 30 "test \"\$(ledger_count $TEST_DIR/ledger)\" -ge 5 && sq trials restart-grid | grep -q running"
'
OLD_KEEPER=$(keeper_pid)
OLD_SSH=$(cat "$STATE/ssh.pid" 2>/dev/null)
OLD_SERVE=$(keeper_serves)

expect 'kill -9 of the keeper alone: its serve dies with it, its ssh stays and holds the port' '
    test -n "$OLD_SSH" && test -n "$OLD_SERVE" &&
    pid_alive "$OLD_SSH" &&
    kill -9 "$OLD_KEEPER" &&
    wait_for 10 "all_dead $OLD_KEEPER $OLD_SERVE" &&
    pid_alive "$OLD_SSH"
'

expect 'launch --agents 0 stops the leftover ssh and takes the same remote port again' '
    sq launch restart-grid --remote box --agents 0 >relaunch2.out 2>relaunch2.err &&
    grep -q "^tunnel: restored the remote.s 127.0.0.1:$PORT:" relaunch2.out &&
    ! grep -q "warning" relaunch2.err &&
    grep -q "stopping the ssh (pid $OLD_SSH) an earlier keeper left holding remote port $PORT" "$STATE/keeper.log" &&
    wait_for 10 "all_dead $OLD_SSH" &&
    test "$(tunnel_port)" = "$PORT" &&
    pid_alive "$(keeper_pid)" && test "$(keeper_pid)" != "$OLD_KEEPER"
'

expect 'the same 2 agents finish the sweep: every trial once, none failed' '
    sq wait restart-grid --timeout 60s >wait.out &&
    ledger_exactly_once "$TEST_DIR/ledger" 12 &&
    all_first_attempt &&
    wait_for 20 "all_dead $AGENTS" &&
    grep -q "cannot reach store .http://127.0.0.1:$PORT." "$REMOTE_LOGS"/agent-*.log &&
    test "$(cat "$REMOTE_LOGS"/agent-*.log | grep -c "agent done:.* 0 failed")" = 2 &&
    test "$(ls "$REMOTE_LOGS"/agent-*.log | wc -l)" = 2
'

expect 'collect brings the 12 trial directories back' '
    sq collect restart-grid >collect.out &&
    grep -q "^box: 12 trial directories new or changed, 2 agent logs" collect.out &&
    collected_all 12
'

finish
