#!/bin/bash
# `sweepq gpus` on snapshots and on the nvidia-smi test fixture
# (tests/gpu/bin/nvidia-smi prints captured CSV; it is put first on PATH and
# --source nvidia-smi keeps a real NVML, where there is one, out of the way):
# the table, the source, which GPUs an agent would use and why not the
# others, CUDA_VISIBLE_DEVICES and --gpus, --json, and the errors.
. "$(dirname "$0")/lib.sh"

GPUS=$SQ_SOURCE_DIR/tests/gpu
BUSY=$GPUS/h100x4-busy.json
FAKE_PATH=$GPUS/bin:$PATH

expect 'a snapshot gives the table, the source and the GPUs it would use' '
    sq gpus --snapshot "$BUSY" >out &&
    grep -F "source: snapshot" out &&
    grep -E "^ +2  NVIDIA H100 80GB HBM3 +75.6 GiB / 79.6 GiB +100%  30012 \(40 GiB\), 30013 \(35.6 GiB\)  no$" out &&
    grep -F "would use now: 0, 1, 3 (min free 4 GiB)" out &&
    grep -F "  GPU 2: only 3.5 GiB free, less than min_free_gpu_memory 4 GiB; other work: pid 30012 uses 40 GiB, pid 30013 uses 35.6 GiB" out
'

