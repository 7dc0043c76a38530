#!/bin/bash
# `sweepq serve --tls-cert --tls-key`: HTTPS with a throwaway self-signed
# certificate made here by openssl; curl checks it with --cacert; plain
# HTTP to the TLS port gets no answer; a key that is not PEM is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

expect 'a self-signed certificate for 127.0.0.1' '
    command -v openssl &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout key.pem -out cert.pem 2>openssl.err &&
    [ -s cert.pem ] && [ -s key.pem ]
'

expect 'serve speaks HTTPS with it' '

    start_server --tls-cert cert.pem --tls-key key.pem &&
    case "$URL" in https://127.0.0.1:*) true ;; *) false ;; esac &&
    CURL_EXTRA="--cacert cert.pem" expect_status 200 GET /api/v1/health "" &&
    CURL_EXTRA="--cacert cert.pem" expect_status 200 GET /api/v1/sweeps "$TOKEN" &&
    CURL_EXTRA="--cacert cert.pem" expect_status 401 GET /api/v1/sweeps "" &&
    CURL_EXTRA="--cacert cert.pem" expect_status 200 POST /api/v1/reap "$TOKEN" "{}"
'

expect 'the certificate is checked: without --cacert curl refuses it' '
    must_fail curl -sS -o /dev/null --max-time 10 "$URL/api/v1/health" 2>err
'

expect 'clients that hang up in the middle of responses do not end the server' '
    hostport=${URL#https://} &&
    "$PYTHON" - "${hostport%:*}" "${hostport#*:}" <<PY &&
import socket, ssl, sys
ctx = ssl.create_default_context(cafile="cert.pem")
for i in range(40):
    s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2]))), server_hostname=sys.argv[1])
    s.sendall(b"GET /assets/vendor/uplot/uPlot.iife.min.js HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
    s.close()
PY
    kill -0 "$SERVER_PID" &&
    CURL_EXTRA="--cacert cert.pem" expect_status 200 GET /api/v1/health ""
'

expect 'plain HTTP to the TLS port gets no API answer, and HTTPS still works' '
    plain=${URL/https:/http:} &&
    got=$(curl -sS -o resp.body -w "%{http_code}" --max-time 10 "$plain/api/v1/health" 2>/dev/null ||
          true) &&
    [ "$got" != 200 ] &&
    CURL_EXTRA="--cacert cert.pem" expect_status 200 GET /api/v1/health "" &&
    stop_server
'

expect 'a key that is not PEM is refused at start' '
    echo "not a key" >bad.pem &&
    must_fail sq serve --listen 127.0.0.1:0 --tls-cert cert.pem --tls-key bad.pem 2>err &&
    grep -q "TLS" err
'
finish
