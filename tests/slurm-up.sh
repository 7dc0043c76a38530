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
# Ports: slurmctld and slurmd take two consecutive free ports (BASE, BASE+1),
# written to DIR/ports. No accounting database: squeue keeps finished jobs
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

# Free: no socket listens on it (state 0A in /proc/net/tcp*).
port_free() {
    ! awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && toupper(substr($2, length($2) - 4)) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
BASE=
for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p" && port_free $((p + 1)); then BASE=$p; break; fi
done
[ -n "$BASE" ] || { echo "slurm-up: no two free ports found" >&2; exit 1; }
echo "$BASE $((BASE + 1))" > "$D/ports"

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
echo "export SLURM_CONF=$D/slurm.conf" > "$D/env.sh"
export SLURM_CONF=$D/slurm.conf

slurmctld -f "$D/slurm.conf"
slurmd -f "$D/slurm.conf" -N "$NODE"

# Ready when the node is idle (about a second; under load longer).
for _ in $(seq 1 600); do
    if [ "$(sinfo -h -n "$NODE" -o %T 2>/dev/null)" = idle ]; then
        echo "slurm-up: up (auth=$AUTH cpus=$CPUS ports $BASE,$((BASE + 1))) in:" >&2
        echo "$D"
        exit 0
    fi
    sleep 0.1
done
echo "slurm-up: node '$NODE' never became idle:" >&2
scontrol show node "$NODE" >&2 || true
tail -n 20 "$D/log/slurmctld.log" "$D/log/slurmd.log" >&2 || true
exit 1
