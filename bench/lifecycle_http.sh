#!/usr/bin/env bash
# lifecycle_http.sh BUILD_DIR [N] [PROCS]: claim + finish of trials through
# `sweepq serve` with PROCS (16) agent connections on 127.0.0.1, beside the
# same work done directly on SQLite by as many processes (bench_lifecycle_http,
# one run). Prints both rates and their ratio.
set -euo pipefail
build=$(cd "${1:?usage: lifecycle_http.sh BUILD_DIR [N] [PROCS]}" && pwd)
n=${2:-2000}
procs=${3:-16}
"$build/bench_lifecycle_http" -s "$build/sweepq" -n "$n" -p "$procs"
