#!/usr/bin/env bash
# Stops a server started by tests/sshd-up.sh, by the PID in DIR/sshd.pid.
# Killing the listener does not end open sessions (each is a child
# "sshd: root@..." of its own), so its children are found by parent PID
# first and stopped too.
# Usage: tests/sshd-down.sh DIR [--rm]   (--rm also deletes DIR)
set -uo pipefail
D=${1:?usage: sshd-down.sh DIR [--rm]}
[ -d "$D" ] || exit 0
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
stop() {
    alive "$1" || return 0
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 1 50); do alive "$1" || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
}
if [ -s "$D/sshd.pid" ]; then
    pid=$(tr -dc 0-9 < "$D/sshd.pid")
    if [ -n "$pid" ] && alive "$pid" && grep -q sshd "/proc/$pid/comm" 2>/dev/null; then
        kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
        stop "$pid"
        for k in $kids; do stop "$k"; done
    fi
fi
if [ "${2:-}" = --rm ]; then rm -rf "$D"; fi
exit 0
