# ssh_lib.sh - what the SSH remote tests (t081x) share; sourced after lib.sh.
# The "remote" is this machine through a real sshd on 127.0.0.1 (started
# here, with throwaway keys, by tests/sshd-up.sh), with a workdir of its own.
#
#   start_sshd             sets SSHD_DIR, SSHD_PORT; FAILS the test when the
#                          server cannot start (never skips)
#   add_remote NAME [OPTS] `sweepq remote add NAME` for that server, the
#                          remote workdir $TEST_DIR/remote-NAME, sweepq being
#                          $SWEEPQ, plus OPTS
#   ssh_clients            pids of this test's ssh client processes (those
#                          whose command line names the server's port)
#   remote_agents DIR      pids of the agents running in workdir DIR
#   kill_remote_agents DIR
#   keeper_serve_pids URL  pids of the `sweepq serve` a launch keeper runs
#                          for the store URL
#
# At exit: the launch keepers of the project here and the agents in the
# remote workdirs are stopped, then the sshd; SQ_SSHD_OWNER makes sshd-up's
# watchdog stop the server should this shell die first.

SSHD_DIR=
SSHD_PORT=
# A token from the environment that runs the tests is not this test's.
unset SWEEPQ_TOKEN SWEEPQ_TOKEN_FILE

start_sshd() {
    SSHD_DIR=$(SQ_SSHD_OWNER=$$ "$SQ_SOURCE_DIR/tests/sshd-up.sh" "$TEST_DIR/sshd" 2>"$TEST_DIR/sshd-up.err" | tail -n 1)
    if [ -z "$SSHD_DIR" ] || [ ! -s "$SSHD_DIR/port" ]; then
        echo "FATAL: could not start sshd for this test:" >&2
        cat "$TEST_DIR/sshd-up.err" >&2
        FAILED=$((FAILED + 1))
        finish
    fi
    SSHD_PORT=$(cat "$SSHD_DIR/port")
}

add_remote() {
    local name=$1
    shift
    sq remote add "$name" --host 127.0.0.1 --user root --port "$SSHD_PORT" \
        --key "$SSHD_DIR/client_ed25519" --known-hosts "$SSHD_DIR/known_hosts" \
        --workdir "$TEST_DIR/remote-$name" --sweepq "$SWEEPQ" "$@"
}

# pids whose command line holds every one of the given words (exactly).
# Bash builtins only: a fork per process and word took tens of seconds on a
# busy machine, long enough for the agents being looked for to finish.
pids_with_args() {
    local p w a ok
    local -a args
    for p in /proc/[0-9]*; do
        mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
        [ "${#args[@]}" -gt 0 ] || continue
        ok=1
        for w in "$@"; do
            ok=0
            for a in "${args[@]}"; do
                if [ "$a" = "$w" ]; then ok=1 && break; fi
            done
            [ "$ok" = 1 ] || break
        done
        if [ "$ok" = 1 ]; then echo "${p#/proc/}"; fi
    done
    return 0
}

ssh_clients() {
    pids_with_args ssh -p "$SSHD_PORT"
}

remote_agents() {
    local p c
    for p in $(pids_with_args "$SWEEPQ" agent); do
        c=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue
        if [ "$c" = "$1" ]; then echo "$p"; fi
    done
    return 0
}

kill_remote_agents() {
    local p
    for p in $(remote_agents "$1"); do kill -9 "$p" 2>/dev/null; done
}

ssh_lib_cleanup() {
    local f d
    for f in "$TEST_DIR"/proj/.sweepq/sweeps/*/remotes/*/keeper.pid; do
        [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
    done
    for d in "$TEST_DIR"/remote-*; do
        [ -d "$d" ] && kill_remote_agents "$d"
    done
    [ -n "$SSHD_DIR" ] && "$SQ_SOURCE_DIR/tests/sshd-down.sh" "$SSHD_DIR"
    lib_cleanup
}
trap ssh_lib_cleanup EXIT

# keeper_serve_pids STORE_URL: pids of the `sweepq serve` a launch keeper
# started for that store.
keeper_serve_pids() {
    pids_with_args "$SWEEPQ" serve --listen 127.0.0.1:0 --store "$1"
}
