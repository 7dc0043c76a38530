#!/bin/bash
# No value runs as shell code, wherever a macro stands in a one-string
# command: bare, inside '...', inside "...", inside a longer word, inside
# $( ) and "$( )". Hostile values ('; touch pwned; ', $(touch pwned),
# backquotes, double quotes, backslashes) arrive in every place as written,
# and no file 'pwned' appears. A macro inside backquotes or right after a
# backslash, where no quoting is safe, is refused by validate with its
# file:line:col.
. "$(dirname "$0")/lib.sh"

# The spec as JSON (YAML reads it), so the values need no YAML quoting.
"$PYTHON" - <<'PY'
import json
values = ["'; touch pwned; '", "$(touch pwned)", "`touch pwned`", '"; touch pwned; "',
          '\\"; touch pwned; \\', "it's $HOME", "a\\'b"]
command = ("printf '%s\\n' ${param.v} '${param.v}' \"${param.v}\" x${param.v}y "
           "'a${param.v}b' \"a${param.v}b\" \"$(printf '%s' ${param.v})\" "
           "\"$(printf '%s' \"${param.v}\")\" \"$(printf '%s' '${param.v}')\" > out.txt; "
           "echo $(printf '%s' ${param.v}) >/dev/null")
json.dump({"name": "places", "method": "grid", "command": command,
           "parameters": {"v": {"values": values}}}, open("places.yaml", "w"), indent=1)
json.dump(values, open("values.json", "w"))
PY

expect 'every place gets the value as written' '
    sq run places.yaml -j 2 >run.out 2>run.err &&
    "$PYTHON" - <<'"'"'PY'"'"'
import json, sys
values = json.load(open("values.json"))
for n, v in enumerate(values, 1):
    got = open(".sweepq/sweeps/places/trials/%d/out.txt" % n).read().split("\n")[:-1]
    want = [v, v, v, "x" + v + "y", "a" + v + "b", "a" + v + "b", v, v, v]
    if got != want:
        sys.exit("trial %d: got %r, want %r" % (n, got, want))
PY
'

expect 'no value ran as code' '
    test -z "$(find . -name pwned)"
'

cat >bq.yaml <<'EOF'
name: bq
method: grid
command: "echo `echo ${param.v}`"
parameters:
  v: {values: [a]}
EOF
cat >bs.yaml <<'EOF'
name: bs
method: grid
command: "echo \\${param.v}"
parameters:
  v: {values: [a]}
EOF

expect 'a macro inside backquotes or after a backslash is refused at validate' '
    must_fail sq validate bq.yaml >bq.out 2>&1 &&
    grep -q "^bq.yaml:3:10: key .command.: macro .\${param.v}. inside backquotes.*write \$(...)" bq.out &&
    must_fail sq validate bs.yaml >bs.out 2>&1 &&
    grep -q "^bs.yaml:3:10: key .command.: macro .\${param.v}. right after a backslash" bs.out
'

finish
