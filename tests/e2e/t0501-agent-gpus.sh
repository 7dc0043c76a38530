#!/usr/bin/env bash
# t0501-agent-gpus: the agent hands GPUs out, over snapshots (docs/gpus.md):
# whole GPUs exclusively, shares packed by memory and never overcommitted,
# a foreign process appearing mid-sweep, an inherited CUDA_VISIBLE_DEVICES,
# a trial too big for any GPU (left pending, a warning, status says so, run
# ends), and GPUs freed when trials end or are killed. Each trial records
# its CUDA_VISIBLE_DEVICES and its start and end times (trainer.py
# --record_gpu=1); the checks read those records.
. "$(dirname "$0")/lib.sh"

SNAPS="$SQ_SOURCE_DIR/tests/gpu"
GPU0=GPU-5f3c1a2e-0b9d-4c7e-9a1f-3d2b6e8c7a01
GPU1=GPU-a83d77e0-51c2-4f0b-8d5e-2c9b41f6e302
unset CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER SWEEPQ_GPU_SNAPSHOT

# spec NAME TRIALS RESOURCES [TRAINER OPTIONS...]: a grid of TRIALS trials.
spec() {
    local name=$1 n=$2 res=$3 extra="" opt
    shift 3
    for opt in "$@"; do extra="$extra$opt, "; done
    {
        echo "name: $name"
        echo "method: grid"
        echo "program: $TRAINER"
        echo "command: [$PYTHON, \"\${program}\", --record_gpu=1, --steps=1, $extra\"\${args}\"]"
        echo "resources: $res"
        echo "max_attempts: 1"
        echo "parameters:"
        echo "  x: {values: [$(seq -s ', ' 1 "$n")]}"
    } >"$name.yaml"
}

# gpucheck SWEEP WHAT [ARG]: reads the records of SWEEP's trials.
#   maxconc [AFTER]  most trials running at once (only those started after
#                    the epoch time AFTER, against every trial)
#   gpus             the distinct CUDA_VISIBLE_DEVICES values, sorted
#   overlap          per GPU, whether two trials' times overlapped (0/1)
#   order            the distinct CUDA_DEVICE_ORDER values
#   count [AFTER]    trials started (after AFTER)
gpucheck() {
    "$PYTHON" - "$@" <<'EOF'
import glob, json, sys
sweep, what = sys.argv[1], sys.argv[2]
after = float(sys.argv[3]) if len(sys.argv) > 3 else 0
recs = [json.load(open(p)) for p in glob.glob(f".sweepq/sweeps/{sweep}/trials/*/gpu-*.json")]
ended = [r for r in recs if r["end"] is not None]
def conc(t):  # trials running at time t
    return sum(1 for o in ended if o["start"] <= t < o["end"])
if what == "maxconc":  # the most running at once is reached at some start
    print(max([conc(r["start"]) for r in ended if r["start"] > after] or [0]))
elif what == "count":
    print(sum(1 for r in recs if r["start"] > after))
elif what == "gpus":
    print(" ".join(sorted({r["cuda"] or "-" for r in recs})))
elif what == "order":
    print(" ".join(sorted({r["order"] or "-" for r in recs})))
elif what == "overlap":
    bad = 0
    for r in ended:
        for o in ended:
            if o is not r and set(o["cuda"].split(",")) & set(r["cuda"].split(",")) \
                    and o["start"] < r["end"] and r["start"] < o["end"]:
                bad = 1
    print(bad)
EOF
}

# trial SWEEP NUMBER EXPR: EXPR over trial NUMBER of `sq trials SWEEP --json`.
trial() {
    sq trials "$1" --json >"trials-$1.json" &&
        json_get "[t for t in d if t[\"number\"] == $2][0]$3" <"trials-$1.json"
}

"$PYTHON" - "$SNAPS/h100x4-idle.json" >two.json <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["gpus"] = d["gpus"][:2]
json.dump(d, sys.stdout)
EOF

spec excl 6 "{gpus: 1}" --sleep=1.2
expect 'exclusive: 6 trials of one whole GPU each, 2 GPUs, -j 8: all succeed' '
    sq run excl.yaml -j 8 --gpu-snapshot two.json >excl.out 2>excl.err &&
    grep -q "^excl: finished, 6 succeeded" excl.out
'
expect 'exclusive: never two trials on one GPU, never more than 2 at once, both used' '
    test "$(gpucheck excl overlap)" = 0 &&
    test "$(gpucheck excl maxconc)" -le 2 &&
    test "$(gpucheck excl gpus)" = "$GPU0 $GPU1" &&
    test "$(gpucheck excl order)" = PCI_BUS_ID
'

spec pack 10 "{gpu_memory: 12GiB}" --sleep=1.5
expect 'packing: 12 GiB shares on one 80 GB GPU: several at once, never more than fit' '
    sq run pack.yaml -j 8 --gpu-snapshot "$SNAPS/h100x1.json" >pack.out 2>pack.err &&
    grep -q "^pack: finished, 10 succeeded" pack.out &&
    test "$(gpucheck pack gpus)" = "$GPU0" &&
    n=$(gpucheck pack maxconc) && echo "at most $n at once" &&
    test "$n" -ge 2 && test "$n" -le 6
'

