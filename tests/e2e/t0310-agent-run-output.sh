#!/usr/bin/env bash
# t0310-agent-run-output: what run and agent show (--show-output lines, the
# progress line on a terminal), open-ended random sweeps growing on demand
# with --max-trials, and which sweeps an agent takes (--sweep, --tag).
. "$(dirname "$0")/lib.sh"

cat >show.yaml <<EOF
name: show
method: grid
command: [$PYTHON, $TRAINER, --steps=2, "\${args}"]
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2]}
EOF

expect '--show-output streams each trial'"'"'s lines with its number' '
    sq run show.yaml -j 1 --show-output >show.out 2>show.err &&
    grep -qx "\[1\] step=1 loss=1.75 acc=0.363636" show.out &&
    grep -qx "\[2\] step=2 loss=0.5 acc=0.666667" show.out
'

cat >bar.yaml <<EOF
name: bar
method: grid
command: [sleep, "0.2"]
parameters:
  x: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
EOF

expect 'on a terminal, run draws one progress line in place' '
    command -v script >/dev/null || { echo "# script(1) is missing: run scripts/install-deps" >&2; return 1; }
    script -qfec "$SWEEPQ run bar.yaml -j 2" typescript >/dev/null 2>&1 </dev/null &&
    grep -q "bar: finished, 10 succeeded" typescript &&
    grep -q "\] [0-9]*/10 done, [0-9] running, 0 failed, .*ETA" typescript &&
    ! grep -q "^trial [0-9]* succeeded" typescript &&
    test "$(tr "\r" "\n" <typescript | grep -c "done, ")" -ge 2
'

cat >open.yaml <<EOF
name: open
method: random
command: ["true"]
parameters:
  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
EOF

expect 'an open-ended random sweep grows as agents need trials' '
    sq create open.yaml >open-create.out 2>&1 &&
    timeout 60 "$SWEEPQ" agent -j 2 --max-trials 100 >open.out 2>open.err &&
    grep -q "agent done: 100 started, 100 succeeded" open.err &&
    sq trials open --state succeeded --json >open.json &&
    test "$(json_get "len(d)" <open.json)" = 100 &&
    test "$(json_get "len(set(t[\"params\"][\"lr\"] for t in d))" <open.json)" = 100
'

cat >tagged.yaml <<EOF
name: tagged
tags: [nightly]
method: grid
command: [$PYTHON, $TRAINER, --steps=1, "\${args}"]
parameters:
  x: {values: [1, 2]}
EOF
cat >other.yaml <<EOF
name: other
method: grid
command: [$PYTHON, $TRAINER, --steps=1, "\${args}"]
parameters:
  x: {values: [1, 2]}
EOF

expect 'an agent with --tag runs only the sweeps with that tag' '
    sq create tagged.yaml other.yaml >tag-create.out 2>&1 &&
    timeout 60 "$SWEEPQ" agent --tag nightly --exit-when-idle >tag.out 2>tag.err &&
    sq trials tagged --json >tagged.json &&
    sq trials other --json >other.json &&
    test "$(json_get "[t[\"state\"] for t in d]" <tagged.json)" = "[\"succeeded\", \"succeeded\"]" &&
    test "$(json_get "[t[\"state\"] for t in d]" <other.json)" = "[\"pending\", \"pending\"]"
'

expect 'an agent with --sweep runs only that sweep' '
    timeout 60 "$SWEEPQ" agent --sweep other --exit-when-idle >sweep.out 2>sweep.err &&
    sq trials other --json >other.json &&
    test "$(json_get "[t[\"state\"] for t in d]" <other.json)" = "[\"succeeded\", \"succeeded\"]"
'

expect 'an agent with nothing to do and --exit-when-idle exits at once' '
    sq cancel open >cancel.out 2>&1 &&
    start=$SECONDS &&
    timeout 20 "$SWEEPQ" agent --exit-when-idle >idle.out 2>idle.err &&
    test $((SECONDS - start)) -le 3 &&
    grep -q "agent done: 0 started" idle.err
'

expect 'run refuses an invalid spec before touching the store' '
    printf "name: bad\nmethod: grid\nparameters: {x: {values: []}}\n" >bad.yaml &&
    { sq run bad.yaml >bad.out 2>bad.err; test $? = 1; } &&
    grep -q "^bad.yaml:" bad.err
'

expect 'run exits 1 when its trials need more slots than it has, saying why' '
    printf "name: big\nmethod: grid\ncommand: [\"true\"]\nresources: {cpus: 4}\nparameters: {x: {values: [1]}}\n" >big.yaml &&
    { timeout 30 "$SWEEPQ" run big.yaml -j 2 >big.out 2>big.err; test $? = 1; } &&
    grep -q "each trial needs 4 CPU slots and this agent has 2; start it with -j 4" big.err &&
    sq run big.yaml -j 4 >big4.out 2>big4.err &&
    grep -q "^big: finished, 1 succeeded" big4.out
'

finish
