#!/usr/bin/env bash
# t0720-logs-stored: an agent with --ship-logs always stores the tail of
# each attempt's log in the (SQLite) store; once the trial directories are
# gone, `sweepq logs` prints that tail with a note saying so: a log bigger
# than the cap keeps exactly its last STORE_LOG_MAX (256 KiB) bytes, each
# attempt has its own tail, and --json says where the text came from. The
# default (auto) ships nothing to a SQLite store.
. "$(dirname "$0")/lib.sh"

cap=262144
# Trial 1 prints 300000 bytes between a head and a tail line; trial 2
# fails on its first attempt and succeeds on its second (a file marks the
# first run); trial 3 prints 2-byte characters, one of them cut by the cap
# (an odd number of bytes follows them).
cat >job.sh <<'EOF'
#!/bin/sh
case "$1" in
1) echo "head of trial 1"
   head -c 300000 /dev/zero | tr '\0' 'y'
   echo
   echo "tail of trial 1" ;;
2) if [ ! -e "$2/ran-once" ]; then
       : >"$2/ran-once"
       echo "attempt one of trial 2 fails" >&2
       exit 3
   fi
   echo "attempt two of trial 2 succeeds" ;;
3) "$3" -c 'import sys; sys.stdout.write("\u00e9" * 140000 + "\nend of trial 3.\n")' ;;
esac
EOF
chmod +x job.sh
cat >shipped.yaml <<EOF
name: shipped
method: grid
command: [$TEST_DIR/job.sh, "\${param.n}", $TEST_DIR, $PYTHON]
max_attempts: 2
parameters:
  n: {values: [1, 2, 3]}
EOF
trials=.sweepq/sweeps/shipped/trials

expect 'an agent with --ship-logs always runs the sweep on a SQLite store' '
    sq create shipped.yaml >create.out &&
    sq agent --ship-logs always --exit-when-idle -j 2 >agent.out 2>agent.err &&
    grep -q "3 succeeded" agent.err &&
    test "$(sqlite3 .sweepq/sweepq.db "SELECT count(*) FROM logs")" = 4
'

expect 'with the trial directories here, logs prints the files, with no note' '
    cp $trials/1/attempt-1.log big.log &&
    cp $trials/2/attempt-1.log two-1.log &&
    sq logs shipped 1 >file.out 2>file.err &&
    cmp file.out big.log &&
    test ! -s file.err
'

rm -rf "$trials"

expect 'without them, logs prints the stored tail and says so on stderr' '
    sq logs shipped 2 >tail2.out 2>tail2.err &&
    test "$(cat tail2.out)" = "attempt two of trial 2 succeeds" &&
    grep -q "tail stored in the store, 32 bytes from the agent on $(hostname)" tail2.err &&
    test "$(wc -l <tail2.err)" = 1
'

expect 'a log bigger than the cap keeps exactly its last 256 KiB' '
    test "$(wc -c <big.log)" -gt "$cap" &&
    sq logs shipped 1 >tail1.out 2>tail1.err &&
    test "$(wc -c <tail1.out)" = "$cap" &&
    tail -c "$cap" big.log | cmp - tail1.out &&
    tail -n 1 tail1.out | grep -qx "tail of trial 1" &&
    ! grep -q "head of trial 1" tail1.out &&
    grep -q "$cap bytes" tail1.err
'

expect 'a cut through a multi-byte character drops its rest: the tail is text' '
    sq logs shipped 3 --json >tail3.json 2>tail3.err &&
    test "$(json_get "d[\"source\"]" <tail3.json)" = store &&
    test "$(json_get "d[\"path\"]" <tail3.json)" = null &&
    test "$(json_get "len(d[\"log\"].encode())" <tail3.json)" = $((cap - 1)) &&
    test "$(json_get "d[\"log\"].splitlines()[-1]" <tail3.json)" = "end of trial 3." &&
    test "$(json_get "set(d[\"log\"].splitlines()[0]) == {chr(233)}" <tail3.json)" = true
'

expect 'each attempt has its own tail: --attempt 1 shows the failed one' '
    sq logs shipped 2 --attempt 1 >att1.out 2>att1.err &&
    cmp att1.out two-1.log &&
    grep -q "attempt 1" att1.err
'

expect 'an attempt that does not exist is refused' '
    must_fail sq logs shipped 2 --attempt 3 2>att3.err &&
    grep -q "has no attempt 3" att3.err
'

cat >local.yaml <<EOF
name: local
method: grid
command: [echo, "run \${param.n}"]
parameters:
  n: {values: [1]}
EOF

expect 'by default (auto) an agent ships nothing to a SQLite store' '
    sq create local.yaml >/dev/null &&
    sq agent --sweep local --exit-when-idle >/dev/null 2>&1 &&
    test "$(sqlite3 .sweepq/sweepq.db "SELECT count(*) FROM logs l JOIN trials t ON t.id = l.trial_id JOIN sweeps s ON s.id = t.sweep_id WHERE s.name = '"'"'local'"'"'")" = 0 &&
    sq logs local 1 >local.out &&
    test "$(cat local.out)" = "run 1"
'

expect 'with neither the file nor a stored tail, logs says so and exits 3' '
    rm -rf .sweepq/sweeps/local/trials &&
    sq logs local 1 >none.out 2>none.err; test $? = 3 &&
    grep -q "no agent stored its tail" none.err &&
    test ! -s none.out
'

expect 'a bad --ship-logs value is a usage error' '
    sq agent --ship-logs sometimes >bad.out 2>bad.err; test $? = 2 &&
    grep -q "expected auto, always or never" bad.err
'

finish
