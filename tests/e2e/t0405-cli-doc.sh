#!/bin/bash
# docs/cli.md shows every verb's real --help: its generated blocks equal the
# binary's `sweepq help VERB`, and every verb of `sweepq help` has one.
. "$(dirname "$0")/lib.sh"

DOC="$SQ_SOURCE_DIR/docs/cli.md"

expect 'docs/cli.md matches the help of every verb' '
    "$PYTHON" "$SQ_SOURCE_DIR/scripts/cli-doc" --check "$SWEEPQ" "$DOC"
'

expect 'every verb of sweepq help has a section in docs/cli.md' '
    sq help >help.out &&
    awk "/^verbs:/ { on = 1; next } on && NF == 0 { exit } on { print \$1 }" help.out >verbs &&
    test -s verbs &&
    missing=0 &&
    while read -r v; do
        grep -F -q "<!-- BEGIN sweepq help $v -->" "$DOC" || { echo "no section for $v"; missing=1; }
    done <verbs &&
    test "$missing" = 0
'

finish
