#!/usr/bin/env bash
# gpu_discovery.sh BUILD_DIR: the cost of one GPU discovery call with each
# source (NVML, nvidia-smi, a snapshot), measured in the same run, then the
# same with tests/gpu/bin/nvidia-smi - a TEST FIXTURE, a shell script that
# prints captured CSV, not NVIDIA's tool - in nvidia-smi's place, which is
# all a machine without a GPU can time on that path. Sources that do not
# answer here are printed as "not available here" with the reason.
set -euo pipefail
build=$(cd "${1:?usage: gpu_discovery.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$build/bench_gpu_discovery
snapshot=$root/tests/gpu/h100x4-busy.json

echo "== this machine's own sources"
"$bench" "$snapshot"
echo
echo "== with the nvidia-smi test fixture (a shell script, NOT the real nvidia-smi)"
"$bench" "$snapshot" --smi "$root/tests/gpu/bin/nvidia-smi" \
  --smi-label "nvidia-smi TEST FIXTURE (shell script)"
