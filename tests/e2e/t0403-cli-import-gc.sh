#!/bin/bash
# import: trials found in an earlier results CSV are marked succeeded with
# its metrics and are not run again; values match by meaning ("0.0" is 0,
# "4e0" is 4). gc: old finished sweeps leave the store and the disk.
. "$(dirname "$0")/lib.sh"

# exits N CMD...: runs CMD; succeeds when it exits with status N exactly.
exits() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || { echo "# expected exit $want from '$*', got $rc" >&2; return 1; }
}

spec() {
    cat >"$1.yaml" <<EOF
name: $1
program: "$TRAINER"
interpreter: "$PYTHON"
command: ["\${env}", "\${interpreter}", "\${program}", "\${args}", "--ledger=$TEST_DIR/$1.ledger"]
method: grid
metric: {name: loss, goal: minimize}
parameters:
  a: {values: [0, 2, 3]}
  b: {values: [1, 2, 4]}
EOF
}

count() {
    sq trials "$1" --state "$2" --json >count.json && json_get "len(d)" <count.json
}

agent() { timeout 120 "$SWEEPQ" agent --exit-when-idle -j 3 "$@"; }

# Trials: 1=(0,1) 2=(0,2) 3=(0,4) 4=(2,1) 5=(2,2) 6=(2,4) 7=(3,1) 8=(3,2) 9=(3,4)
printf '%s\r\n' 'a,b,loss,acc,note' \
    '0.0,1,5.5,0.15,old run' \
    '2,2.0,0.25,0.8,"quoted, with a comma"' \
    '3,4e0,5.5,0.15,x' \
    '"3","1",2.5,0.28,' \
    '9,9,1,1,matches nothing' >results.csv

spec imp
expect 'import marks the 4 matching pending trials succeeded' '
    sq create imp.yaml >/dev/null &&
    sq import imp results.csv >import.out &&
    grep -F "imported 4 trials" import.out &&
    grep -F "1 row matched no trial" import.out &&
    test "$(count imp succeeded)" = 4 &&
    test "$(count imp pending)" = 5
'

expect 'imported trials carry the CSV'"'"'s numeric columns as metrics' '
    sq trials imp --state succeeded --json >imported.json &&
    test "$(json_get "sorted(t[\"number\"] for t in d)" <imported.json)" = "[1, 5, 7, 9]" &&
    test "$(json_get "[t[\"metrics\"] for t in d if t[\"number\"] == 5][0] == {\"acc\": 0.8, \"loss\": 0.25}" <imported.json)" = true
'

expect 'the next run of the same spec skips the imported trials' '
    sq run imp.yaml -j 3 >run.out 2>&1 &&
    test "$(sort -n imp.ledger | tr "\n" " ")" = "2 3 4 6 8 " &&
    test "$(count imp succeeded)" = 9
'

expect 'best counts the imported results' '
    sq best imp -n 1 --json >best.json &&
    test "$(json_get "d[\"trials\"][0][\"number\"]" <best.json)" = 5 &&
    test "$(json_get "d[\"trials\"][0][\"value\"]" <best.json)" = 0.25
'

expect 'importing again matches nothing pending' '
    sq import imp results.csv >again.out &&
    grep -F "imported 0 trials" again.out &&
    grep -F "4 matched a trial that is not pending" again.out
'

expect 'a file from sweepq export imports into a fresh sweep of the same grid' '
    sq export imp -o imp.csv 2>/dev/null &&
    sed "s/^name: imp$/name: imp2/; s/imp.ledger/imp2.ledger/" imp.yaml >imp2.yaml &&
    sq create imp2.yaml >/dev/null &&
    sq import imp2 imp.csv >import2.out && grep -F "imported 9 trials" import2.out &&
    sq trials imp2 --json >imp2.json &&
    test "$(json_get "sorted(d[0][\"metrics\"])" <imp2.json)" = "[\"acc\", \"loss\"]"
'

expect '--metric-prefix picks the metric columns and strips the prefix' '
    printf "a,b,epoch,final_loss\n2,2,10,0.125\n" >prefixed.csv &&
    sed "s/^name: imp$/name: imp3/" imp.yaml >imp3.yaml &&
    sq create imp3.yaml >/dev/null &&
    sq import imp3 prefixed.csv --metric-prefix final_ >import3.out &&
    grep -F "imported 1 trial " import3.out &&
    sq trials imp3 --state succeeded --json >imp3.json &&
    test "$(json_get "d[0][\"metrics\"]" <imp3.json)" = "{\"loss\": 0.125}"
'

expect 'a CSV without a column for a parameter is refused' '
    printf "a,loss\n2,0.5\n" >short.csv &&
    exits 1 sq import imp3 short.csv 2>err &&
    grep -F "no column for the parameter '"'"'b'"'"'" err
'

expect 'import of a missing file exits 3' '
    exits 3 sq import imp3 missing.csv 2>err
'

expect 'gc without --older-than is a usage error' '
    exits 2 sq gc 2>err && grep -F -- "--older-than" err
'

expect 'gc --older-than 1 keeps sweeps that finished just now' '
    sq gc --older-than 1 >gc1.out && grep -F "0 sweeps deleted" gc1.out &&
    test -d .sweepq/sweeps/imp
'

expect 'gc --older-than 0 deletes finished sweeps and their directories, not active ones' '
    sq gc --older-than 0 >gc0.out &&
    grep -F "deleted sweep '"'"'imp'"'"'" gc0.out &&
    grep -F "deleted sweep '"'"'imp2'"'"'" gc0.out &&
    ! test -e .sweepq/sweeps/imp && ! test -e .sweepq/sweeps/imp2 &&
    exits 3 sq status imp 2>err &&
    sq status imp3 --json >imp3s.json &&
    test "$(json_get "d[0][\"state\"]" <imp3s.json)" = active
'

finish