expect '--json parses and says the same' '
    sq gpus --snapshot "$BUSY" --json >out.json &&
    test "$(json_get "d[\"source\"]" <out.json)" = snapshot &&
    test "$(json_get "d[\"would_use\"]" <out.json)" = "[0, 1, 3]" &&
    test "$(json_get "len(d[\"gpus\"])" <out.json)" = 4 &&
    test "$(json_get "d[\"gpus\"][1][\"processes\"][0][\"used_memory\"]" <out.json)" = 64422412288 &&
    test "$(json_get "d[\"gpus\"][2][\"usable\"]" <out.json)" = false &&
    json_get "d[\"gpus\"][2][\"why_not\"]" <out.json >why &&
    grep -F "less than min_free_gpu_memory 4 GiB" why &&
    test "$(json_get "d[\"min_free_gpu_memory\"]" <out.json)" = 4294967296
'

expect '$SWEEPQ_GPU_SNAPSHOT names the snapshot too' '
    SWEEPQ_GPU_SNAPSHOT=$GPUS/h100x1.json sq gpus --json >env.json &&
    test "$(json_get "d[\"source\"]" <env.json)" = snapshot &&
    test "$(json_get "d[\"would_use\"]" <env.json)" = "[0]"
'

expect 'a snapshot is read afresh: another user'"'"'s job shows up' '
    cp "$GPUS/h100x1.json" live.json &&
    sq gpus --snapshot live.json --json >before.json &&
    test "$(json_get "d[\"would_use\"]" <before.json)" = "[0]" &&
    "$PYTHON" -c "import json; d = json.load(open(\"live.json\")); g = d[\"gpus\"][0]
g[\"memory_free\"] = \"2GiB\"; g[\"processes\"] = [{\"pid\": 4242, \"used_memory\": \"77GiB\"}]
json.dump(d, open(\"live.json\", \"w\"))" &&
    sq gpus --snapshot live.json >after &&
    grep -F "would use now: none" after &&
    grep -F "  GPU 0: only 2 GiB free, less than min_free_gpu_memory 4 GiB; other work: pid 4242 uses 77 GiB" after
'

expect 'an inherited CUDA_VISIBLE_DEVICES limits the GPUs, by index or UUID' '
    CUDA_VISIBLE_DEVICES=2,3 sq gpus --snapshot "$BUSY" --json >cvd.json &&
    test "$(json_get "d[\"would_use\"]" <cvd.json)" = "[3]" &&
    test "$(json_get "d[\"cuda_visible_devices\"]" <cvd.json)" = "2,3" &&
    test "$(json_get "d[\"gpus\"][0][\"why_not\"]" <cvd.json)" = "not in CUDA_VISIBLE_DEVICES=2,3" &&
    CUDA_VISIBLE_DEVICES=GPU-a83d77e0,GPU-f40a6d18-2e87-4b91-a6c3-7d51e2b09f44 \
        sq gpus --snapshot "$BUSY" --json >uuid.json &&
    test "$(json_get "d[\"would_use\"]" <uuid.json)" = "[1, 3]" &&
    CUDA_VISIBLE_DEVICES= sq gpus --snapshot "$BUSY" >empty &&
    grep -F "would use now: none" empty &&
    grep -F "  GPU 0: CUDA_VISIBLE_DEVICES is empty" empty
'

expect '--gpus and --min-free restrict further' '
    sq gpus --snapshot "$BUSY" --gpus 1,3 --min-free 20GiB >opt &&
    grep -F "would use now: 3 (min free 20 GiB)" opt &&
    grep -F "  GPU 0: not in --gpus 1,3" opt &&
    grep -F "  GPU 1: only 19.1 GiB free, less than min_free_gpu_memory 20 GiB" opt &&
    sq gpus --snapshot "$BUSY" --gpus none --json >none.json &&
    test "$(json_get "d[\"would_use\"]" <none.json)" = "[]"
'

expect 'the nvidia-smi fixture gives the same GPUs as the snapshot of that machine' '
    PATH=$FAKE_PATH sq gpus --source nvidia-smi --json >smi.json &&
    test "$(json_get "d[\"source\"]" <smi.json)" = nvidia-smi &&
    test "$(json_get "d[\"tried\"]" <smi.json)" = "NVML: not asked" &&
    "$PYTHON" -c "import json, sys
a = json.load(open(\"smi.json\"))[\"gpus\"]; b = json.load(open(sys.argv[1]))[\"gpus\"]
keys = [\"index\", \"uuid\", \"name\", \"pci_bus_id\", \"memory_total\", \"memory_free\",
        \"memory_used\", \"utilization\", \"processes\"]
for x, y in zip(a, b):
    for k in keys:
        assert x[k] == y[k], (k, x[k], y[k])
assert len(a) == len(b) == 4" "$BUSY" &&
    PATH=$FAKE_PATH sq gpus --source nvidia-smi >smi &&
    grep -F "source: nvidia-smi (NVML: not asked)" smi &&
    grep -F "would use now: 0, 1, 3" smi
'

expect 'what --json prints is a valid snapshot' '
    PATH=$FAKE_PATH sq gpus --source nvidia-smi --json >captured.json &&
    sq gpus --snapshot captured.json --json >replayed.json &&
    test "$(json_get "d[\"would_use\"]" <replayed.json)" = "[0, 1, 3]" &&
    test "$(json_get "[g[\"uuid\"] for g in d[\"gpus\"]]" <replayed.json)" = \
         "$(json_get "[g[\"uuid\"] for g in d[\"gpus\"]]" <captured.json)"
'

expect 'a container-style nvidia-smi (no per-process memory, no utilisation) still works' '
    SWEEPQ_FAKE_SMI=a100x2-na PATH=$FAKE_PATH sq gpus --source nvidia-smi --json >na.json &&
    test "$(json_get "d[\"gpus\"][1][\"utilization\"]" <na.json)" = null &&
    test "$(json_get "d[\"gpus\"][1][\"processes\"][0]" <na.json)" = "{\"pid\": 51234, \"used_memory\": null}" &&
    test "$(json_get "d[\"would_use\"]" <na.json)" = "[0, 1]"
'

expect 'without a driver, nvidia-smi'"'"'s failure is the reason and there are no GPUs' '
    SWEEPQ_FAKE_SMI=driver-failure PATH=$FAKE_PATH sq gpus --source nvidia-smi >nodriver &&
    grep -F "source: none (NVML: not asked; nvidia-smi: exit status 9: NVIDIA-SMI has failed because it couldn'"'"'t communicate with the NVIDIA driver." nodriver &&
    grep -F "no GPUs found" nodriver &&
    PATH=/nonexistent sq gpus --source nvidia-smi >nosmi &&
    grep -F "source: none (NVML: not asked; nvidia-smi: not found in PATH)" nosmi
'

expect 'NVML alone, where it is absent, says why' '
    sq gpus --source nvml --json >nvml.json &&
    case "$(json_get "d[\"source\"]" <nvml.json)" in
    nvml) true ;;
    none) json_get "d[\"tried\"]" <nvml.json >tried &&
          grep -E "^NVML: (libnvidia-ml.so.1 not found|nvmlInit failed: .*); nvidia-smi: not asked$" tried ;;
    *) false ;;
    esac
'

expect 'errors: missing or malformed snapshot, bad --gpus, bad --source' '
    rc=0; sq gpus --snapshot nope.json 2>err || rc=$? &&
    test "$rc" = 3 &&
    grep -F "cannot read GPU snapshot '"'"'nope.json'"'"': No such file or directory" err &&
    echo "{\"gpus\": [{\"uuid\": \"GPU-a\"}]}" >bad.json &&
    rc=0; sq gpus --snapshot bad.json 2>err || rc=$? &&
    test "$rc" = 1 &&
    grep -F "bad GPU snapshot '"'"'bad.json'"'"': gpus[0]: memory_total is missing" err &&
    rc=0; sq gpus --snapshot "$BUSY" --gpus 0,9 2>err || rc=$? &&
    test "$rc" = 2 &&
    grep -F "bad --gpus '"'"'0,9'"'"': there is no GPU 9" err &&
    must_fail sq gpus --source cuda 2>err &&
    grep -F "bad --source '"'"'cuda'"'"'" err
'

finish
