#!/usr/bin/env bash
# early-stop.sh BUILD_DIR [N] [EPOCHS]: the same random sweep of N trials
# (default 27) with learning curves of EPOCHS epochs (default 27) run twice by
# `sweepq run -j 4`: without early termination, then with W&B's hyperband
# (min_iter 3, eta 3: bands 3, 9, 27). Prints the epochs each run paid for
# and the best final loss of the trials that completed, and the ratios.
# Aim (issue 12): at least 2x fewer epochs, best value within 2%.
#
# The trainer (bench/early-stop/curve.py) is deterministic: loss(e) =
# final + (start - final) * exp(-e / tau), where final and tau depend on
# the trial's lr and width; each epoch takes 0.1 s (sleep), so the agent
# judges a band well before the trial passes the next one.
set -euo pipefail
build=$(cd "${1:?usage: early-stop.sh BUILD_DIR [N] [EPOCHS]}" && pwd)
n=${2:-27}
epochs=${3:-27}
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sq-early-stop.XXXXXX")
trap 'rm -rf "$work"' EXIT
python=$(python3 -c 'import sys; print(sys.executable)')

spec() { # spec NAME EARLY_TERMINATE_LINE
  cat <<EOF
name: $1
method: random
seed: 7
run_cap: $n
metric: {name: loss, goal: minimize}
$2
command: [$python, $src/early-stop/curve.py, '\${param.lr}', '\${param.width}', '$epochs', '$work/$1.epochs']
max_attempts: 1
parameters:
  lr: {distribution: log_uniform_values, min: 0.0001, max: 1.0}
  width: {values: [32, 64, 128, 256, 512]}
EOF
}

# run NAME LINE: runs the sweep; prints "epochs best seconds"
run() {
  spec "$1" "$2" >"$work/$1.yaml"
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$work" && "$build/sweepq" run "$1.yaml" -j 4 >/dev/null 2>"$work/$1.err") || true
  t1=$(date +%s.%N)
  (cd "$work" && "$build/sweepq" trials "$1" --json >"$work/$1.json")
  python3 - "$work/$1.json" "$work/$1.epochs" "$t0" "$t1" <<'EOF'
import json, sys
trials = json.load(open(sys.argv[1]))
epochs = sum(1 for _ in open(sys.argv[2]))
done = [t["metrics"]["loss"] for t in trials if t["state"] == "succeeded"]
stopped = sum(t["state"] == "stopped" for t in trials)
print(epochs, min(done), float(sys.argv[4]) - float(sys.argv[3]), len(done), stopped)
EOF
}

echo "early-stop: $n trials x $epochs epochs (0.1 s each), sweepq run -j 4, $(nproc) cores"
read -r e0 b0 s0 d0 x0 < <(run plain "")
printf '  %-34s %6d epochs  best %.5f  %5.1f s  (%d completed)\n' "no early termination" "$e0" "$b0" "$s0" "$d0"
read -r e1 b1 s1 d1 x1 < <(run hb "early_terminate: {type: hyperband, min_iter: 3, eta: 3}")
printf '  %-34s %6d epochs  best %.5f  %5.1f s  (%d completed, %d stopped)\n' \
  "hyperband min_iter 3 eta 3" "$e1" "$b1" "$s1" "$d1" "$x1"
awk -v e0="$e0" -v e1="$e1" -v b0="$b0" -v b1="$b1" 'BEGIN {
  printf "  epochs: %.2fx fewer (aim >= 2x); best: %+.2f%% (aim within 2%%)\n", e0 / e1, 100 * (b1 - b0) / b0 }'
