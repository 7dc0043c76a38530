#!/usr/bin/env bash
# lifecycle.sh BUILD_DIR [N] [N_OPTUNA]: claim + finish of trials through
# the SQLite store with 1 and 4 agent processes, beside hand-written raw
# SQLite transactions of the same shape (bench_lifecycle, one run), then
# Optuna's ask + tell on its RDB storage over SQLite with 1 and 4 processes,
# when Debian's python3-optuna is there. Prints rates and ratios.
set -euo pipefail
build=$(cd "${1:?usage: lifecycle.sh BUILD_DIR [N] [N_OPTUNA]}" && pwd)
n=${2:-5000}
n_optuna=${3:-500}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp /tmp/sq-lifecycle-out.XXXXXX)
trap 'rm -f "$out"' EXIT

"$build/bench_lifecycle" -n "$n" | tee "$out"

# The store's rate per process count, from bench_lifecycle's table.
store_rate() {
  awk -v p="$1" '$2 ~ /^process/ { cur = $1 } cur == p && $1 == "store" { print $2 }' "$out"
}

py=
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import optuna' 2>/dev/null; then
    py=$cand
    break
  fi
done
if [ -z "$py" ]; then
  echo "  optuna: not installed (scripts/install-deps --bench installs python3-optuna)"
  exit 0
fi
echo "  optuna $("$py" -c 'import optuna; print(optuna.__version__)'): ask + tell of $n_optuna trials, RDB storage on SQLite"
"$py" "$root/bench/optuna_lifecycle.py" "$n_optuna" 1 4 | while read -r _ procs rate rest; do
  if [ "$rate" = error ]; then
    printf '    %d process(es): failed: %s\n' "$procs" "$rest"
    continue
  fi
  printf '    %d process%-3s %8s trials/s   store is %.0fx\n' "$procs" \
    "$([ "$procs" = 1 ] || echo es)" "$rate" \
    "$(awk -v a="$(store_rate "$procs")" -v b="$rate" 'BEGIN { print a / b }')"
done
