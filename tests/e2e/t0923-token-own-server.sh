#!/bin/bash
# A project's write token goes only to the server it belongs to: `serve`
# records its origin in .sweepq/server.url, and a client in the project
# sends .sweepq/server.token to a listed origin only. A listener on another
# port never receives it; --token-file (or $SWEEPQ_TOKEN) sends a token
# there on purpose.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

cat >listener.py <<'PY'
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        with open(sys.argv[2], "a") as f:
            f.write("%s %s\n" % (self.path, dict(self.headers)))
        body = b'{"error":{"code":"EAUTH","message":"no token"}}'
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY

expect 'serve records its origin beside the token, mode 0600' '
    start_server &&
    port=${URL##*:} &&
    grep -qx "http://127.0.0.1:$port" .sweepq/server.url &&
    [ "$(stat -c %a .sweepq/server.url)" = 600 ]
'

expect 'a client in the project reaches its own server with the project token' '
    sq status --store "$URL" >own.out 2>own.err
'

expect 'a listener on another port never receives the token' '
    bg "$PYTHON" listener.py other.port other.log &&
    wait_for 20 "test -s other.port" &&
    OTHER=http://127.0.0.1:$(cat other.port) &&
    must_fail sq status --store "$OTHER" >other.out 2>other.err &&
    must_fail sq trials x --store "$OTHER/" >>other.out 2>>other.err &&
    test -s other.log &&
    ! grep -qi "authorization" other.log && ! grep -qF "$TOKEN" other.log &&
    grep -q "server.url" other.err
'

expect 'an explicit --token-file or SWEEPQ_TOKEN sends a token there on purpose' '
    echo mine-for-other >other.token &&
    must_fail sq status --store "$OTHER" --token-file other.token >/dev/null 2>&1 &&
    grep -q "Bearer mine-for-other" other.log &&
    ! grep -qF "$TOKEN" other.log &&
    stop_server
'

finish
