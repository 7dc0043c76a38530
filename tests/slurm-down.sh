#!/usr/bin/env bash
# Stops a Slurm started by tests/slurm-up.sh, by PID only (never by name:
# other tests' clusters may run beside it).
# Usage: tests/slurm-down.sh DIR [--rm]
#   1. cancels every job of this cluster and waits (15 s at most) for the queue to empty;
#   2. stops slurmd, slurmctld (its slurmscriptd child ends with it) and munged
#      by their pid files: SIGTERM, then SIGKILL after 10 s;
#   3. kills strays: slurmstepd wipes its environment but keeps slurmd's
#      working directory (DIR/log); job processes carry SLURM_CONF=DIR/slurm.conf
#      and SLURM_JOB_ID in their environment. This shell's ancestors are spared.
set -uo pipefail
D=$(cd "${1:?usage: slurm-down.sh DIR [--rm]}" && pwd)
export SLURM_CONF=$D/slurm.conf

# alive PID: exists and is not a zombie (PID 1 may reap late; kill -0 says yes to zombies)
alive() {
    local st
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
stop_pidfile() {
    [ -s "$1" ] || return 0
    local pid i
    pid=$(tr -dc 0-9 < "$1")
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do alive "$pid" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
ancestors() {
    local p=$$
    while [ -n "$p" ] && [ "$p" -gt 1 ]; do
        echo "$p"
        p=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f2)
    done
}

if alive "$(cat "$D/slurmctld.pid" 2>/dev/null)"; then
    scancel --full --quiet --user=root 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        [ -z "$(squeue -h -t R,CG,PD 2>/dev/null)" ] && break
        sleep 0.1
    done
fi
stop_pidfile "$D/slurmd.pid"
stop_pidfile "$D/slurmctld.pid"
stop_pidfile "$D/munge/munged.pid"

anc=" $(ancestors | tr '\n' ' ') "
for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case "$anc" in *" $p "*) continue ;; esac
    stray=
    c=$(readlink "/proc/$p/cwd" 2>/dev/null) && c=${c% (deleted)} &&
        { [ "$c" = "$D/log" ] || [ "$c" = "$D/spool" ]; } && stray=1
    if [ -z "$stray" ] && [ -r "/proc/$p/environ" ]; then
        env=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null) || continue
        grep -qx "SLURM_CONF=$D/slurm.conf" <<<"$env" && grep -q '^SLURM_JOB_ID=' <<<"$env" && stray=1
    fi
    if [ -n "$stray" ] && alive "$p"; then
        echo "slurm-down: killing stray pid $p: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" >&2
        kill -KILL "$p" 2>/dev/null || true
    fi
done
if [ "${2:-}" = --rm ]; then rm -rf "$D"; fi
echo "slurm-down: stopped $D" >&2