cp "$SNAPS/h100x1.json" live.json
# The first trials run long enough (5 s) that the snapshot changes while they
# hold the GPU: the agent reads it again (every second) before they end, and
# under load a trial's own start record comes seconds after its claim.
spec foreign 10 "{gpu_memory: 12GiB}" --sleep=5
expect 'a foreign process appearing mid-sweep: new trials are placed one at a time' '
    bg sq run foreign.yaml -j 8 --gpu-snapshot live.json >foreign.out 2>foreign.err &&
    pid=$! &&
    wait_for 30 "ls .sweepq/sweeps/foreign/trials/*/gpu-1.json" &&
    "$PYTHON" -c "import json, sys
d = json.load(open(\"live.json\"))
d[\"gpus\"][0][\"memory_free\"] = \"19GiB\"
d[\"gpus\"][0][\"processes\"] = [{\"pid\": 999999, \"used_memory\": \"60GiB\"}]
json.dump(d, open(\"live.tmp\", \"w\"))" &&
    changed=$(date +%s.%N) && mv live.tmp live.json &&
    wait_for 90 "! pid_alive $pid" && wait $pid &&
    grep -q "^foreign: finished, 10 succeeded" foreign.out &&
    after=$("$PYTHON" -c "print($changed + 2)") &&
    test "$(gpucheck foreign count "$after")" -ge 1 &&
    test "$(gpucheck foreign maxconc "$after")" = 1 &&
    test "$(gpucheck foreign maxconc)" -ge 2
'

spec inherit 4 "{gpus: 1}" --sleep=0.5
expect 'CUDA_VISIBLE_DEVICES=1 inherited: every trial gets GPU 1, one at a time' '
    CUDA_VISIBLE_DEVICES=1 sq run inherit.yaml -j 4 --gpu-snapshot "$SNAPS/h100x4-idle.json" \
        >inherit.out 2>inherit.err &&
    grep -q "^inherit: finished, 4 succeeded" inherit.out &&
    test "$(gpucheck inherit gpus)" = "$GPU1" &&
    test "$(gpucheck inherit overlap)" = 0
'

spec cpu 1 "{cpus: 1}" --dump_env=1
expect 'a CPU trial keeps the agent'"'"'s CUDA_VISIBLE_DEVICES and gets no CUDA_DEVICE_ORDER' '
    CUDA_VISIBLE_DEVICES=7 sq run cpu.yaml --gpu-snapshot "$SNAPS/h100x1.json" >cpu.out 2>&1 &&
    test "$(gpucheck cpu gpus)" = 7 && test "$(gpucheck cpu order)" = -
'

spec big 2 "{gpu_memory: 100GiB}"
expect 'a trial too big for any GPU: run warns, leaves it pending and ends with status 1' '
    timeout 60 "$SWEEPQ" run big.yaml --gpu-snapshot "$SNAPS/h100x1.json" >big.out 2>big.err
    test $? = 1 &&
    grep -q "sweep .big. is left for other agents: each trial needs 100 GiB" big.err &&
    test "$(trial big 1 "[\"state\"]")" = pending
'
expect 'status: no live agent can take it (none, then an agent whose GPUs are too small)' '
    sq status --json >st0.json &&
    test "$(json_get "[s[\"no_live_agent_can_take\"] for s in d if s[\"name\"] == \"big\"][0]" <st0.json)" = true &&
    bg sq agent --sweep big --gpu-snapshot "$SNAPS/h100x1.json" >agent.out 2>agent.err &&
    wait_for 30 "grep -q \"left for other agents\" agent.err" &&
    sq status --json >st1.json &&
    test "$(json_get "[s[\"no_live_agent_can_take\"] for s in d if s[\"name\"] == \"big\"][0]" <st1.json)" = true &&
    json_get "[s[\"no_live_agent_can_take_why\"] for s in d if s[\"name\"] == \"big\"][0]" <st1.json | grep -q "100 GiB" &&
    test "$(json_get "[s[\"no_live_agent_can_take\"] for s in d if s[\"name\"] == \"excl\"][0]" <st1.json)" = false &&
    sq status >st1.txt &&
    grep -q "^note: no live agent can take the pending trials of .big." st1.txt
'

# trial 1 (x=1) fails after 1 s, trial 2 (x=30) runs until it is killed,
# trial 3 (x=3) succeeds: one at a time on the one GPU.
spec freed 3 "{gpus: 1}" --fail_if=x:1 --started="$TEST_DIR/started.log" '"--sleep=${param.x}"'
sed -i "s/values: \[1, 2, 3\]/values: [1, 30, 3]/" freed.yaml
expect 'GPUs are freed when trials fail or are killed: the one GPU serves all three' '
    bg sq run freed.yaml -j 4 --gpu-snapshot "$SNAPS/h100x1.json" >freed.out 2>freed.err &&
    pid=$! &&
    wait_for 30 "grep -q \"^2 \" started.log" &&
    kill -9 "$(awk "\$1 == 2 { print \$3 }" started.log)" &&
    wait_for 60 "! pid_alive $pid" &&
    test "$(trial freed 1 "[\"state\"]")" = failed &&
    test "$(trial freed 2 "[\"error\"]")" = "killed by signal 9 (Killed)" &&
    test "$(trial freed 3 "[\"state\"]")" = succeeded &&
    test "$(gpucheck freed overlap)" = 0
'

finish
