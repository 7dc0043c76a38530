# http_lib.sh - `sweepq serve` for the http e2e tests; source it after lib.sh.
#
# http_serve_start LISTEN: starts the server of the project $TEST_DIR/server
# (made when missing) over its SQLite store on LISTEN ("127.0.0.1:0" for a
# free port, or "127.0.0.1:PORT" to take a port again) and waits for its
# first line. Sets SERVER_PID (the server itself: signals reach it), URL
# (without the trailing /) and PORT. A port a killed server held may take a
# moment to be free again: it retries for 30 s.
http_serve_start() {
    local listen=$1 deadline=$((SECONDS + 30))
    mkdir -p "$TEST_DIR/server/.sweepq"
    while :; do
        : >"$TEST_DIR/serve.out"
        bg sh -c 'cd "$1" && exec "$0" serve --listen "$2" --store "$3"' "$SWEEPQ" \
            "$TEST_DIR/server" "$listen" "sqlite:$TEST_DIR/server/.sweepq/sweepq.db" \
            >>"$TEST_DIR/serve.out" 2>>"$TEST_DIR/serve.err"
        SERVER_PID=$!
        wait_for 20 "grep -q 'serving http' '$TEST_DIR/serve.out' || ! pid_alive $SERVER_PID"
        grep -q 'serving http' "$TEST_DIR/serve.out" && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "# sweepq serve did not start:" >&2
            sed 's/^/#   /' "$TEST_DIR/serve.err" >&2
            return 1
        fi
        sleep 0.2
    done
    URL=$(sed -n 's/.*serving \(http[^ ]*\).*/\1/p' "$TEST_DIR/serve.out" | head -n 1)
    URL=${URL%/}
    PORT=${URL##*:}
}
