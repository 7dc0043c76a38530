#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 for sweepq's tests and benchmarks, with
# all its state in one directory and nothing read from /etc/postgresql.
#
# Usage:  tests/pg-up.sh [DIR]   DIR: a fresh /tmp/sqpg.XXXXXX when not given.
#         With a DIR that holds a stopped server, starts it again on its port.
# Prints DIR as the last line of stdout; DIR/url then holds the store URL
# (postgresql://postgres@127.0.0.1:PORT/sweep) and DIR/port the port.
# Stop with tests/pg-down.sh DIR [--rm] (and see SQ_PG_OWNER below). Exits
# non-zero, saying why, when the
# server cannot be started: tests that need it fail, they do not skip.
#
# The server listens on 127.0.0.1 only, on a port that was free when chosen
# (a start that loses the port to another process picks another), with
# trust authentication (loopback, throwaway) and fsync off (test data).
# As root it runs as the user postgres (the server refuses root).
set -euo pipefail
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "pg-up: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: run scripts/install-deps (package postgresql)" >&2
    exit 1
fi
D=${1:-$(mktemp -d /tmp/sqpg.XXXXXX)}
mkdir -p "$D"
D=$(cd "$D" && pwd)
cd / # the server and runuser need no access to the caller's directory
DB=sweep

if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$D"
    chown postgres:postgres "$D"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

# Free: no socket listens on it (state 0A in /proc/net/tcp*).
port_free() {
    ! awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && toupper(substr($2, length($2) - 4)) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
pick_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if port_free "$p"; then echo "$p"; return 0; fi
    done
    echo "pg-up: no free port found" >&2
    return 1
}

if [ ! -s "$D/data/PG_VERSION" ]; then
    if ! as_pg "$PGBIN/initdb" -D "$D/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N \
        > "$D/initdb.log" 2>&1; then
        echo "pg-up: initdb failed:" >&2
        cat "$D/initdb.log" >&2
        exit 1
    fi
    cat >> "$D/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$D'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
max_connections = 200
logging_collector = off
include_if_exists = 'port.conf'
CONF
fi

started=0
for _ in 1 2 3 4 5; do
    # A restart keeps its port (clients hold URLs with it); a first start
    # picks a free one.
    [ -s "$D/port" ] || pick_port > "$D/port"
    PORT=$(cat "$D/port")
    echo "port = $PORT" > "$D/data/port.conf"
    chown postgres:postgres "$D/data/port.conf" 2>/dev/null || true
    if as_pg "$PGBIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 60 start > /dev/null 2>&1; then
        started=1
        break
    fi
    # Lost the port to another process between the choice and the start:
    # a first start tries another; a restart waits for its own.
    if [ -s "$D/url" ]; then sleep 1; else rm -f "$D/port"; fi
done
if [ "$started" != 1 ]; then
    echo "pg-up: the server did not start; its log:" >&2
    tail -n 20 "$D/server.log" >&2 || true
    exit 1
fi
as_pg "$PGBIN/psql" -h "$D" -p "$PORT" -U postgres -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
    as_pg "$PGBIN/createdb" -h "$D" -p "$PORT" -U postgres "$DB"
echo "postgresql://postgres@127.0.0.1:$PORT/$DB" > "$D/url"
# With SQ_PG_OWNER=PID, a watchdog stops the server and removes DIR once that
# process is gone, so a test that crashes before its pg-down leaks nothing.
if [ -n "${SQ_PG_OWNER:-}" ]; then
    HERE=$(cd "$(dirname "$0")" && pwd)
    setsid bash -c 'while [ -e /proc/$0 ] && ! grep -q "^State:.*Z" /proc/$0/status 2>/dev/null; do sleep 1; done
        "$1/pg-down.sh" "$2" --rm' "$SQ_PG_OWNER" "$HERE" "$D" </dev/null >/dev/null 2>&1 &
fi
echo "pg-up: postgres $(head -n 1 "$D/data/postmaster.pid") on 127.0.0.1:$PORT in $D" >&2
echo "$D"
