#!/usr/bin/env bash
# t0811-remote-launch: a real sshd on 127.0.0.1 with throwaway keys (started
# here; the test fails, never skips, when it cannot start). `remote add`,
# `test`, `health`; `launch` of 2 agents whose store the remote reaches
# directly (--remote-store: no tunnel); they outlive the ssh sessions that
# started them, the sweep completes, every trial ran in the remote workdir
# from the synced project, and `collect` brings the trial directories back.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/ssh_lib.sh"

start_sshd

# The project lives in proj/; its store is a SQLite file outside any
# project, so that an agent given its URL takes its own working directory
# (the remote workdir) as its project root.
mkdir -p proj store
cd proj || exit 1
export SWEEPQ_STORE="sqlite:$TEST_DIR/store/sweepq.db"
cp "$TRAINER" train.py
cat >sweep.yaml <<EOF
name: remote-grid
method: grid
program: train.py
command: [$PYTHON, "\${program}", --ledger=$TEST_DIR/ledger, --dump_env=1, --metrics=both,
          --sleep=0.5, "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3]}
  y: {values: [1, 2]}
EOF
mkdir -p .sweepq
echo "# settings of this project" >.sweepq/config.yaml

# all_ok CHECK ARG...: CHECK holds for every ARG.
all_ok() {
    local check=$1 a
    shift
    for a in "$@"; do "$check" "$a" || { echo "# $check $a failed" >&2; return 1; }; done
}
# agent_in_workdir PID: the agent runs in the remote workdir, or has already
# ended (with nothing left to claim).
agent_in_workdir() {
    ! pid_alive "$1" || test "$(readlink "/proc/$1/cwd")" = "$TEST_DIR/remote-box"
}
# ran_remotely N: trial N ran in its trial directory under the remote workdir.
ran_remotely() {
    local dir=$TEST_DIR/remote-box/.sweepq/sweeps/remote-grid/trials/$1
    test "$(json_get "d[\"cwd\"]" <"$dir/env.json")" = "$dir"
}
# collected N: trial N's directory came back with its metrics and log.
collected() {
    test -n "$(find ".sweepq/sweeps/remote-grid/trials/$1" -name "metrics-*.jsonl" -size +0c)" &&
        test -s ".sweepq/sweeps/remote-grid/trials/$1/attempt-1.log"
}

expect 'remote add names the sshd here' '
    add_remote box --slots 2 >add.out &&
    grep -q "^added remote .box. (root@127.0.0.1:$SSHD_PORT, workdir $TEST_DIR/remote-box)" add.out &&
    grep -q "^# settings of this project$" .sweepq/config.yaml
'

expect 'remote test logs in and finds the workdir, sweepq and rsync' '
    sq remote test box >test.out &&
    grep -q "^box: logged in to root@127.0.0.1:$SSHD_PORT in " test.out &&
    grep -q "^  workdir: $TEST_DIR/remote-box (writable)" test.out &&
    grep -q "^  sweepq: [0-9.]* ($SWEEPQ)" test.out &&
    grep -q "^  rsync: found" test.out
'

expect 'remote health reports sweepq, GPUs, free disk and load' '
    sq remote health box --json >health.json &&
    test "$(json_get "d[\"reachable\"]" <health.json)" = true &&
    test "$(json_get "d[\"usable\"]" <health.json)" = true &&
    test "$(json_get "d[\"sweepq\"][\"version\"]" <health.json)" = "$(sq --version | cut -d" " -f2)" &&
    test "$(json_get "d[\"sweepq\"][\"same_version\"]" <health.json)" = true &&
    test "$(json_get "d[\"gpus\"]" <health.json)" = "[]" &&
    test "$(json_get "d[\"gpu_source\"]" <health.json)" = none &&
    test "$(json_get "d[\"disk\"][\"free_bytes\"] > 0" <health.json)" = true &&
    test "$(json_get "len(d[\"load\"])" <health.json)" = 3 &&
    test "$(json_get "d[\"cpus\"] >= 1" <health.json)" = true &&
    sq remote health box >health.out &&
    grep -q "^box: reachable" health.out &&
    grep -q "^  gpus:    none" health.out &&
    grep -q "^  disk:    .* free at " health.out
'

expect 'remote health of a sweepq that is not there says so and exits 1' '
    add_remote nosq --sweepq /nonexistent/sweepq >/dev/null &&
    sq remote health nosq >nosq.out; test $? = 1 &&
    grep -q "sweepq:  ./nonexistent/sweepq. not found" nosq.out
'

expect 'remote health without a NAME checks every remote; one unusable makes it exit 1' '
    sq remote health --json >all.json; test $? = 1 &&
    test "$(json_get "[(h[\"name\"], h[\"usable\"]) for h in d]" <all.json)" = "[[\"box\", true], [\"nosq\", false]]" &&
    sq remote test >all-test.out; test $? = 1 &&
    grep -q "^box: logged in" all-test.out &&
    grep -q "^nosq: logged in" all-test.out
'

expect 'launch of an unknown sweep fails with exit 3 and starts nothing' '
    sq launch nosuch --remote box --remote-store "$SWEEPQ_STORE" 2>nosuch.err; test $? = 3 &&
    test -z "$(remote_agents "$TEST_DIR/remote-box")"
'

expect 'launch syncs the project and starts 2 detached agents there' '
    sq create sweep.yaml >create.out &&
    sq launch remote-grid --remote box --agents 2 --remote-store "$SWEEPQ_STORE" >launch.out 2>launch.err &&
    grep -q "^synced $TEST_DIR/proj to box:$TEST_DIR/remote-box" launch.out &&
    grep -q "^started 2 agents on .box." launch.out &&
    test -f "$TEST_DIR/remote-box/train.py" &&
    test -f "$TEST_DIR/remote-box/.sweepq/config.yaml" &&
    test ! -e "$TEST_DIR/remote-box/.sweepq/remote.token"
'

expect 'the agents outlive the ssh sessions that started them' '
    launched=$(awk "/^  pid / { print \$2 }" launch.out | sort | tr "\n" " ") &&
    test "$(echo $launched | wc -w)" = 2 &&
    test -z "$(ssh_clients)" &&
    all_ok agent_in_workdir $launched
'

expect 'the sweep completes: every trial once, run by the remote agents' '
    sq wait remote-grid --timeout 120s >wait.out &&
    ledger_exactly_once "$TEST_DIR/ledger" 6 &&
    all_ok ran_remotely 1 2 3 4 5 6 &&
    test ! -d .sweepq/sweeps/remote-grid/trials
'

expect 'collect brings the 6 trial directories and the agent logs back' '
    sq collect remote-grid >collect.out &&
    grep -q "^box: 6 trial directories new or changed, 2 agent logs" collect.out &&
    all_ok collected 1 2 3 4 5 6 &&
    test "$(ls .sweepq/sweeps/remote-grid/remotes/box/logs | wc -l)" = 2 &&
    cat .sweepq/sweeps/remote-grid/remotes/box/logs/*.log >agents.log &&
    test "$(grep -c "agent done: .* 0 failed" agents.log)" = 2
'

expect 'collecting again copies nothing new' '
    sq collect remote-grid --remote box >again.out &&
    grep -q "^box: 0 trial directories new or changed, 0 agent logs" again.out
'

expect 'launch on a remote without sweepq fails with what the agent said' '
    sq launch remote-grid --remote nosq --remote-store "$SWEEPQ_STORE" >nosq-launch.out 2>nosq-launch.err
    test $? = 1 &&
    grep -q "0 of 1 agents run on .nosq." nosq-launch.err &&
    grep -q "/nonexistent/sweepq.*No such file or directory" nosq-launch.err
'

expect 'collect names ssh'"'"'s reason when it cannot log in' '
    add_remote nokey --key "$TEST_DIR/no-such-key" >/dev/null &&
    sq collect remote-grid --remote nokey >nokey.out 2>nokey.err
    test $? = 1 &&
    grep -q "cannot copy .* from .nokey.: root@127.0.0.1: Permission denied (publickey)" nokey.err
'

finish
