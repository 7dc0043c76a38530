# bayes_lib.sh - a bayes sweep run by 8 agents over one store, one agent
# killed with SIGKILL mid-sweep: what t1020 (SQLite), t1021 (PostgreSQL) and
# t1022 (`sweepq serve`) check, each over its own store. Source it after
# lib.sh with STORE_ARGS set to the agents' store options (--store URL, and
# --token-file for serve), then call bayes_checks.
#
# The trials are proposed by the agents as they ask for work (no trial
# exists up front); the store's add-and-claim step must keep the sweep at
# exactly run_cap trials, each run to success once, although 8 agents
# propose at the same moment and one dies holding a trial.

# bsq ARGS...: the binary against the test's store.
bsq() { "$SWEEPQ" "$@" "${STORE_ARGS[@]}"; }

bayes_spec() {
    cat >sweep.yaml <<EOF2
name: bayes40
method: bayes
metric: {name: loss, goal: minimize}
run_cap: 40
seed: 11
lease_ttl: 3s
max_attempts: 5
command: ['$PYTHON', '$TRAINER', '--ledger=$TEST_DIR/ledger', '--steps=3', '--sleep=0.3', '\${args}']
parameters:
  x: {min: 0.0, max: 4.0}
  y: {min: -2.0, max: 6.0}
  width: {values: [16, 32, 64]}
EOF2
}

bayes_checks() {
    bayes_spec
    expect 'a bayes sweep is created empty, bounded by its run_cap' '
        bsq create sweep.yaml >create.out 2>&1 &&
        grep -q "created sweep bayes40: bayes search, up to 40 trials" create.out &&
        bsq status bayes40 --json >status0.json &&
        test "$(json_get "d[0][\"progress\"][\"total\"]" <status0.json)" = 40 &&
        test "$(json_get "d[0][\"progress\"][\"done\"]" <status0.json)" = 0 &&
        bsq trials bayes40 --json >trials0.json &&
        test "$(json_get "len(d)" <trials0.json)" = 0
    '

    agents=()
    expect '8 agents start proposing and running trials' '
        for i in 1 2 3 4 5 6 7 8; do
            bg "$SWEEPQ" run sweep.yaml -j 1 "${STORE_ARGS[@]}" >run$i.out 2>run$i.err &&
            agents+=($!) || return 1
        done &&
        test ${#agents[@]} = 8
    '

    expect 'an agent killed with SIGKILL mid-sweep' '
        wait_for 180 "test \$(ledger_count ledger) -ge 8" &&
        kill -9 ${agents[0]} && wait ${agents[0]} 2>/dev/null;
        test "$(ledger_count ledger)" -lt 40
    '

    expect 'the other agents finish the sweep and exit 0' '
        for p in "${agents[@]:1}"; do wait $p || { echo "# agent $p failed"; cat run*.err; exit 1; }; done
    '

    # The ledger is written by each run that succeeds: a trial whose agent
    # was killed after its command ended and before its success was
    # recorded ran again (at-least-once for the command, once in the store).
    expect 'exactly 40 trials, numbered 1..40, each succeeded once' '
        bsq trials bayes40 --json >trials.json &&
        "$PYTHON" - <<PY
import collections, json
runs = collections.Counter(int(l) for l in open("ledger"))
trials = {t["number"]: t for t in json.load(open("trials.json"))}
assert sorted(runs) == list(range(1, 41)), sorted(runs)
for n, c in runs.items():
    assert c == 1 or (c == 2 and trials[n]["attempts"] >= 2), (n, c, trials[n])
assert sum(runs.values()) <= 41, runs
PY
        test $? = 0 &&
        test "$(json_get "len(d)" <trials.json)" = 40 &&
        test "$(json_get "sorted(t[\"number\"] for t in d) == list(range(1, 41))" <trials.json)" = true &&
        test "$(json_get "all(t[\"state\"] == \"succeeded\" for t in d)" <trials.json)" = true &&
        test "$(json_get "all(\"loss\" in t[\"metrics\"] for t in d)" <trials.json)" = true
    '

    expect 'the sweep is finished at 40 of 40 and no more is proposed' '
        bsq status bayes40 --json >status.json &&
        test "$(json_get "d[0][\"state\"]" <status.json)" = finished &&
        test "$(json_get "d[0][\"progress\"][\"total\"]" <status.json)" = 40 &&
        test "$(json_get "d[0][\"progress\"][\"done\"]" <status.json)" = 40 &&
        bsq agent --sweep bayes40 -j 2 --exit-when-idle >late.out 2>late.err &&
        bsq trials bayes40 --json >trials2.json &&
        test "$(json_get "len(d)" <trials2.json)" = 40
    '

    expect 'best ranks the trials by their final loss' '
        bsq best bayes40 -n 3 --json >best.json &&
        test "$(json_get "[t[\"value\"] for t in d[\"trials\"]] == sorted(t[\"metrics\"][\"loss\"] for t in d[\"trials\"])" <best.json)" = true &&
        "$PYTHON" -c "import json; t = json.load(open(\"trials.json\")); b = json.load(open(\"best.json\")); assert b[\"trials\"][0][\"value\"] == min(x[\"metrics\"][\"loss\"] for x in t)"
    '
}
