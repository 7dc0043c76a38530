#!/bin/bash
# sweepq completion bash|zsh|fish: bash's completion function, driven as
# bash drives it (COMP_WORDS, COMP_CWORD, then COMPREPLY), completes verbs,
# each verb's options from its table, sweep names and tags from the store
# (also one named with --store), files and remote's actions; fish's
# completion is driven with `complete -C`; the zsh script parses, and an
# interactive bash registers the function.
. "$(dirname "$0")/lib.sh"

for tool in bash zsh fish; do
    command -v "$tool" >/dev/null || { echo "# $tool is missing: run scripts/install-deps" >&2; exit 1; }
done
# The scripts call the sweepq they complete for; put this one on the PATH.
mkdir bin && ln -s "$SWEEPQ" bin/sweepq
export PATH=$TEST_DIR/bin:$PATH

spec() {
    cat >"$1.yaml" <<EOF2
name: $1
method: grid
tags: [$2]
command: [true]
parameters:
  x: {values: [1, 2]}
EOF2
}
spec alpha batch-1
spec beta batch-2

# complete WORD...: the completions bash offers for the last word.
complete_bash() {
    (
        COMP_WORDS=(sweepq "$@")
        COMP_CWORD=$#
        source "$TEST_DIR/completion.bash" &&
        _sweepq &&
        printf "%s\n" "${COMPREPLY[@]}"
    )
}

expect 'the bash, zsh and fish scripts are written and parse' '
    sq completion bash >completion.bash && bash -n completion.bash &&
    sq completion zsh >_sweepq && zsh -n _sweepq && head -1 _sweepq | grep -q "^#compdef sweepq" &&
    sq completion fish >sweepq.fish && fish -n sweepq.fish
'

expect 'bash completes verbs and each verb'"'"'s options' '
    complete_bash st >out && grep -qx status out && ! grep -qx run out &&
    complete_bash "" >out && grep -qx completion out && grep -qx gc out &&
    complete_bash run --j >out && grep -qx -- --jobs out &&
    complete_bash status -- >out && grep -qx -- --watch out && grep -qx -- --json out &&
    ! grep -qx -- --jobs out
'

expect 'bash completes sweep names and tags from the store' '
    sq create alpha.yaml >/dev/null && sq create beta.yaml >/dev/null &&
    complete_bash status "" >out && grep -qx alpha out && grep -qx beta out &&
    complete_bash best a >out && test "$(cat out)" = alpha &&
    complete_bash agent --sweep b >out && test "$(cat out)" = beta &&
    complete_bash wait --tag "" >out && grep -qx batch-1 out && grep -qx batch-2 out
'

expect 'bash completes the sweeps of the store named by --store, from elsewhere' '
    mkdir -p elsewhere && cd elsewhere &&
    complete_bash status --store "sqlite:$TEST_DIR/.sweepq/sweepq.db" "" >../out; cd "$TEST_DIR" &&
    grep -qx alpha out && grep -qx beta out
'

expect 'bash completes files for FILE operands and remote'"'"'s actions' '
    complete_bash validate al >out && test "$(cat out)" = alpha.yaml &&
    complete_bash remote "" >out && grep -qx add out && grep -qx health out &&
    complete_bash completion "" >out && grep -qx zsh out
'

expect 'an interactive bash registers the completion function' '
    bash --norc -i -c "source <(sweepq completion bash); complete -p sweepq" >reg.out 2>/dev/null &&
    grep -q "complete -F _sweepq sweepq" reg.out
'

expect 'fish completes verbs, options and sweep names' '
    fish --no-config -c "source sweepq.fish; complete -C \"sweepq stat\"" >f1 &&
    grep -q "^status" f1 &&
    fish --no-config -c "source sweepq.fish; complete -C \"sweepq run --ma\"" >f2 &&
    grep -q "^--max-trials" f2 &&
    fish --no-config -c "source sweepq.fish; complete -C \"sweepq trials \"" >f3 &&
    grep -q "^alpha" f3 && grep -q "^beta" f3
'

expect 'completion --list refuses what it cannot list, with a usage error' '
    { sq completion --list colours 2>err; test $? = 2; } && grep -q "sweeps" err &&
    { sq completion tcsh 2>err; test $? = 2; } && grep -q "bash, zsh or fish" err
'

finish
