#!/usr/bin/env bash
# search.sh BUILD_DIR [SEEDS] [TRIALS]: bayes search (TPE, src/search/) on
# Branin, Hartmann-6, Rosenbrock-4 and a mixed space (log-scale float,
# category, integer, log-scale integer), TRIALS trials (50) for each of
# SEEDS seeds (10): sweepq's TPE as 4 agents run it (-j 4: batches of 4
# proposals, each batch's earlier ones running, the constant liar) and as
# one agent runs it (-j 1), its random search, and Optuna's TPE run sequentially (Debian's python3-optuna,
# with its own defaults and with multivariate + constant_liar). Prints the
# median best value per method and function, and the ratio of median
# regrets (best - global minimum) of sweepq -j 4 to Optuna. Then the CPU
# time of one proposal with 100 and 1,000 finished trials in the history,
# beside Optuna's ask().
set -euo pipefail
build=$(cd "${1:?usage: search.sh BUILD_DIR [SEEDS] [TRIALS]}" && pwd)
seeds=${2:-10}
trials=${3:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp /tmp/sq-search-out.XXXXXX)
trap 'rm -f "$out"' EXIT

py=
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import optuna' 2>/dev/null; then
    py=$cand
    break
  fi
done

"$build/bench_search" quality "$trials" "$seeds" >>"$out"
if [ -n "$py" ]; then
  "$py" "$root/bench/optuna_search.py" quality "$trials" "$seeds" >>"$out"
  optuna_version=$("$py" -c 'import optuna; print(optuna.__version__)')
else
  echo "  optuna: not installed (scripts/install-deps --bench installs python3-optuna)"
  optuna_version=none
fi

python3 - "$out" "$trials" "$seeds" "$optuna_version" <<'PY'
import statistics, sys
path, trials, seeds, version = sys.argv[1:]
fmin = {"branin": 0.39788735772973816, "hartmann6": -3.3223680114155147,
        "rosenbrock4": 0.0, "mixed": 0.0}
best = {}
for line in open(path):
    f, method, _seed, value = line.split()
    best.setdefault(f, {}).setdefault(method, []).append(float(value))
methods = ["tpe-j4", "tpe-j1", "random", "optuna", "optuna-mv"]
print(f"  median best of {trials} trials over {seeds} seeds (Optuna {version}, sequential)")
print(f"  {'function':<12}" + "".join(f"{m:>11}" for m in methods)
      + "   median regret: j4/optuna j4/optuna-mv j1/optuna")
for f in fmin:
    med = {m: statistics.median(best[f][m]) for m in methods if m in best.get(f, {})}
    cells = "".join(f"{med[m]:>11.4g}" if m in med else f"{'-':>11}" for m in methods)
    ratio = lambda ours, peer: (f"{(med[ours] - fmin[f]) / (med[peer] - fmin[f]):>10.2f}"
                                if peer in med and med[peer] > fmin[f] else f"{'-':>10}")
    print(f"  {f:<12}{cells}   {ratio('tpe-j4', 'optuna')}  {ratio('tpe-j4', 'optuna-mv')}"
          f"  {ratio('tpe-j1', 'optuna')}")
PY

echo "  CPU time of one proposal (microseconds)"
for n in 100 1000; do
  "$build/bench_search" timing "$n" 50 | while read -r f nn us; do
    printf '    %-10s %5d finished trials: sweepq %9.1f\n' "$f" "$nn" "$us"
  done
  if [ -n "$py" ]; then
    "$py" "$root/bench/optuna_search.py" timing "$n" 5 | while read -r f nn us m; do
      printf '    %-10s %5d finished trials: %-9s %9.1f\n' "$f" "$nn" "$m" "$us"
    done
  fi
done
