#!/bin/bash
# What a trial prints cannot drive the user's terminal or break the store's
# JSON: run's failure lines show escape sequences as text, the 200-byte cut
# of the last line falls on a character boundary (so the error survives
# --json and HTTP), a bad metric name is dropped with one warning, and
# `logs` still gives the raw bytes to a pipe.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

cat >noisy.py <<'PY'
import json, os, sys
with open(os.environ["SWEEPQ_METRICS_FILE"], "a") as f:
    f.write(json.dumps({"loss": 0.5, 'a"b': 1, "x\ny": 2, "": 3}) + "\n")
    f.write(json.dumps({"it's": 4, "acc": 0.9}) + "\n")
head = "\x1b]0;pwned\x07\x1b[31mRED\x1b[0m"
line = head + "a" * (199 - len(head.encode())) + "\u00e9" + "tail"
sys.stdout.write(line + "\n")
sys.exit(3)
PY

cat >noisy.yaml <<EOF
name: noisy
method: grid
command: [$PYTHON, $TEST_DIR/noisy.py]
max_attempts: 1
parameters:
  x: {values: [1]}
EOF

ESC=$(printf '\033')

expect 'run prints the failure line with escapes shown as text' '
    must_fail sq run noisy.yaml -j 1 >run.out 2>run.err &&
    grep -F "attempt 1 failed" run.err &&
    grep -F "\\x1b]0;pwned\\x07\\x1b[31mRED" run.err &&
    ! grep -q "$ESC" run.err && ! grep -q "$ESC" run.out
'

expect 'a bad metric name is dropped with one warning, good ones are kept' '
    test "$(grep -c "metric name .* dropped" run.err)" = 1 &&
    sq trials noisy --json >trials.json &&
    test "$(json_get "sorted(d[0][\"metrics\"])" <trials.json)" = "[\"acc\", \"loss\"]"
'

expect 'the 200-byte cut keeps the error valid UTF-8 in --json' '
    err=$(json_get "d[0][\"error\"]" <trials.json) &&
    case "$err" in "exited with status 3: \\x1b]0;pwned"*aaaa) true ;; *) echo "# error: $err"; false ;; esac
'

expect 'over HTTP the error arrives the same' '
    start_server &&
    sq trials noisy --json --store "$URL" --token-file .sweepq/server.token >http.json &&
    test "$(json_get "d[0][\"error\"]" <http.json)" = "$err" &&
    stop_server
'

expect 'logs gives the trial'"'"'s raw bytes to a pipe' '
    sq logs noisy 1 >logs.out &&
    grep -q "$ESC\[31mRED" logs.out
'

finish
