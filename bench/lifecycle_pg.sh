#!/usr/bin/env bash
# lifecycle_pg.sh BUILD_DIR [N] [N_LONG] [N_OPTUNA]: claim + finish of
# trials through the store on PostgreSQL with 1, 4 and 16 agent processes,
# beside the same loop on SQLite, and the PostgreSQL rate over a long sweep
# per interval (bench_lifecycle_pg, one run); then Optuna's ask + tell on
# its RDB storage over the same PostgreSQL with 1, 4 and 16 processes, when
# Debian's python3-optuna and python3-psycopg2 are there. Starts its own
# PostgreSQL (tests/pg-up.sh) and stops it at the end. Prints rates and
# ratios.
set -euo pipefail
build=$(cd "${1:?usage: lifecycle_pg.sh BUILD_DIR [N] [N_LONG] [N_OPTUNA]}" && pwd)
n=${2:-3000}
n_long=${3:-60000}
n_optuna=${4:-500}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp /tmp/sq-lifecycle-pg.XXXXXX)
pg=$("$root/tests/pg-up.sh")
trap '"$root/tests/pg-down.sh" "$pg" --rm; rm -f "$out"' EXIT
url=$(cat "$pg/url")
base=${url%/*} # postgresql://postgres@127.0.0.1:PORT

"$build/bench_lifecycle_pg" -u "$base" -n "$n" -L "$n_long" | tee "$out"

# The store's postgresql rate per process count, from the table above.
store_rate() {
  awk -v p="$1" '$1 == p && NF == 4 { print $3 }' "$out"
}

py=
for cand in /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import optuna, psycopg2' 2>/dev/null; then
    py=$cand
    break
  fi
done
if [ -z "$py" ]; then
  echo "  optuna on postgresql: not installed (scripts/install-deps --bench installs python3-optuna and python3-psycopg2)"
  exit 0
fi
echo "optuna $("$py" -c 'import optuna; print(optuna.__version__)'): ask + tell of $n_optuna trials, RDB storage on the same postgresql"
"$py" "$root/bench/optuna_lifecycle_pg.py" "postgresql+psycopg2://${base#postgresql://}" \
  "$n_optuna" 1 4 16 | while read -r _ procs rate rest; do
  if [ "$rate" = error ]; then
    printf '    %d process(es): failed: %s\n' "$procs" "$rest"
    continue
  fi
  printf '    %2d process%-3s %8s trials/s   sweepq on postgresql is %.0fx\n' "$procs" \
    "$([ "$procs" = 1 ] || echo es)" "$rate" \
    "$(awk -v a="$(store_rate "$procs")" -v b="$rate" 'BEGIN { print a / b }')"
done
