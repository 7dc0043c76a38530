#!/usr/bin/env python3
"""claim_drop_proxy.py UPSTREAM PORTFILE LOG DROPS - an HTTP proxy on
127.0.0.1 in front of `sweepq serve` that loses the answers of claims.

Every request goes to UPSTREAM (http://127.0.0.1:PORT) as it came. The first
DROPS POST /api/v1/claims whose answers hold a trial reach the server, which
commits them, but the client gets no answer: the proxy closes the connection
instead, as a server killed right after its commit would. (libcurl sends a
request again by itself, once, when a reused connection closes before any
answer: DROPS 2 makes the caller see the failure.) Its port goes to PORTFILE
once it listens; LOG gets one line per claim:
    "dropped BODY -> ANSWER" for a lost one, "claim BODY -> ANSWER" else.
"""
import http.client
import http.server
import os
import socket
import sys
import threading
import urllib.parse

upstream = urllib.parse.urlparse(sys.argv[1])
portfile, logfile, drops = sys.argv[2], sys.argv[3], int(sys.argv[4])
lock = threading.Lock()
dropped = 0


def log(line):
    with lock, open(logfile, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects

    def log_message(self, *args):
        pass

    def forward(self):
        global dropped
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection")}
        up = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        up.close()
        if self.command == "POST" and self.path == "/api/v1/claims":
            with lock:
                drop = dropped < drops and b'"trial_id"' in data
                dropped += drop
            log("%s %s -> %s" % ("dropped" if drop else "claim", body.decode(), data.decode()))
            if drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                 "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
