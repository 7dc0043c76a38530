#!/bin/bash
# docs/api.md cannot rot: every ```sh block in it is run, in order, against a
# real `sweepq serve` on a fresh store ($URL, $TOKEN, $READ_TOKEN set as the
# page says), and the status must be the one on the block's "# -> NNN" line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

DOC="$SQ_SOURCE_DIR/docs/api.md"

expect 'a project and a server' '

    start_server
'

# The blocks, one file each: blocks/N.sh (the commands) and blocks/N.want.
"$PYTHON" - "$DOC" blocks <<'PY'
import os, re, sys
doc, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
text = open(doc).read()
blocks = re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)
for i, b in enumerate(blocks, 1):
    want = re.findall(r"^# -> (\d{3})$", b, re.M)
    if len(want) != 1:
        sys.exit("block %d has %d '# -> NNN' lines:\n%s" % (i, len(want), b))
    open(os.path.join(out, "%03d.sh" % i), "w").write(b)
    open(os.path.join(out, "%03d.want" % i), "w").write(want[0])
PY

# curl inside the examples: quiet, body to a file, the status on stdout.
run_block() {
    (
        export URL TOKEN READ_TOKEN
        curl() { command curl -sS -o doc.body -w '%{http_code}' --max-time 20 "$@"; }
        . "$1"
    )
}

expect 'docs/api.md has examples of every route' '
    n=$(ls blocks/*.sh | wc -l) && [ "$n" -ge 30 ] &&
    for r in "GET /api/v1/health" "GET /api/v1/time" "POST /api/v1/sweeps" \
             "GET /api/v1/sweeps" "POST /api/v1/sweeps/ID/trials" "POST /api/v1/sweeps/NAME/state" \
             "POST /api/v1/sweeps/NAME/cancel" "POST /api/v1/sweeps/NAME/retry" \
             "POST /api/v1/sweeps/ID/completion" "POST /api/v1/gc" \
             "GET /api/v1/sweeps/NAME/trials" "GET /api/v1/sweeps/NAME/trials/NUMBER" \
             "GET /api/v1/trials/ID/attempts" "POST /api/v1/agents" "DELETE /api/v1/agents/AGENT_ID" \
             "GET /api/v1/agents" "POST /api/v1/claims" "POST /api/v1/sweeps/ID/proposals" \
             "POST /api/v1/heartbeats" \
             "POST /api/v1/trials/ID/finish" "POST /api/v1/trials/ID/metrics" \
             "GET /api/v1/trials/ID/metrics" "POST /api/v1/reap" "POST /api/v1/trials/ID/import" \
             "PUT /api/v1/trials/ID/log" "GET /api/v1/trials/ID/log" "GET /metrics"; do
        grep -q "^### $r\$" "$DOC" || { echo "# no example section for $r" >&2; exit 1; }
    done
'

for b in blocks/*.sh; do
    want=$(cat "${b%.sh}.want")
    first=$(grep -m1 -v "^#" "$b" | cut -c1-70)
    expect "docs example $(basename "$b" .sh) answers $want: $first" '
        got=$(run_block "$b") &&
        { [ "$got" = "$want" ] || { echo "# got $got: $(head -c 600 doc.body)"; cat "$b"; false; }; }
    '
done

expect 'the server is still up after every example' '
    kill -0 "$SERVER_PID" &&
    expect_status 200 GET /api/v1/health ""
'
finish
