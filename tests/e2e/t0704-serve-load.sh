#!/bin/bash
# `sweepq serve` under hostile and heavy clients: a hundred idle and
# half-sent connections (slowloris) do not stop two worker threads from
# answering others; eight clients claiming and finishing at once get each
# trial exactly once; /metrics is well-formed Prometheus text with escaped
# labels and consistent histograms.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

expect 'a server with two worker threads' '

    start_server --threads 2
'

# Holds N connections open: a third send half a request line, a third
# half the headers, a third a body shorter than its Content-Length. Writes
# "ready" when all are open, then waits to be killed.
cat >slowloris.py <<'PY'
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
parts = [b"GET /api/v1/hea", b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
         b"POST /api/v1/reap HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":"]
socks = []
for i in range(n):
    s = socket.create_connection((host, port))
    s.sendall(parts[i % 3])
    socks.append(s)
open("ready", "w").write("%d\n" % len(socks))
time.sleep(120)
PY

expect 'a hundred idle, half-sent connections do not block other clients' '
    hostport=${URL#http://} &&
    bg "$PYTHON" slowloris.py "${hostport%:*}" "${hostport#*:}" 100 &&
    wait_for 20 "[ -s ready ]" &&
    for i in 1 2 3 4 5; do
        expect_status 200 GET /api/v1/health "" || exit 1
        expect_status 200 GET /api/v1/sweeps "$READ_TOKEN" || exit 1
    done
'

SWEEP_N=120
expect 'a sweep of 120 trials' '
    t="" && for i in $(seq 1 $SWEEP_N); do t="$t${t:+,}{\"number\":$i,\"key\":\"k$i\",\"params_json\":\"{}\"}"; done &&
    expect_status 200 POST /api/v1/sweeps "$TOKEN" "{\"name\":\"load\",\"spec_json\":\"{}\",\"command_json\":\"[\\\"true\\\"]\",\"max_attempts\":1,\"lease_ttl\":600,\"total\":$SWEEP_N,\"trials\":[$t]}"
'

expect 'eight clients claiming and finishing at once get each trial exactly once' '
    pids="" &&
    for n in 1 2 3 4 5 6 7 8; do client $n 1 & pids="$pids $!"; done &&
    ok=0 && for p in $pids; do wait $p || ok=1; done && [ $ok = 0 ] &&
    cat done.* | sort -n >all &&
    [ "$(wc -l <all)" = $SWEEP_N ] && [ "$(sort -u all | wc -l)" = $SWEEP_N ] &&
    ! grep -v "^200$" codes.* &&
    expect_status 200 GET /api/v1/sweeps/load "$READ_TOKEN" && body_has "\"succeeded\":$SWEEP_N"
'

expect 'a sweep whose name needs escaping in a label' '
    expect_status 200 POST /api/v1/sweeps "$TOKEN" "{\"name\":\"we\\\"ird\\\\name\",\"spec_json\":\"{}\",\"command_json\":\"[\\\"true\\\"]\",\"max_attempts\":1,\"lease_ttl\":60,\"total\":1,\"trials\":[{\"number\":1,\"key\":\"k\",\"params_json\":\"{}\"}]}"
'

cat >promcheck.py <<'PY'
# Parses Prometheus text format 0.0.4 strictly enough to catch bad escaping,
# bad numbers and inconsistent histograms; prints the samples it needs.
import re, sys
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{' + label + r'(?:,' + label + r')*\})? (\S+)$')
series, types = {}, {}
for line in open(sys.argv[1]).read().split("\n")[:-1]:
    if line.startswith("# HELP "):
        continue
    m = re.match(r"^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$", line)
    if m:
        types[m.group(1)] = m.group(2)
        continue
    m = sample.match(line)
    if not m:
        sys.exit("bad line: %r" % line)
    float(m.group(3))
    labels = dict((k, re.sub(r'\\(.)', lambda e: "\n" if e.group(1) == "n" else e.group(1), v))
                  for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
    series[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
def get(name, **kw):
    return series[(name, tuple(sorted(kw.items())))]
# histograms: cumulative buckets, +Inf equal to _count
routes = {dict(k[1])["route"] for k in series if k[0] == "sweepq_http_request_duration_seconds_count"}
for r in routes:
    b = sorted(((float(dict(k[1])["le"]), v) for k, v in series.items()
                if k[0] == "sweepq_http_request_duration_seconds_bucket" and dict(k[1])["route"] == r))
    assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), r
    assert b[-1][0] == float("inf") and b[-1][1] == get("sweepq_http_request_duration_seconds_count", route=r), r
print("trials_load_succeeded", int(get("sweepq_trials", sweep="load", state="succeeded")))
print("trials_weird_pending", int(get("sweepq_trials", sweep='we"ird\\name', state="pending")))
print("claims", int(get("sweepq_claims_total")))
print("claim_requests", int(get("sweepq_http_requests_total", route="claim", code="2xx")))
print("types", types["sweepq_trials"], types["sweepq_http_request_duration_seconds"])
PY

expect '/metrics is well-formed Prometheus text that counts what happened' '
    expect_status 200 GET /metrics "$READ_TOKEN" && cp resp.body metrics.txt &&
    "$PYTHON" promcheck.py metrics.txt >prom.out &&
    grep -qx "trials_load_succeeded $SWEEP_N" prom.out &&
    grep -qx "trials_weird_pending 1" prom.out &&
    grep -qx "claims $SWEEP_N" prom.out &&
    grep -qx "claim_requests $((SWEEP_N + 8))" prom.out &&
    grep -qx "types gauge histogram" prom.out
'

expect 'the server still answers and stops cleanly with the idle connections open' '
    expect_status 200 GET /api/v1/health "" &&
    stop_server
'
finish
