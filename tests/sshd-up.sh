#!/usr/bin/env bash
# Starts a throwaway OpenSSH server for sweepq's tests: root may log in with
# a fresh client key only, on 127.0.0.1 and a port that was free when
# chosen, with its own host key and config (nothing from /etc/ssh is read).
#
# Usage:  tests/sshd-up.sh [DIR]   DIR: a fresh /tmp/sqsshd.XXXXXX when not given.
# Prints DIR as the last line of stdout. In DIR: port, client_ed25519 (the
# client key), known_hosts (the server's host key, already trusted), ssh (a
# wrapper with every option: DIR/ssh root@127.0.0.1 CMD), sshd.log.
# Stop with tests/sshd-down.sh DIR [--rm]. With SQ_SSHD_OWNER=PID a watchdog
# runs sshd-down.sh DIR --rm once that process is gone, so a test that
# crashes before its cleanup leaks no server.
# Exits non-zero, saying why, when the server cannot be started: tests that
# need it fail, they do not skip.
set -euo pipefail
SSHD=/usr/sbin/sshd # by absolute path: sshd re-execs itself
if [ ! -x "$SSHD" ] || ! command -v ssh-keygen >/dev/null; then
    echo "sshd-up: no $SSHD or ssh-keygen: run scripts/install-deps (openssh-server, openssh-client)" >&2
    exit 1
fi
D=${1:-$(mktemp -d /tmp/sqsshd.XXXXXX)}
mkdir -p "$D"
D=$(cd "$D" && pwd)

# The privilege-separation directory; no init system makes it here.
mkdir -p /run/sshd && chmod 0755 /run/sshd

[ -s "$D/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C sweepq-test-host -f "$D/host_ed25519"
[ -s "$D/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C sweepq-test-client -f "$D/client_ed25519"
cp "$D/client_ed25519.pub" "$D/authorized_keys"
chmod 600 "$D/authorized_keys" "$D/client_ed25519"

# Free: no socket listens on it (state 0A in /proc/net/tcp*).
port_free() {
    ! awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && toupper(substr($2, length($2) - 4)) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

started=0
for _ in 1 2 3 4 5; do
    PORT=
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if port_free "$p"; then PORT=$p; break; fi
    done
    [ -n "$PORT" ] || { echo "sshd-up: no free port found" >&2; exit 1; }
    cat > "$D/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/host_ed25519
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
# StrictModes checks every directory up to /; /tmp is 1777, so it would refuse the key.
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PrintMotd no
UseDNS no
LogLevel VERBOSE
Subsystem sftp internal-sftp
CONF
    "$SSHD" -t -f "$D/sshd_config"
    rm -f "$D/sshd.pid"
    # Without -D it daemonizes after binding: the port is ready when it returns.
    if "$SSHD" -f "$D/sshd_config" -E "$D/sshd.log"; then
        for _ in $(seq 1 50); do [ -s "$D/sshd.pid" ] && break; sleep 0.1; done
        if [ -s "$D/sshd.pid" ]; then started=1; break; fi
    fi
    # Lost the port between the choice and the bind: try another.
done
if [ "$started" != 1 ]; then
    echo "sshd-up: sshd did not start; its log:" >&2
    tail -n 20 "$D/sshd.log" >&2 || true
    exit 1
fi
echo "$PORT" > "$D/port"
# The host key, trusted in a known_hosts of the test's own.
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$D/host_ed25519.pub")" > "$D/known_hosts"

cat > "$D/ssh" <<WRAP
#!/bin/sh
exec ssh -F /dev/null -p $PORT -i $D/client_ed25519 -o IdentitiesOnly=yes \\
  -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$D/known_hosts \\
  -o LogLevel=ERROR -o ConnectTimeout=5 "\$@"
WRAP
chmod +x "$D/ssh"
ok=0
for _ in $(seq 1 100); do
    if [ "$("$D/ssh" root@127.0.0.1 echo ok 2>/dev/null)" = ok ]; then ok=1; break; fi
    sleep 0.1
done
if [ "$ok" != 1 ]; then
    echo "sshd-up: sshd runs on 127.0.0.1:$PORT but 'ssh root@127.0.0.1 echo ok' fails:" >&2
    "$D/ssh" root@127.0.0.1 echo ok >&2 || true
    tail -n 20 "$D/sshd.log" >&2 || true
    exit 1
fi
if [ -n "${SQ_SSHD_OWNER:-}" ]; then
    HERE=$(cd "$(dirname "$0")" && pwd)
    setsid bash -c 'while [ -e /proc/$0 ] && ! grep -q "^State:.*Z" /proc/$0/status 2>/dev/null; do sleep 1; done
        "$1/sshd-down.sh" "$2" --rm' "$SQ_SSHD_OWNER" "$HERE" "$D" </dev/null >/dev/null 2>&1 &
fi
echo "sshd-up: sshd $(cat "$D/sshd.pid") on 127.0.0.1:$PORT in $D" >&2
echo "$D"
