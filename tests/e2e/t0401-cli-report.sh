#!/bin/bash
# The reading verbs on a real sweep: a 3x3 grid of the test trainer run with
# `sweepq run -j 3`, then status, trials, best, export, logs, agents, recent
# and their --json forms, which must parse.
. "$(dirname "$0")/lib.sh"

# exits N CMD...: runs CMD; succeeds when it exits with status N exactly.
exits() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || { echo "# expected exit $want from '$*', got $rc" >&2; return 1; }
}

# grid_spec NAME GOAL: a 3x3 grid whose loss is 0.5 + (a-2)^2 + (b-2)^2.
# Trials (last key fastest): 1=(0,1) 2=(0,2) 3=(0,4) 4=(2,1) 5=(2,2) 6=(2,4)
# 7=(3,1) 8=(3,2) 9=(3,4); the least loss is trial 5 (0.5), the most trial 3.
grid_spec() {
    cat >"$1.yaml" <<EOF
name: $1
program: "$TRAINER"
interpreter: "$PYTHON"
command: ["\${env}", "\${interpreter}", "\${program}", "\${args}", "--ledger=$TEST_DIR/$1.ledger"]
method: grid
metric:
  name: loss
  goal: $2
metrics: [acc]
parameters:
  a:
    values: [0, 2, 3]
  b:
    values: [1, 2, 4]
EOF
}

json_ok() { "$PYTHON" -m json.tool "$1" >/dev/null; }

grid_spec lo minimize
grid_spec hi maximize

expect 'a 3x3 grid runs with -j 3' '
    sq run lo.yaml -j 3 >run.out 2>&1 &&
    ledger_exactly_once lo.ledger 9
'

expect 'the same grid with goal maximize runs' '
    sq run hi.yaml -j 3 >run2.out 2>&1 &&
    ledger_exactly_once hi.ledger 9
'

expect 'status shows both sweeps finished with 9 succeeded' '
    sq status >status.out &&
    grep -E "^lo +finished" status.out &&
    grep -E "^hi +finished" status.out &&
    grep -F "9/9" status.out
'

expect 'status --json parses and counts 9 succeeded' '
    sq status lo --json >status.json &&
    json_ok status.json &&
    test "$(json_get "d[0][\"counts\"][\"succeeded\"]" <status.json)" = 9 &&
    test "$(json_get "d[0][\"progress\"][\"done\"]" <status.json)" = 9 &&
    test "$(json_get "d[0][\"state\"]" <status.json)" = finished
'

expect 'status --watch returns at once when every sweep is finished' '
    sq status --watch --interval 0.2 >watch.out &&
    grep -E "^lo +finished" watch.out
'

