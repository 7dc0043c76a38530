#!/usr/bin/env bash
# t0900-agent-partition: an agent cut off from its store mid-trial gives the
# trial up by its own clock before the store can hand it to another agent
# (the lease rule of Chubby and etcd). A TCP proxy that stops passing bytes
# (cut_proxy.py) partitions agent A from `serve`; A kills its trial within
# lease_ttl; agent B, talking to the server directly, runs the trial again.
# The trials keep a ledger: no line of attempt 1 comes after attempt 2
# started (one copy at a time), and each attempt writes its own metrics
# file, so the stored metrics are attempt 2's only.
. "$(dirname "$0")/lib.sh"
. "$SQ_SOURCE_DIR/tests/e2e/http_lib.sh"

mkdir -p remote
# Attempt 1 runs long enough (600 ticks of 0.2 s) to be cut off; later ones
# finish in 10 ticks.
cat >remote/sweep.yaml <<EOF
name: cut
method: grid
command: [sh, -c, 'echo \$\$ >pid-\$SWEEPQ_ATTEMPT; echo start \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger; n=\$((SWEEPQ_ATTEMPT == 1 ? 600 : 10)); i=0; while [ \$i -lt \$n ]; do i=\$((i + 1)); echo tick \$SWEEPQ_ATTEMPT \$i >>$TEST_DIR/ledger; echo "{\"step\": \$i, \"att\": \$SWEEPQ_ATTEMPT}" >>\$SWEEPQ_METRICS_FILE; sleep 0.2; done; echo end \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 3s
max_attempts: 3
parameters:
  i: {values: [1]}
EOF
TOKEN=$TEST_DIR/server/.sweepq/server.token
DB=$TEST_DIR/server/.sweepq/sweepq.db

expect 'agent A runs the trial through a proxy to the server' '
    http_serve_start 127.0.0.1:0 &&
    (cd remote && "$SWEEPQ" create sweep.yaml --store "$URL" --token-file "$TOKEN" >../create.out) &&
    bg "$PYTHON" "$SQ_SOURCE_DIR/tests/e2e/cut_proxy.py" "$PORT" proxy.port cut &&
    wait_for 30 "test -s proxy.port" &&
    bg sh -c "cd remote && exec \"\$0\" agent -j 1 --store \"\$1\" --token-file \"\$2\"" \
        "$SWEEPQ" "http://127.0.0.1:$(cat proxy.port)" "$TOKEN" >a.out 2>a.err &&
    A=$! &&
    wait_for 60 "grep -q \"^tick 1 3\$\" ledger"
'

expect 'cut off, A stops its trial by its own clock' '
    : >cut &&
    wait_for 60 "grep -q \"could not be renewed\" a.err" &&
    wait_for 30 "! pid_alive \$(cat remote/.sweepq/sweeps/cut/trials/1/pid-1)" &&
    pid_alive $A
'

expect 'agent B, not cut off, runs the trial again and it succeeds' '
    bg sh -c "cd remote && exec \"\$0\" agent -j 1 --store \"\$1\" --token-file \"\$2\"" \
        "$SWEEPQ" "$URL" "$TOKEN" >b.out 2>b.err &&
    B=$! &&
    wait_for 120 "sq trials cut --store \"sqlite:$DB\" --state succeeded --json >done.json &&
        test \"\$(json_get \"len(d)\" <done.json)\" = 1" &&
    kill -INT $B && wait $B
'

expect 'one copy at a time: no line of attempt 1 after attempt 2 started' '
    grep -q "^end 2\$" ledger &&
    ! grep -q "^end 1\$" ledger &&
    awk "/^start 2\$/ { two = 1 } two && /^tick 1 / { bad = 1 } END { exit bad }" ledger
'

expect 'the trial succeeded with attempt 2, and its metrics are attempt 2 only' '
    test "$(json_get "d[0][\"attempts\"] >= 2" <done.json)" = true &&
    "$PYTHON" -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute(\"SELECT attempt, value FROM metrics WHERE name = ?\", (\"att\",)).fetchall()
assert rows, \"no metrics stored\"
last = max(a for a, _ in rows)
bad = [(a, v) for a, v in rows if a == last and v != a]
assert not bad, bad
" "$DB" &&
    test "$(json_get "d[0][\"metrics\"][\"att\"] == d[0][\"attempts\"]" <done.json)" = true
'

finish
