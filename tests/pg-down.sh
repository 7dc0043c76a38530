#!/usr/bin/env bash
# Stops a server started by tests/pg-up.sh, by the PID in its
# postmaster.pid: SIGINT is PostgreSQL's fast shutdown (sessions rolled
# back); SIGKILL after 30 s. The backends are its children and exit with it.
# Usage: tests/pg-down.sh DIR [--rm]   (--rm also deletes DIR)
set -uo pipefail
D=${1:?usage: pg-down.sh DIR [--rm]}
[ -d "$D" ] || exit 0
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
if [ -s "$D/data/postmaster.pid" ]; then
    pid=$(head -n 1 "$D/data/postmaster.pid")
    if alive "$pid"; then
        kill -INT "$pid" 2>/dev/null
        for _ in $(seq 1 300); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null; sleep 0.2; fi
    fi
fi
if [ "${2:-}" = --rm ]; then rm -rf "$D"; fi
exit 0
