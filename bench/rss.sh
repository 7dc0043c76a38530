#!/usr/bin/env bash
# rss.sh BUILD_DIR: peak resident memory of the agent (`sweepq run -j 8`)
# while it runs 8 trials at once (GNU time's "Maximum resident set size"),
# split from /proc/PID/smaps_rollup into the agent's own memory (anonymous)
# and the shared libraries' code it has touched (file-backed), beside one of
# its trials (`sleep`) as the floor any process pays.
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
    values: [2, 2.01, 2.02, 2.03, 2.04, 2.05, 2.06, 2.07, 2.08, 2.09, 2.1, 2.11, 2.12, 2.13, 2.14, 2.15]
YAML
cd "$work"
/usr/bin/time -o "$work/time" -f '%M' "$build/sweepq" run sweep.yaml -j 8 >/dev/null 2>&1 &
pid=$!
sleep 1 # eight trials are running by now; the agent is the child of time
agent=$(pgrep -P "$pid" -x sweepq || true)
anon=$(awk '/^Pss_Anon:/ { print $2 }' "/proc/$agent/smaps_rollup" 2>/dev/null || echo 0)
file=$(awk '/^Pss_File:/ { print $2 }' "/proc/$agent/smaps_rollup" 2>/dev/null || echo 0)
wait "$pid"
kb=$(tail -1 "$work/time")
peer=$(/usr/bin/time -f '%M' sleep 0.1 2>&1 | tail -1)
awk -v kb="$kb" -v p="$peer" -v a="$anon" -v f="$file" 'BEGIN {
  printf "rss: agent peak %.1f MiB while running 8 trials (aim: under 8 MiB)\n", kb / 1024
  printf "     of which its own memory (anonymous) %.1f MiB, library code touched (file-backed) %.1f MiB\n", a / 1024, f / 1024
  printf "     one sleep(1) child: %.1f MiB\n", p / 1024 }'
