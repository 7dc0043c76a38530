#!/usr/bin/env bash
# t0309-agent-chaos: 500 trials, 4 agents, agents killed with SIGKILL at
# random moments and started again. No trial is lost: every one ends
# succeeded, once, in the store, and actually ran (its successful attempt
# is in the ledger the trials write). A trial killed between its last
# write and the agent's record runs again: that is the at-least-once
# window every runner has, so the ledger may hold such a trial twice, with
# two different attempts, and never more often than agents were killed.
. "$(dirname "$0")/lib.sh"

N=500
cat >sweep.yaml <<EOF
name: chaos
method: grid
command: [sh, -c, 'sleep 0.\$((1 + SWEEPQ_TRIAL % 3)); echo \$SWEEPQ_TRIAL \$SWEEPQ_ATTEMPT >>$TEST_DIR/ledger']
lease_ttl: 2s
max_attempts: 20
parameters:
  i: {values: [$(seq -s, $N)]}
EOF

agents=(0 0 0 0)
start_agent() {
    bg sq agent -j 2 --exit-when-idle >>agent$1.out 2>>agent$1.err
    agents[$1]=$!
}

expect 'four agents run while they are killed at random' '
    sq create sweep.yaml >create.out 2>&1 &&
    for i in 0 1 2 3; do start_agent $i; done &&
    kills=0 &&
    # A fixed number of kills at random moments, not as many as fit in a
    # time: under load the loop is slow, and a time-bounded loop killed
    # fewer agents than the check below asks for. 12 kills take about 7 s;
    # the sweep needs at least 12 s (500 trials of 0.2 s on 8 slots), so they
    # land mid-sweep.
    for _ in $(seq 1 12); do
        sleep 0.$((RANDOM % 8 + 2))
        i=$((RANDOM % 4))
        kill -9 ${agents[$i]} 2>/dev/null && kills=$((kills + 1))
        wait ${agents[$i]} 2>/dev/null
        start_agent $i
    done
    # The next check finishes what the agents left.
    echo "$kills agents killed" >kills.txt &&
    test $kills -ge 5
'

expect 'a last run reaps what the killed agents held and finishes' '
    sq run sweep.yaml -j 4 >run.out 2>run.err &&
    grep -q "^chaos: finished, $N succeeded, 0 failed, 0 cancelled, 0 pending" run.out
'

expect 'no trial was lost: each succeeded once, with an attempt that really ran' '
    sq trials chaos --json >trials.json &&
    test "$(json_get "sum(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = $N &&
    json_get "\"\\n\".join(\"%d %d\" % (t[\"number\"], t[\"attempts\"]) for t in d)" \
        <trials.json >recorded &&
    sort ledger >ledger.sorted &&
    test -z "$(sort recorded | comm -23 - ledger.sorted)"
'

expect 'a trial ran twice only in the at-least-once window of a kill' '
    awk "{ print \$1 }" ledger | sort -n | uniq -d >dups &&
    kills=$(awk "{ print \$1 }" kills.txt) &&
    test $(wc -l <dups) -le $((kills * 2)) &&
    test -z "$(sort ledger | uniq -d)" &&
    ledger_count dups >ndups
'

expect 'every number appears in the ledger' '
    awk "{ print \$1 }" ledger | sort -n | uniq >seen &&
    test "$(wc -l <seen)" = $N
'

echo "# $(cat kills.txt 2>/dev/null); $(cat ndups 2>/dev/null || echo 0) trials ran twice"
finish
