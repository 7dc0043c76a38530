#!/usr/bin/env bash
# scale.sh BUILD_DIR [AGENTS...]: simulated agents (bench_scale, one process,
# libcurl multi, each agent on its own connection) against one `sweepq serve`
# on a SQLite store: register, claim, heartbeat, finish, for each number of
# agents given (default 1000 5000 10000). Prints claims/s, claim latency at
# the client, failed requests, and the server's peak RSS and CPU per run.
set -euo pipefail
build=$(cd "${1:?usage: scale.sh BUILD_DIR [AGENTS...]}" && pwd)
shift
for n in "${@:-1000 5000 10000}"; do
  for a in $n; do
    # one trial per agent beyond 1,000, spread over a second per 1,000
    # agents, so the run stays within minutes on a small machine
    t=$((a <= 1000 ? 2 * a : a))
    "$build/bench_scale" -s "$build/sweepq" -a "$a" -t "$t" -d 5 -r $(((a + 999) / 1000))
    echo
  done
done
