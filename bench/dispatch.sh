#!/usr/bin/env bash
# dispatch.sh BUILD_DIR [N]: dispatch rate of `sweepq run -j 2` over N trials
# of `true`, beside the physical limit (a bare posix_spawn/wait loop with 2
# slots) and the peers GNU parallel -j2 and task-spooler with 2 slots, all
# measured in this run on this machine. Prints rates and ratios.
set -euo pipefail
build=$(cd "${1:?usage: dispatch.sh BUILD_DIR [N]}" && pwd)
n=${2:-5000}
sweepq=$build/sweepq
# The project (and so every trial directory and log) lives under
# DISPATCH_DIR, default /tmp; run it again with DISPATCH_DIR=/dev/shm to see
# how much of the gap to the bare loop is the file system's.
work=$(mktemp -d "${DISPATCH_DIR:-/tmp}/sq-dispatch.XXXXXX")
trap 'rm -rf "$work"' EXIT

rate() { awk -v n="$n" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }
seconds() { # seconds CMD...: wall time of CMD, output discarded
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

echo "dispatch: $n trials of 'true', 2 slots, $(nproc) cores, project on $(df --output=fstype "$work" | tail -1) ($work)"

t_bare=$(seconds "$build/bench_spawn_loop" "$n" 2 true)
r_bare=$(rate "$t_bare")
printf '  %-28s %8s/s\n' "bare posix_spawn loop" "$r_bare"

{
  printf 'name: dispatch\nmethod: grid\ncommand: ["true"]\nmax_attempts: 1\n'
  printf 'parameters:\n  i:\n    values: [%s]\n' "$(seq -s, "$n")"
} >"$work/sweep.yaml"
t_sq=$(cd "$work" && seconds "$sweepq" run sweep.yaml -j 2)
r_sq=$(rate "$t_sq")
printf '  %-28s %8s/s  %5.1f%% of bare\n' "sweepq run -j 2" "$r_sq" \
  "$(awk -v a="$r_sq" -v b="$r_bare" 'BEGIN { print 100 * a / b }')"
done_count=$(cd "$work" && "$sweepq" status dispatch --json | python3 -c \
  'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d["counts"]["succeeded"])')
[ "$done_count" = "$n" ] || { echo "dispatch: sweepq finished only $done_count of $n trials" >&2; exit 1; }

if command -v parallel >/dev/null; then
  t_par=$(seconds sh -c "seq $n | parallel --will-cite -j2 true")
  r_par=$(rate "$t_par")
  printf '  %-28s %8s/s  sweepq is %.1fx\n' "GNU parallel -j2" "$r_par" \
    "$(awk -v a="$r_sq" -v b="$r_par" 'BEGIN { print a / b }')"
else
  echo "  GNU parallel: not installed (scripts/install-deps --bench)"
fi

if command -v tsp >/dev/null; then
  export TS_SOCKET=$work/ts.socket TS_MAXFINISHED=$((n + 10)) TMPDIR=$work
  tsp -S 2 >/dev/null
  t_ts=$(seconds sh -c "for i in \$(seq $n); do tsp -n true; done; tsp -w")
  tsp -K >/dev/null 2>&1 || true
  r_ts=$(rate "$t_ts")
  printf '  %-28s %8s/s  sweepq is %.1fx\n' "task-spooler (2 slots)" "$r_ts" \
    "$(awk -v a="$r_sq" -v b="$r_ts" 'BEGIN { print a / b }')"
else
  echo "  task-spooler: not installed (scripts/install-deps --bench)"
fi
