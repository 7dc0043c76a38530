#!/usr/bin/env bash
# t1204-status-tag: `sweepq status --tag T` shows only the sweeps of batch
# T (issue 16, item 17: documented, was missing); an unknown tag exits 3;
# names and --tag together are a usage error.
. "$(dirname "$0")/lib.sh"

for n in a b c; do
    cat >$n.yaml <<YAML
program: t.py
command: ["$PYTHON", -c, "pass"]
method: grid
parameters:
  x: {values: [1]}
YAML
done

expect 'two batches run' '
    sq run a.yaml b.yaml --tag one -j 1 >r1.out 2>r1.err &&
    sq run c.yaml --tag two -j 1 >r2.out 2>r2.err
'

expect 'status --tag one shows a and b only' '
    sq status --tag one >st.out 2>st.err &&
    grep -q "^a " st.out && grep -q "^b " st.out && ! grep -q "^c " st.out
'

expect 'status --tag two --json shows c only' '
    sq status --tag two --json >st.json 2>st.err &&
    test "$(json_get "[s[\"name\"] for s in (d if isinstance(d, list) else d[\"sweeps\"])]" <st.json)" = "[\"c\"]"
'

expect 'an unknown tag exits 3 saying so' '
    rc=0; sq status --tag nope >n.out 2>n.err || rc=$? &&
    test "$rc" = 3 && grep -q "no sweep has the tag" n.err
'

expect 'names and --tag together are a usage error' '
    rc=0; sq status a --tag one >u.out 2>u.err || rc=$? &&
    test "$rc" = 2
'

finish
