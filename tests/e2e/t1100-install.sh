#!/bin/bash
# make install / make uninstall as the README shows them: with DESTDIR and
# PREFIX (a package's staging), and PREFIX=$HOME/.local (no root needed: only
# $HOME is written). The binary, sweepq(1) and sweepq-VERB(1) for every verb
# (lint-clean under mandoc, readable with man), the bash, zsh and fish
# completions, README, docs and examples; uninstall leaves no file behind.
. "$(dirname "$0")/lib.sh"

for tool in make cmake man mandoc; do
    command -v "$tool" >/dev/null || { echo "# $tool is missing: run scripts/install-deps" >&2; exit 1; }
done
: "${SQ_BUILD_DIR:?set SQ_BUILD_DIR to the build directory to install from}"
mk() { make -s -C "$SQ_SOURCE_DIR" BUILD="$SQ_BUILD_DIR" "$@"; }
STAGE=$TEST_DIR/stage

sq help >help.out
awk '/^verbs:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }' help.out >verbs

expect 'make install DESTDIR=... PREFIX=/usr installs the binary, pages, completions and docs' '
    mk install DESTDIR="$STAGE" PREFIX=/usr >install.out 2>&1 &&
    "$STAGE/usr/bin/sweepq" --version | grep -q "^sweepq [0-9]" &&
    test -s "$STAGE/usr/share/man/man1/sweepq.1" &&
    while read -r v; do
        test -s "$STAGE/usr/share/man/man1/sweepq-$v.1" || { echo "no page for $v"; return 1; }
    done <verbs &&
    test -s "$STAGE/usr/share/bash-completion/completions/sweepq" &&
    test -s "$STAGE/usr/share/zsh/site-functions/_sweepq" &&
    test -s "$STAGE/usr/share/fish/vendor_completions.d/sweepq.fish" &&
    test -s "$STAGE/usr/share/doc/sweepq/README.md" &&
    test -s "$STAGE/usr/share/doc/sweepq/docs/cli.md" &&
    test -x "$STAGE/usr/share/doc/sweepq/examples/quickstart/train.py"
'

expect 'every man page is clean under mandoc -T lint (warnings too)' '
    mandoc -T lint -W warning "$STAGE"/usr/share/man/man1/*.1 >lint.out 2>&1 &&
    ! test -s lint.out
'

expect 'man sweepq-run shows the options of run'"'"'s --help' '
    MANPATH="$STAGE/usr/share/man" MANWIDTH=100 MANPAGER=cat man sweepq-run >man.out 2>man.err &&
    grep -q "sweepq run" man.out && grep -q -- "--jobs" man.out && grep -q -- "--max-trials" man.out &&
    MANPATH="$STAGE/usr/share/man" MANPAGER=cat man sweepq >main.out 2>&1 &&
    grep -q "sweepq-status" main.out && grep -q "EXIT STATUS" main.out
'

expect 'the pages say what --help says: each option of each verb is in its page' '
    while read -r v; do
        sq help "$v" >h.out &&
        grep -o -- "--[a-z][a-z-]*" h.out | sort -u >opts &&
        sed "s/\\\\-/-/g" "$STAGE/usr/share/man/man1/sweepq-$v.1" >page &&
        while read -r o; do
            grep -q -F -- "$o" page || { echo "sweepq-$v.1 lacks $o"; return 1; }
        done <opts || return 1
    done <verbs
'

expect 'make uninstall with the same DESTDIR and PREFIX removes every file' '
    mk uninstall DESTDIR="$STAGE" PREFIX=/usr >uninstall.out 2>&1 &&
    find "$STAGE" -type f >left && ! test -s left
'

expect 'PREFIX=$HOME/.local make install: sweepq and man sweepq-run from the PATH, under $HOME only' '
    export HOME=$TEST_DIR/home && mkdir -p "$HOME" &&
    PREFIX=$HOME/.local mk install >home.out 2>&1 &&
    PATH=$HOME/.local/bin:/usr/bin:/bin sweepq --version | grep -q "^sweepq " &&
    (unset MANPATH; PATH=$HOME/.local/bin:/usr/bin:/bin man -w sweepq-run) >where.out &&
    grep -q "^$HOME/.local/share/man/man1/sweepq-run.1" where.out &&
    test -s "$HOME/.local/share/bash-completion/completions/sweepq"
'

expect 'PREFIX=$HOME/.local make uninstall leaves nothing under $HOME/.local' '
    PREFIX=$HOME/.local mk uninstall >home-un.out 2>&1 &&
    ! test -e "$HOME/.local/bin/sweepq" &&
    find "$HOME/.local" -type f >left && ! test -s left
'

finish
