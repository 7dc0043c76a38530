#!/usr/bin/env python3
"""corrupt_proxy.py UPSTREAM PORTFILE LOG KIND... - an HTTP proxy on
127.0.0.1 in front of `sweepq serve` whose answers to claims are not what
they seem.

Every request goes to UPSTREAM (http://127.0.0.1:PORT) as it came, and the
server does its work (a claim is committed). The answers of the first
claims that hold a trial are replaced, one KIND each, in the order given:
    notjson   200 with a body that is not JSON
    shape     200 with {"claims": 5}
    dup       200 with the claims listed, the first one twice
    foreign   200 with the claims and one of another sweep added
Later answers pass unchanged. Its port goes to PORTFILE once it listens;
LOG gets one line per claim: "KIND BODY -> ANSWER" for a replaced answer
(ANSWER: what the server said), "claim BODY -> ANSWER" else.
"""
import http.client
import http.server
import json
import os
import sys
import threading
import urllib.parse

upstream = urllib.parse.urlparse(sys.argv[1])
portfile, logfile, kinds = sys.argv[2], sys.argv[3], list(sys.argv[4:])
lock = threading.Lock()


def log(line):
    with lock, open(logfile, "a") as f:
        f.write(line + "\n")


def corrupt(kind, data):
    if kind == "notjson":
        return b"<html>all good</html>"
    if kind == "shape":
        return b'{"claims": 5}'
    doc = json.loads(data)
    claims = doc["claims"]
    if kind == "dup":
        claims.append(dict(claims[0]))
    elif kind == "foreign":
        other = dict(claims[0])
        other["trial_id"] += 1000
        other["sweep_id"] += 1000
        claims.append(other)
    return json.dumps(doc).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects

    def log_message(self, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection")}
        up = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        up.close()
        status = r.status
        if self.command == "POST" and self.path == "/api/v1/claims":
            kind = None
            with lock:
                if kinds and r.status == 200 and b'"trial_id"' in data:
                    kind = kinds.pop(0)
            log("%s %s -> %s" % (kind or "claim", body.decode(), data.decode()))
            if kind:
                data = corrupt(kind, data)
        self.send_response(status)
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
