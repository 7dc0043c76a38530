#!/usr/bin/env bash
# t0810-remote-config: `remote add|list|remove` keep .sweepq/config.yaml's
# other lines, comments included, byte for byte; replace swaps one entry;
# bad names and hosts are refused; `remote test` of a closed port fails
# cleanly with ssh's reason. No ssh server is needed here (t0811 has one).
. "$(dirname "$0")/lib.sh"

# exits N CMD...: runs CMD; succeeds when it exits with status N exactly.
exits() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || { echo "# expected exit $want from '$*', got $rc" >&2; return 1; }
}

mkdir -p .sweepq
cat >.sweepq/config.yaml <<'EOF'
# project settings: keep this comment
submit:
  partition: gpu    # the big one
  time: "04:00:00"

remotes:
  # the first box
  alpha:
    host: alpha.example.com
    slots: 2        # two GPUs
  beta: {host: beta.example.com, port: 2200}

# a section after the remotes
other:
  key: 1
EOF
cp .sweepq/config.yaml before.yaml

expect 'remote list shows the remotes already in the file' '
    sq remote list >list.out &&
    grep -q "^alpha *alpha.example.com *sweepq/.* *2" list.out &&
    grep -q "^beta *beta.example.com:2200" list.out
'

expect 'remote add appends an entry and changes no other line' '
    sq remote add gamma --host gamma.example.com --user alice --port 2222 \
        --key "/keys/id ed25519" --workdir /scratch/proj --slots 4 >add.out &&
    grep -q "^added remote .gamma. (alice@gamma.example.com:2222, workdir /scratch/proj)" add.out &&
    diff before.yaml .sweepq/config.yaml >add.diff; test $? = 1 &&
    test "$(grep -c "^[<]" add.diff)" = 0 &&
    grep -q "^>   gamma:$" add.diff &&
    grep -q "^>     key: \"/keys/id ed25519\"$" add.diff
'

expect 'the new remote reads back with every field' '
    sq remote list --json >list.json &&
    test "$(json_get "[r[\"name\"] for r in d]" <list.json)" = "[\"alpha\", \"beta\", \"gamma\"]" &&
    test "$(json_get "[r for r in d if r[\"name\"] == \"gamma\"][0][\"port\"]" <list.json)" = 2222 &&
    test "$(json_get "[r for r in d if r[\"name\"] == \"gamma\"][0][\"slots\"]" <list.json)" = 4 &&
    test "$(json_get "[r for r in d if r[\"name\"] == \"gamma\"][0][\"key\"]" <list.json)" = "/keys/id ed25519" &&
    test "$(json_get "[r for r in d if r[\"name\"] == \"gamma\"][0][\"user\"]" <list.json)" = alice
'

expect 'remote add of an existing name replaces only that entry' '
    sq remote add alpha --host alpha2.example.com --workdir "~/runs/a" >replace.out &&
    grep -q "^replaced remote .alpha. (alpha2.example.com, workdir runs/a)" replace.out &&
    sq remote list --json >list2.json &&
    test "$(json_get "[r[\"host\"] for r in d]" <list2.json)" = "[\"alpha2.example.com\", \"beta.example.com\", \"gamma.example.com\"]" &&
    grep -q "^  # the first box$" .sweepq/config.yaml &&
    grep -q "^# a section after the remotes$" .sweepq/config.yaml &&
    grep -q "^  partition: gpu    # the big one$" .sweepq/config.yaml
'

expect 'remote remove of every remote gives back the other lines byte for byte' '
    sq remote remove gamma >rm.out &&
    grep -q "^removed remote .gamma." rm.out &&
    sq remote remove alpha && sq remote remove beta &&
    sq remote list >empty.out &&
    grep -q "^no remotes" empty.out &&
    grep -v -e "^remotes:" -e "^  # the first box" before.yaml | grep -v -e alpha -e beta -e "slots: 2" >want.yaml &&
    grep -v "^remotes:" .sweepq/config.yaml | grep -v "^  # the first box" >got.yaml &&
    diff want.yaml got.yaml &&
    head -n 5 .sweepq/config.yaml | diff - <(head -n 5 before.yaml)
'

expect 'removing a remote that does not exist fails with exit 3' '
    exits 3 sq remote remove nosuch 2>rm.err &&
    grep -q "no remote named .nosuch." rm.err
'

expect 'a config file without remotes gets a remotes: block at its end, the rest untouched' '
    printf "submit:\n  partition: cpu # no newline at the end" >.sweepq/config.yaml &&
    sq remote add one --host one.example.com &&
    printf "submit:\n  partition: cpu # no newline at the end\nremotes:\n  one:\n" >want.head &&
    head -c "$(wc -c <want.head)" .sweepq/config.yaml | cmp - want.head &&
    sq remote list --json >one.json &&
    test "$(json_get "d[0][\"workdir\"]" <one.json)" = "sweepq/$(basename "$TEST_DIR")"
'

expect 'a project without config.yaml gets one' '
    rm .sweepq/config.yaml &&
    sq remote add two --host two.example.com --slots 1 &&
    test "$(sq remote list --json | json_get "d[0][\"name\"]")" = two
'

expect 'bad names, hosts and options are refused with exit 2, and nothing is written' '
    cp .sweepq/config.yaml keep.yaml &&
    exits 2 sq remote add "a.b" --host x 2>e1 && grep -q "bad remote name" e1 &&
    exits 2 sq remote add evil --host "-oProxyCommand=touch /tmp/pwned" 2>e2 &&
    grep -q "starts with .-." e2 &&
    exits 2 sq remote add evil --host "a b" 2>e3 && grep -q "holds the character" e3 &&
    exits 2 sq remote add nohost 2>e4 && grep -q "needs --host" e4 &&
    exits 2 sq remote add k --host h --key "/a'\''b" 2>e5 && grep -q "quote" e5 &&
    exits 2 sq remote frobnicate 2>e6 && grep -q "unknown action" e6 &&
    exits 2 sq remote list --host h 2>e7 &&
    cmp keep.yaml .sweepq/config.yaml &&
    test ! -e /tmp/pwned
'

expect 'remote test of a port nobody listens on fails with ssh'"'"'s reason' '
    port=$("$PYTHON" -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])") &&
    sq remote add closed --host 127.0.0.1 --port "$port" --known-hosts "$TEST_DIR/kh" &&
    exits 1 sq remote test closed >closed.out &&
    grep -q "cannot log in to 127.0.0.1:$port: .*Connection refused" closed.out &&
    exits 1 sq remote health closed --json >closed.json &&
    test "$(json_get "d[\"reachable\"]" <closed.json)" = false
'

expect 'remote verbs name a missing remote with exit 3' '
    exits 3 sq remote test nosuch 2>t.err && grep -q "no remote named .nosuch.; add it" t.err
'

finish
