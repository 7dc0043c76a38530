#!/usr/bin/env bash
# t0602-pg-chaos: 2,000 trials, 16 agents on one PostgreSQL store; agents
# are killed with SIGKILL at random and started again, and PostgreSQL
# itself is restarted mid-sweep. Agents ride out the restart (store calls
# fail as transient, the store reconnects with backoff) and nothing is
# lost: every trial ends succeeded in the store and its successful attempt
# is in the ledger the trials write. A trial may run twice only in the
# at-least-once window (killed agent, or a lease that expired while the
# database was away), never with the same attempt twice.
. "$(dirname "$0")/lib.sh"

PG_DIR=$(SQ_PG_OWNER=$$ "$SQ_SOURCE_DIR/tests/pg-up.sh") || { echo "not ok - PostgreSQL did not start"; exit 1; }
trap '"$SQ_SOURCE_DIR/tests/pg-down.sh" "$PG_DIR" --rm; lib_cleanup' EXIT
URL=$(cat "$PG_DIR/url")

N=2000
cat >sweep.yaml <<EOF
name: pgchaos
method: grid
command: [sh, -c, 'sleep 0.0\$((SWEEPQ_TRIAL % 5)); echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 2s
max_attempts: 50
parameters:
  i: {values: [$(seq -s, $N)]}
EOF

agents=()
start_agent() {
    bg sq agent --store "$URL" --sweep pgchaos -j 1 --exit-when-idle >>agent$1.out 2>>agent$1.err
    agents[$1]=$!
}

done_count() {
    sq status pgchaos --json --store "$URL" >st.json 2>/dev/null &&
        json_get "[s for s in (d if isinstance(d, list) else d[\"sweeps\"]) if s[\"name\"] == \"pgchaos\"][0][\"counts\"][\"succeeded\"]" <st.json
}

expect 'the sweep is created' '
    sq create sweep.yaml --store "$URL" >create.out 2>&1
'

expect '16 agents run while agents are killed and PostgreSQL restarts' '
    for i in $(seq 0 15); do start_agent $i; done &&
    kills=0 && restarted=0 &&
    deadline=$((SECONDS + 90)) &&
    while [ $SECONDS -lt $deadline ]; do
        sleep 0.$((RANDOM % 5 + 2))
        i=$((RANDOM % 16))
        kill -9 ${agents[$i]} 2>/dev/null && kills=$((kills + 1))
        wait ${agents[$i]} 2>/dev/null
        start_agent $i
        n=$(wc -l <ledger 2>/dev/null || echo 0)
        if [ $restarted = 0 ] && [ "$n" -ge $((N / 3)) ]; then
            "$SQ_SOURCE_DIR/tests/pg-down.sh" "$PG_DIR" &&
            sleep 0.5 &&
            "$SQ_SOURCE_DIR/tests/pg-up.sh" "$PG_DIR" >/dev/null 2>pgup.err &&
            restarted=$n
        fi
        [ "$n" -ge $N ] && [ $restarted != 0 ] && break
    done
    # Under load the sweep may outlast the deadline: the next check drains it.
    echo "$kills agents killed, PostgreSQL restarted after $restarted trials" >chaos.txt &&
    test $kills -ge 5 && test $restarted != 0
'

expect 'agents drain what killed agents held once their leases expire' '
    for i in $(seq 0 15); do wait ${agents[$i]} 2>/dev/null; done
    deadline=$((SECONDS + 60)) &&
    while [ $SECONDS -lt $deadline ]; do
        sq trials pgchaos --json --store "$URL" >trials.json &&
        left=$(json_get "sum(t[\"state\"] != \"succeeded\" for t in d)" <trials.json) &&
        [ "$left" = 0 ] && break
        sq agent --store "$URL" --sweep pgchaos -j 4 --exit-when-idle >>last.out 2>>last.err
        sleep 0.5
    done &&
    test "$left" = 0
'

expect 'no trial was lost: each succeeded, with an attempt that really ran' '
    sq trials pgchaos --json --store "$URL" >trials.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = $N &&
    json_get "\"\\n\".join(\"%d %d\" % (t[\"number\"], t[\"attempts\"]) for t in d)" \
        <trials.json >recorded &&
    sort ledger >ledger.sorted &&
    test -z "$(sort recorded | comm -23 - ledger.sorted)"
'

expect 'no attempt ran twice, and every number is in the ledger' '
    test -z "$(sort ledger | uniq -d)" &&
    awk "{ print \$1 }" ledger | sort -n | uniq >seen &&
    test "$(wc -l <seen)" = $N &&
    awk "{ print \$1 }" ledger | sort -n | uniq -d | wc -l >ndups
'

echo "# $(cat chaos.txt 2>/dev/null); $(cat ndups 2>/dev/null || echo 0) trials ran twice"
finish
