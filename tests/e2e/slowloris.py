"""slowloris.py - a bounded slowloris against `sweepq serve` (test t0941):
N connections to HOST:PORT that never finish their headers (one more header
line every second) and carry no token; each one the server closes is opened
again after a second. Runs DURATION seconds, then closes everything.

    python3 slowloris.py HOST PORT N DURATION STATUS_FILE

STATUS_FILE gets "open=K reopened=R" once all N were opened and at the end.
Bounded in count (N), rate (a closed connection is reopened at most once a
second) and time (DURATION); it only ever connects to HOST:PORT.
"""
import socket
import sys
import time

host, port, n, duration, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
end = time.monotonic() + duration
conns = [None] * n  # socket, or the time at which to reopen it
reopened = 0


def connect():
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.setblocking(False)
        s.send(b"GET /api/v1/sweeps HTTP/1.1\r\nHost: x\r\n")
        return s
    except OSError:
        return time.monotonic() + 1


def report():
    with open(status, "w") as f:
        f.write("open=%d reopened=%d\n" % (sum(isinstance(c, socket.socket) for c in conns), reopened))


for i in range(n):
    conns[i] = connect()
report()
while time.monotonic() < end:
    for i, c in enumerate(conns):
        if isinstance(c, socket.socket):
            try:
                c.send(b"X-Slow: a\r\n")
                alive = c.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                alive = True
            except OSError:
                alive = False
            if not alive:
                c.close()
                conns[i] = time.monotonic() + 1
        elif time.monotonic() >= c:
            conns[i] = connect()
            reopened += isinstance(conns[i], socket.socket)
    report()
    time.sleep(1)
for c in conns:
    if isinstance(c, socket.socket):
        c.close()
report()
