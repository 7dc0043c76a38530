"""unauth_flood.py - tokenless clients that send big bodies to `sweepq serve`
(tests t0940): each of N connections sends a POST without a token that
announces a body of SIZE bytes and then sends it as fast as the server takes
it, until it is all sent or the server closes the connection. Once every
connection has stopped sending (all are still open), it prints the server's
peak and current resident memory from /proc/PID/status, then what each
connection got back.

    python3 unauth_flood.py HOST PORT SERVER_PID N SIZE

Prints "rss_kb=... hwm_kb=... answered_401=... closed=... sent_max=...".
Bounded: every socket has a 30 s timeout, so it ends even if the server
neither reads nor closes.
"""
import socket
import sys
import threading

host, port, pid, n, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
chunk = b" " * 65536
socks, sent = [None] * n, [0] * n


def flood(i):
    s = socket.create_connection((host, port), timeout=30)
    socks[i] = s
    try:
        s.sendall(b"POST /api/v1/reap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % size)
        while sent[i] < size:
            k = min(len(chunk), size - sent[i])
            s.sendall(chunk[:k])
            sent[i] += k
    except OSError:
        pass  # the server closed it: what it should do


def status(field):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit("no %s for pid %s" % (field, pid))


threads = [threading.Thread(target=flood, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
rss, hwm = status("VmRSS"), status("VmHWM")
answered = closed = 0
for s in socks:
    if s is None:
        continue
    try:
        s.shutdown(socket.SHUT_WR)
        head = s.recv(64)
        if head.startswith(b"HTTP/1.1 401"):
            answered += 1
        elif not head:
            closed += 1
    except OSError:
        closed += 1
    s.close()
print("rss_kb=%d hwm_kb=%d answered_401=%d closed=%d sent_max=%d" % (rss, hwm, answered, closed, max(sent)))
