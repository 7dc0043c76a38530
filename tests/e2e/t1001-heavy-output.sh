#!/usr/bin/env bash
# t1001-heavy-output: a trial that floods its output (100 MB of "loss=" lines
# in a few seconds) runs beside a healthy trial on one agent (-j 2, a 4 s
# lease, so a heartbeat late by more than a few seconds loses it): the
# healthy trial keeps its lease (one attempt, succeeded), the flooding
# trial's metric rows are capped (METRICS_MAX_ROWS, metrics.h) with one
# warning, the output it wrote faster than the agent reads is skipped at its
# end with one warning, and the agent's memory stays bounded (generously:
# under 300 MB resident, sampled while it runs).
. "$(dirname "$0")/lib.sh"

cat >flood.py <<'EOF'
import sys
line = b"loss=0.5\n" * 100000                  # 900 kB
for _ in range(111):                           # about 100 MB
    sys.stdout.buffer.write(line)
sys.stdout.buffer.write(b"loss=0.25\n")        # the final value
sys.stdout.flush()
EOF
cat >steady.py <<'EOF'
import sys, time
for e in range(1, 13):
    print("loss=%g" % (1.0 / e), flush=True)
    time.sleep(1)
EOF
cat >sweep.yaml <<EOF
name: flood
method: grid
metric: {name: loss, goal: minimize}
command: [$PYTHON, '$TEST_DIR/\${param.script}']
lease_ttl: 4s
max_attempts: 1
parameters:
  script: {values: [steady.py, flood.py]}
EOF

expect 'the agent runs both trials; the flood costs the healthy trial nothing' '
    sq create sweep.yaml >create.out 2>&1 &&
    bg sq agent --sweep flood -j 2 --exit-when-idle >agent.out 2>agent.err &&
    agent=$! &&
    peak=0 && deadline=$((SECONDS + 300)) &&
    while pid_alive $agent && [ $SECONDS -lt $deadline ]; do
        rss=$(awk "/^VmRSS:/ {print \$2}" /proc/$agent/status 2>/dev/null || echo 0)
        [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        sleep 0.2
    done &&
    wait $agent &&
    echo "peak agent RSS ${peak} kB" >rss.txt &&
    sq trials flood --json >trials.json &&
    test "$(json_get "[(t[\"number\"], t[\"state\"], t[\"attempts\"]) for t in d]" <trials.json)" = \
        "[[1, \"succeeded\", 1], [2, \"succeeded\", 1]]"
'

expect 'the flooding trial final value is its last line; its rows are capped, with one warning each' '
    test "$(json_get "d[1][\"metrics\"][\"loss\"]" <trials.json)" = 0.25 &&
    test "$(json_get "d[0][\"metrics\"][\"loss\"]" <trials.json)" = 0.0833333 &&
    "$PYTHON" -c "
import sqlite3, sys
db = sqlite3.connect(\".sweepq/sweepq.db\")
n = db.execute(\"SELECT count(*) FROM metrics m JOIN trials t ON t.id = m.trial_id WHERE t.number = 2\").fetchone()[0]
steady = db.execute(\"SELECT count(*) FROM metrics m JOIN trials t ON t.id = m.trial_id WHERE t.number = 1\").fetchone()[0]
print(n, steady)
sys.exit(0 if 0 < n <= 200000 and steady == 12 else 1)" >rows.txt &&
    test "$(grep -c "the excess is dropped" agent.err)" = 1 &&
    test "$(grep -c "were not read for metrics" agent.err)" = 1
'

expect 'the agent memory stays bounded while it reads the flood' '
    test "$(sed "s/[^0-9]//g" rss.txt)" -lt 300000
'

finish
