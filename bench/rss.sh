#!/usr/bin/env bash
# rss.sh BUILD_DIR: peak resident memory of the agent (`sweepq run -j 8`)
# while it runs 8 trials at once, beside the peak of one of its trials
# (`sleep`), from GNU time's "Maximum resident set size".
set -euo pipefail
build=$(cd "${1:?usage: rss.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/sq-rss.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -x /usr/bin/time ] || { echo "rss: GNU time not installed (scripts/install-deps --bench)"; exit 0; }
cat >"$work/sweep.yaml" <<'YAML'
name: rss
method: grid
command: [sleep, "${param.t}"]
parameters:
  t:
    values: [1, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07, 1.08, 1.09, 1.1, 1.11, 1.12, 1.13, 1.14, 1.15]
YAML
kb=$(cd "$work" && /usr/bin/time -f '%M' "$build/sweepq" run sweep.yaml -j 8 2>&1 >/dev/null | tail -1)
peer=$(/usr/bin/time -f '%M' sleep 0.1 2>&1 | tail -1)
awk -v kb="$kb" -v p="$peer" 'BEGIN {
  printf "rss: agent peak %.1f MiB while running 8 trials (aim: under 8 MiB); one sleep(1) child %.1f MiB\n", kb / 1024, p / 1024 }'
