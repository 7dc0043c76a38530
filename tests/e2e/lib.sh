# lib.sh - what every e2e test sources first (git t/ style, kept small).
#
#   . "$(dirname "$0")/lib.sh"
#   expect 'a sweep runs' '
#       sq run sweep.yaml -j 2 &&
#       test "$(ledger_count ledger)" = 9
#   '
#   finish
#
# Gives each test its own temporary project directory (the working directory,
# $TEST_DIR, removed at exit unless a check failed), kills the background
# processes it started with `bg`, counts checks and prints "N passed, M failed".
# Environment: SWEEPQ (the binary, required), SQ_SOURCE_DIR, SQ_BUILD_DIR.
# Polling always has a deadline: use wait_for, never a bare sleep loop.

set -u

: "${SWEEPQ:?set SWEEPQ to the path of the sweepq binary}"
SQ_SOURCE_DIR=${SQ_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sweepq-$TEST_NAME.XXXXXX")
TRAINER="$SQ_SOURCE_DIR/tests/e2e/trainer.py"
# The interpreter itself, not a wrapper script (pyenv's shims cost a shell
# start in every trial).
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)
PASSED=0
FAILED=0
BG_PIDS=()
# Tests must not see a store from the environment that runs them.
unset SWEEPQ_STORE
cd "$TEST_DIR" || exit 1

# The binary under test; never pipe its output into the next command (a
# crash would go unnoticed): redirect to a file and read that.
sq() { "$SWEEPQ" "$@"; }

# bg CMD...: starts CMD in the background; its pid is in $! (the process
# itself, so signals reach it: `bg sq ...` runs the binary, not a subshell)
# and it is killed (SIGKILL) at exit if still running.
bg() {
    if [ "$1" = sq ]; then
        shift
        set -- "$SWEEPQ" "$@"
    fi
    "$@" &
    BG_PIDS+=($!)
}

lib_cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$FAILED" -eq 0 ]; then
        rm -rf "$TEST_DIR"
    else
        echo "# kept $TEST_DIR for inspection" >&2
    fi
}
trap lib_cleanup EXIT

# expect DESCRIPTION CODE: evaluates CODE in this shell (so `bg` and
# variables it sets stay); it passes when CODE returns 0. Chain steps with &&
# so that the first failure counts. Its output is shown only on failure.
expect() {
    local desc=$1 code=$2
    if eval "$code" >"$TEST_DIR/.out" 2>&1; then
        PASSED=$((PASSED + 1))
        echo "ok - $desc"
    else
        FAILED=$((FAILED + 1))
        echo "not ok - $desc"
        sed 's/^/#   /' "$TEST_DIR/.out"
    fi
}

# must_fail CMD...: succeeds when CMD exits non-zero without crashing
# (a signal or 127 fails, as git's test_must_fail).
must_fail() {
    "$@"
    local rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -gt 128 ] || [ "$rc" -eq 127 ]; then
        echo "# expected a clean failure from '$*', got exit $rc" >&2
        return 1
    fi
    return 0
}

# wait_for SECONDS CONDITION: polls CONDITION (shell code) every 0.1 s until
# it holds (0) or SECONDS pass (1, with a message).
wait_for() {
    local deadline=$((SECONDS + $1)) cond=$2
    while ! eval "$cond" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "# timed out after $1 s waiting for: $cond" >&2
            return 1
        fi
        sleep 0.1
    done
    return 0
}

# A ledger is a file to which each trial appends its number once per
# success (tests/e2e/trainer.py --ledger). ledger_count FILE: lines in it.
ledger_count() {
    if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# ledger_exactly_once FILE N: every number 1..N appears exactly once and
# nothing else appears; prints what is wrong otherwise.
ledger_exactly_once() {
    local file=$1 n=$2
    [ -f "$file" ] || { echo "# no ledger '$file'" >&2; return 1; }
    awk -v n="$n" '{ c[$1]++ }
        END {
            bad = 0
            for (i = 1; i <= n; i++)
                if (c[i] != 1) { print "# trial " i " succeeded " c[i] + 0 " times"; bad = 1 }
            for (k in c)
                if (k !~ /^[0-9]+$/ || k + 0 < 1 || k + 0 > n) { print "# unexpected entry " k; bad = 1 }
            exit bad
        }' "$file" >&2
}

# json_get EXPR < JSON: evaluates a Python expression over the parsed
# document `d` and prints the result (strings bare, other values as JSON).
json_get() {
    "$PYTHON" -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$state" in Z*) return 1 ;; esac
    return 0
}

# finish: prints the tally and exits 0 only when every check passed.
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
    exit $?
}
