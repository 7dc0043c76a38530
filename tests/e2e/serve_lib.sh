# serve_lib.sh - what the `sweepq serve` tests (t07xx) share; sourced after
# lib.sh. Starts the real server on a free loopback port and speaks to it
# with the real curl.
#
#   start_server [SERVE OPTIONS...]   sets SERVER_PID, URL (no trailing /),
#                                     TOKEN and READ_TOKEN
#   http METHOD PATH TOKEN [BODY]     prints the status; the body is in resp.body

SERVE_OUT=serve.out

# start_server [OPTIONS...]: starts `sweepq serve --listen 127.0.0.1:0` in the
# project here and waits (20 s at most) for its first line.
start_server() {
    : >"$SERVE_OUT"
    bg sq serve --listen 127.0.0.1:0 "$@" >"$SERVE_OUT" 2>serve.err
    SERVER_PID=$!
    wait_for 20 'grep -q "^sweepq: serving " "$SERVE_OUT"' || { cat serve.err >&2; return 1; }
    URL=$(sed -n '1s/^sweepq: serving \([^ ]*\) .*/\1/p' "$SERVE_OUT")
    URL=${URL%/}
    TOKEN=$(cat .sweepq/server.token 2>/dev/null)
    READ_TOKEN=$(cat .sweepq/server.read-token 2>/dev/null)
    [ -n "$URL" ]
}

# stop_server [SIGNAL]: signals the server (TERM by default) and waits for it.
stop_server() {
    kill -"${1:-TERM}" "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
}

# http METHOD PATH TOKEN [BODY]: one request (TOKEN "" sends none); prints
# the status code, leaves the body in resp.body. CURL_EXTRA adds options.
http() {
    local method=$1 path=$2 token=$3
    local args=(-sS -o resp.body -w '%{http_code}' -X "$method" --max-time 20)
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
    curl "${args[@]}" ${CURL_EXTRA:-} "$URL$path"
}

# expect_status WANT METHOD PATH TOKEN [BODY]: the request answers WANT.
expect_status() {
    local want=$1 got
    shift
    got=$(http "$@")
    [ "$got" = "$want" ] || { echo "# $1 $2: expected $want, got $got: $(head -c 400 resp.body)" >&2; return 1; }
}

# body_has TEXT: the last response body contains TEXT.
body_has() {
    grep -qF -- "$1" resp.body || { echo "# body lacks '$1': $(head -c 400 resp.body)" >&2; return 1; }
}

# client N SWEEP_ID: agent cN claims one trial of the sweep at a time and
# finishes it, until none is left; appends each trial id it finished to
# done.N and each finish's status to codes.N.
client() {
    local n=$1 sweep=$2 body id att
    while :; do
        body=$(curl -sS --max-time 20 -H "Authorization: Bearer $TOKEN" \
               -d "{\"agent_id\":\"c$n\",\"sweep_id\":$sweep,\"max\":1}" "$URL/api/v1/claims") || return 1
        case "$body" in *'"claims":[]'*) return 0 ;; *'"claims":[{'*) ;; *) echo "$body" >&2; return 1 ;; esac
        id=$(echo "$body" | sed 's/.*"trial_id":\([0-9]*\).*/\1/')
        att=$(echo "$body" | sed 's/.*"attempt":\([0-9]*\).*/\1/')
        curl -sS --max-time 20 -o /dev/null -w "%{http_code}\n" -H "Authorization: Bearer $TOKEN" \
            -d "{\"attempt\":$att,\"outcome\":\"succeeded\",\"exit_code\":0,\"term_signal\":0}" \
            "$URL/api/v1/trials/$id/finish" >>codes.$n || return 1
        echo "$id" >>done.$n
    done
}
