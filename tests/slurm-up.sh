#!/usr/bin/env bash
# Starts a throwaway single-node Slurm (22.05, Debian's packages) for
# sweepq's tests, as root, without systemd: slurmctld + slurmd (+ munged
# with SLURM_AUTH=munge). Everything lives in one directory; nothing in
# /etc/slurm, /etc/munge or /run is used, so several instances (parallel
# ctest runs) coexist on their own ports.
#
# Usage:  tests/slurm-up.sh [DIR]   DIR: a fresh /tmp/sqslurm.XXXXXX when not given.
# Prints DIR as the last line of stdout. Then `. DIR/env.sh` sets SLURM_CONF
# for sbatch, squeue, scancel and scontrol. Stop with tests/slurm-down.sh DIR.
# Exits non-zero, saying why, when Slurm cannot be started: tests that need
# it fail, they do not skip.
#
# Env:  SLURM_AUTH=none|munge  none (default): AuthType=auth/none, no munged
#                              (insecure; fine for a loopback test cluster)
#       SLURM_CPUS=4           CPUs of the node; more than the real cores is
#                              allowed (SlurmdParameters=config_overrides)
#       SLURM_NODE=n1          node name
#       SLURM_PORT_BASE=N      ports for the first try (default: drawn at random)
# Ports: slurmctld and slurmd take two consecutive free ports (BASE, BASE+1)
# below the ephemeral range, written to DIR/ports; a start that loses them
# to another process is tried again on others (three tries). No accounting database: squeue keeps finished jobs
# for MinJobAge (300 s), which is all the tests read.
set -euo pipefail
for cmd in slurmctld slurmd sinfo sbatch; do
    command -v "$cmd" >/dev/null || {
        echo "slurm-up: '$cmd' is missing: run scripts/install-deps (slurmctld slurmd slurm-client)" >&2
        exit 1
    }
done
[ "$(id -u)" -eq 0 ] || { echo "slurm-up: must run as root (slurmd runs jobs as their user)" >&2; exit 1; }

D=${1:-$(mktemp -d /tmp/sqslurm.XXXXXX)}
mkdir -p "$D"
D=$(cd "$D" && pwd)
AUTH=${SLURM_AUTH:-none}
CPUS=${SLURM_CPUS:-4}
NODE=${SLURM_NODE:-n1}
HOST=$(hostname -s) # slurmctld refuses to start unless SlurmctldHost is `hostname -s`
MEM_MB=$(awk '/MemTotal/{printf "%d", $2/1024*0.5}' /proc/meminfo)

# Free: no socket of any state (listening, connected, TIME_WAIT) has it as
# its local port in /proc/net/tcp*. Ports are drawn below the ephemeral
# range (ip_local_port_range, 32768 and up), so an outgoing connection is
# unlikely to take one between the check and the bind; a start that loses
# its ports anyway is retried on others (below).
port_free() {
    ! awk -v p=":$(printf '%04X' "$1")" 'NR > 1 && toupper(substr($2, length($2) - 4)) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
pick_ports() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if port_free "$p" && port_free $((p + 1)); then BASE=$p; return 0; fi
    done
    echo "slurm-up: no two free ports found" >&2
    return 1
}

# A start that fails leaves nothing running: every daemon it started is
# killed by its pid file.
on_exit() {
    local rc=$? f pid
    if [ "$rc" -ne 0 ]; then
        for f in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munge/munged.pid"; do
            [ -s "$f" ] || continue
            pid=$(tr -dc 0-9 < "$f")
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
        done
    fi
    return "$rc"
}
trap on_exit EXIT

# munged insists that every directory on its socket's path is world-executable
chmod 755 "$D"
mkdir -p "$D"/{munge,state,spool,log}
chmod 755 "$D/munge"

if [ "$AUTH" = munge ]; then
    [ -s "$D/munge/munge.key" ] || mungekey -c -k "$D/munge/munge.key"
    munged -S "$D/munge/munge.socket" \
        --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
        --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed"
    AUTH_LINES="AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket"
else
    AUTH_LINES="AuthType=auth/none
CredType=cred/none"
fi

: > "$D/gres.conf"
write_conf() {
cat > "$D/slurm.conf" <<CONF
ClusterName=sq$BASE
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$BASE
SlurmdPort=$((BASE + 1))
SlurmUser=root
SlurmdUser=root
$AUTH_LINES
MailProg=/bin/true
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=300
InactiveLimit=0
NodeName=$NODE NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
}
echo "export SLURM_CONF=$D/slurm.conf" > "$D/env.sh"
export SLURM_CONF=$D/slurm.conf

alive() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" | grep -q '^[ZX]'; }
# dead PIDFILE: the daemon wrote its pid and is gone since.
dead() {
    local pid
    pid=$(tr -dc 0-9 < "$1" 2>/dev/null)
    [ -n "$pid" ] && ! alive "$pid"
}
stop_daemons() {
    local f pid i
    for f in "$D/slurmd.pid" "$D/slurmctld.pid"; do
        pid=$(tr -dc 0-9 < "$f" 2>/dev/null) || pid=
        if alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
            if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
        rm -f "$f"
    done
}

# Up to three tries, each on fresh ports: ready when the node is idle
# (about a second; longer under load), failed when slurmctld or slurmd is
# gone (a port taken between the check and the bind).
for try in 1 2 3; do
    if [ "$try" = 1 ] && [ -n "${SLURM_PORT_BASE:-}" ]; then
        BASE=$SLURM_PORT_BASE
    else
        pick_ports || exit 1
    fi
    echo "$BASE $((BASE + 1))" > "$D/ports"
    write_conf
    slurmctld -f "$D/slurm.conf" || true
    slurmd -f "$D/slurm.conf" -N "$NODE" || true
    for _ in $(seq 1 600); do
        if [ "$(sinfo -h -n "$NODE" -o %T 2>/dev/null)" = idle ]; then
            echo "slurm-up: up (auth=$AUTH cpus=$CPUS ports $BASE,$((BASE + 1))) in:" >&2
            echo "$D"
            exit 0
        fi
        sleep 0.1
        if dead "$D/slurmctld.pid" || dead "$D/slurmd.pid"; then
            break
        fi
    done
    echo "slurm-up: try $try on ports $BASE,$((BASE + 1)) failed:" >&2
    grep -h "error" "$D/log/slurmctld.log" "$D/log/slurmd.log" 2>/dev/null | grep -v pmix | tail -n 5 >&2 || true
    stop_daemons
    mv "$D/log" "$D/log.try$try" 2>/dev/null || true
    rm -rf "$D/state" "$D/spool" # saved under the old ClusterName
    mkdir -p "$D/log" "$D/state" "$D/spool"
done
echo "slurm-up: node '$NODE' never became idle:" >&2
scontrol show node "$NODE" >&2 || true
exit 1
