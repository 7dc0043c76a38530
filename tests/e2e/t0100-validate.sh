#!/usr/bin/env bash
# t0100-validate.sh - `sweepq validate` on the spec corpus under tests/spec/:
# every bad spec exits 1 printing exactly the lines of its .expected file
# (messages say NAME.yaml:LINE:COL, as validate runs in tests/spec/bad), every
# good spec exits 0 with its "ok" line; then the verb itself: a missing file,
# --json, several files at once, --grid-cap, usage errors.
set -eu
. "$(dirname "$0")/lib.sh"

BAD="$SQ_SOURCE_DIR/tests/spec/bad"
GOOD="$SQ_SOURCE_DIR/tests/spec/good"

# validate_in DIR ARGS...: runs `sweepq validate ARGS` in DIR; its stdout,
# stderr and exit status land in $TEST_DIR/out, err and rc.
validate_in() {
    local dir=$1 rc=0
    shift
    (cd "$dir" && exec "$SWEEPQ" validate "$@") >"$TEST_DIR/out" 2>"$TEST_DIR/err" || rc=$?
    echo "$rc" >"$TEST_DIR/rc"
}

# status_is N: the last validate_in exited with N (a crash never passes).
status_is() {
    local rc
    rc=$(cat "$TEST_DIR/rc")
    if [ "$rc" != "$1" ]; then
        echo "# expected exit status $1, got $rc" >&2
        return 1
    fi
}

nbad=0
for spec in "$BAD"/*.yaml; do
    name=$(basename "$spec" .yaml)
    nbad=$((nbad + 1))
    expect "bad spec $name is refused with its message" '
        test -f "$BAD/$name.expected" &&
        validate_in "$BAD" "$name.yaml" &&
        status_is 1 &&
        diff -u "$BAD/$name.expected" "$TEST_DIR/out" &&
        test ! -s "$TEST_DIR/err"
    '
done

expect 'the corpus holds at least 45 bad specs' 'test "$nbad" -ge 45'

for spec in "$GOOD"/*.yaml; do
    name=$(basename "$spec" .yaml)
    expect "good spec $name is valid" '
        validate_in "$GOOD" "$name.yaml" &&
        status_is 0 &&
        diff -u "$GOOD/$name.expected" "$TEST_DIR/out" &&
        test ! -s "$TEST_DIR/err"
    '
done

expect 'a missing file exits 3 and says why' '
    validate_in "$TEST_DIR" no-such-spec.yaml &&
    status_is 3 &&
    echo "no-such-spec.yaml: cannot open spec: No such file or directory" >want &&
    diff -u want "$TEST_DIR/out"
'

expect '--json reports a valid spec with its trial count' '
    validate_in "$GOOD" --json wandb-grid.yaml &&
    status_is 0 &&
    test "$(json_get "d[\"valid\"]" <"$TEST_DIR/out")" = true &&
    test "$(json_get "d[\"trials\"]" <"$TEST_DIR/out")" = 36 &&
    test "$(json_get "d[\"method\"]" <"$TEST_DIR/out")" = grid &&
    test "$(json_get "d[\"errors\"]" <"$TEST_DIR/out")" = "[]"
'

expect '--json reports every error with its line and column' '
    validate_in "$BAD" --json unknown-param-macro.yaml &&
    status_is 1 &&
    test "$(json_get "d[\"file\"]" <"$TEST_DIR/out")" = unknown-param-macro.yaml &&
    test "$(json_get "d[\"valid\"]" <"$TEST_DIR/out")" = false &&
    test "$(json_get "[[e[\"line\"], e[\"col\"]] for e in d[\"errors\"]]" <"$TEST_DIR/out")" = \
        "[[6, 34]]" &&
    json_get "d[\"errors\"][0][\"message\"]" <"$TEST_DIR/out" >msg &&
    grep -q "did you mean .\${param.dataset}.?" msg
'

expect 'an unbounded random sweep has null trials in --json' '
    validate_in "$GOOD" --json wandb-open-ended.yaml &&
    status_is 0 &&
    test "$(json_get "d[\"trials\"]" <"$TEST_DIR/out")" = null
'

expect 'several files: each is reported, and one bad file fails the run' '
    validate_in "$SQ_SOURCE_DIR/tests/spec" good/wandb-grid.yaml bad/empty-values.yaml \
        good/hsm-grid-paired.yaml &&
    status_is 1 &&
    {
        echo "good/wandb-grid.yaml: ok (36 trials, method grid)"
        echo "bad/empty-values.yaml:6:13: key '"'"'parameters.lr.values'"'"': the list is empty; give at least one value"
        echo "good/hsm-grid-paired.yaml: ok (135 trials, method grid)"
    } >want &&
    diff -u want "$TEST_DIR/out"
'

expect 'a missing file among several exits 3' '
    validate_in "$GOOD" wandb-grid.yaml nope.yaml &&
    status_is 3
'

expect '--grid-cap lowers the cap for this run' '
    validate_in "$GOOD" --grid-cap 10 wandb-grid.yaml &&
    status_is 1 &&
    echo "wandb-grid.yaml:8:1: the grid has 36 trials, more than the cap of 10; use fewer values, method random with run_cap, or raise '"'"'grid_cap'"'"'" >want &&
    diff -u want "$TEST_DIR/out"
'

expect '--grid-cap raises the cap above the default' '
    validate_in "$BAD" --grid-cap 200000000 grid-cap.yaml &&
    status_is 0 &&
    echo "grid-cap.yaml: ok (100000000 trials, method grid)" >want &&
    diff -u want "$TEST_DIR/out"
'

expect 'no file is a usage error' '
    validate_in "$GOOD" &&
    status_is 2 &&
    grep -q "usage: sweepq validate" "$TEST_DIR/err"
'

expect '--help describes the verb and exits 0' '
    validate_in "$GOOD" --help &&
    status_is 0 &&
    grep -q "^usage: sweepq validate" "$TEST_DIR/out" &&
    grep -q -- "--grid-cap N" "$TEST_DIR/out"
'

finish