expect 'best of a minimize sweep is trial 5 with loss 0.5' '
    sq best lo -n 3 >best.out &&
    awk "\$1 == 1 { found = (\$2 == 5 && \$3 == 0.5) } END { exit !found }" best.out &&
    sq best lo --json >best.json && json_ok best.json &&
    test "$(json_get "d[\"trials\"][0][\"number\"]" <best.json)" = 5 &&
    test "$(json_get "len(d[\"trials\"])" <best.json)" = 5 &&
    test "$(json_get "d[\"metric\"][\"goal\"]" <best.json)" = minimize
'

expect 'best of a maximize sweep is trial 3 with loss 8.5' '
    sq best hi -n 1 --json >besthi.json && json_ok besthi.json &&
    test "$(json_get "d[\"trials\"][0][\"number\"]" <besthi.json)" = 3 &&
    test "$(json_get "d[\"trials\"][0][\"value\"]" <besthi.json)" = 8.5 &&
    test "$(json_get "len(d[\"trials\"])" <besthi.json)" = 1
'

expect 'trials lists 9 rows with parameters and metrics' '
    sq trials lo >trials.out &&
    test "$(grep -c succeeded trials.out)" = 9 &&
    head -1 trials.out >header &&
    grep -w a header && grep -w b header && grep -w loss header
'

expect 'trials --sort loss -n 2 gives the two least losses in order' '
    sq trials lo --sort loss -n 2 --json >sorted.json && json_ok sorted.json &&
    test "$(json_get "[t[\"number\"] for t in d] in ([5, 4], [5, 8])" <sorted.json)" = true
'

expect 'trials --sort loss --desc starts with the largest loss' '
    sq trials lo --sort loss --desc -n 1 --json >desc.json &&
    test "$(json_get "d[0][\"number\"]" <desc.json)" = 3
'

expect 'trials --state filters' '
    sq trials lo --state succeeded --json >ok.json &&
    test "$(json_get "len(d)" <ok.json)" = 9 &&
    sq trials lo --state failed --json >failed.json &&
    test "$(json_get "len(d)" <failed.json)" = 0 &&
    exits 2 sq trials lo --state bogus 2>err && grep -F "unknown state" err
'

expect 'export csv has 9 rows, the fixed columns, parameters and metric.loss' '
    sq export lo --format csv >lo.csv &&
    "$PYTHON" - lo.csv <<"EOF"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 9, len(rows)
cols = list(rows[0].keys())
assert cols[:6] == ["number", "state", "attempts", "started_at", "finished_at", "duration"], cols
for c in ("a", "b", "metric.loss", "metric.acc"):
    assert c in cols, (c, cols)
byn = {int(r["number"]): r for r in rows}
assert float(byn[5]["metric.loss"]) == 0.5, byn[5]
assert float(byn[3]["metric.loss"]) == 8.5, byn[3]
assert (byn[7]["a"], byn[7]["b"]) == ("3", "1"), byn[7]
for r in rows:
    assert r["state"] == "succeeded" and r["attempts"] == "1", r
    assert r["started_at"].endswith("Z") and "T" in r["finished_at"], r
    assert float(r["duration"]) >= 0, r
EOF
'

expect 'export -o writes the file atomically and infers jsonl and json' '
    sq export lo -o out.jsonl &&
    test "$(wc -l <out.jsonl)" = 9 &&
    "$PYTHON" -c "import json,sys; [json.loads(l) for l in open(\"out.jsonl\")]" &&
    sq export lo -o out.json && json_ok out.json &&
    test "$(json_get "len(d)" <out.json)" = 9 &&
    test "$(json_get "d[4][\"metric.loss\"]" <out.json)" = 0.5 &&
    ! ls out.json.* 2>/dev/null
'

expect 'export refuses an unknown format' '
    exits 2 sq export lo --format xml 2>err &&
    grep -F "unknown format" err
'

expect 'logs prints a trial'"'"'s output' '
    sq logs lo 5 >log5.out &&
    grep -F "step=3 loss=0.5" log5.out &&
    sq logs lo 5 --attempt 1 >log5a.out && cmp log5.out log5a.out &&
    sq logs lo 5 --json >log5.json && json_ok log5.json &&
    "$PYTHON" -c "import json,sys; assert json.load(open(\"log5.json\"))[\"log\"] == open(\"log5.out\").read()"
'

expect 'logs of a missing attempt or trial fails cleanly' '
    exits 3 sq logs lo 5 --attempt 2 2>err &&
    exits 3 sq logs lo 99 2>err && grep -F "no trial 99" err
'

expect 'agents and recent --json parse' '
    sq agents --json >agents.json && json_ok agents.json &&
    sq agents >agents.out &&
    sq recent --json >recent.json && json_ok recent.json &&
    test "$(json_get "sorted(s[\"name\"] for s in d)" <recent.json)" = "[\"hi\", \"lo\"]" &&
    sq recent --days 1 >recent.out && grep -E "^(lo|hi) " recent.out
'

expect 'an unknown sweep exits 3 and says where to look' '
    exits 3 sq best nosuch 2>err &&
    grep -F "no sweep named '"'"'nosuch'"'"'" err && grep -F "sweepq status" err
'

expect 'every reading verb has --json in its --help' '
    bad=0
    for v in status trials best agents recent export logs wait; do
        sq $v --help >help.out && grep -F -- "--json" help.out || bad=1
    done
    test "$bad" = 0
'

finish
