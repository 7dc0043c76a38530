#!/usr/bin/env python3
"""cut_proxy.py UPSTREAM_PORT PORTFILE CUTFILE - a TCP proxy on 127.0.0.1
that can cut its clients off, as a network partition does.

Bytes go both ways between a client and 127.0.0.1:UPSTREAM_PORT until the
file CUTFILE exists. From then on nothing passes: what a client sends is
read and dropped, no answer ever comes, new connections are accepted and
held the same way (a partition, not a refusal: the client waits for its own
timeout). Its port goes to PORTFILE once it listens. Every wait is bounded
(0.1 s), so it ends with its process.
"""
import os
import select
import socket
import sys
import threading

upstream_port, portfile, cutfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def cut():
    return os.path.exists(cutfile)


def relay(client):
    up = None
    try:
        if not cut():
            up = socket.create_connection(("127.0.0.1", upstream_port), timeout=10)
        while True:
            socks = [client] + ([up] if up else [])
            ready, _, _ = select.select(socks, [], [], 0.1)
            if cut() and up:
                up.close()  # the server sees the client go; the client sees nothing
                up = None
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                if up and not cut():
                    (up if s is client else client).sendall(data)
    except OSError:
        pass
    finally:
        client.close()
        if up:
            up.close()


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
with open(portfile + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=relay, args=(conn,), daemon=True).start()
