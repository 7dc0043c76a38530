#!/bin/bash
# init: finds the training script and a python, writes a commented
# sweep.yaml that validates (with its ${macro}s quoted in flow lists),
# creates .sweepq/ and its config.yaml, and never overwrites without --force.
. "$(dirname "$0")/lib.sh"

# exits N CMD...: runs CMD; succeeds when it exits with status N exactly.
exits() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || { echo "# expected exit $want from '$*', got $rc" >&2; return 1; }
}

has_verb() { "$SWEEPQ" help "$1" >/dev/null 2>&1; }

mkdir -p proj/.venv/bin proj2
cat >proj/train.py <<'EOF'
import argparse
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.01)
p.add_argument('--batch_size', type=int, default=32)
a = p.parse_args()
print(f"loss={abs(a.lr - 0.01) + a.batch_size / 1000}")
EOF
printf '#!/bin/sh\nexec python3 "$@"\n' >proj/.venv/bin/python
chmod +x proj/.venv/bin/python
echo 'import argparse' >proj2/experiment.py
echo 'print("hello")' >proj2/a_helper.py

expect 'init writes sweep.yaml and .sweepq/ with the script and the venv python' '
    (cd proj && sq init >init.out) &&
    test -f proj/sweep.yaml && test -d proj/.sweepq/sweeps && test -f proj/.sweepq/config.yaml &&
    grep -E "^program: .*train\.py" proj/sweep.yaml &&
    grep -E "^interpreter: \".*/proj/\.venv/bin/python\"" proj/sweep.yaml &&
    grep -F -- "--lr --batch_size" proj/sweep.yaml &&
    grep -F "train.py" proj/init.out
'

# macros_quoted FILE: every ${...} inside a [flow list] is inside quotes.
macros_quoted() {
    "$PYTHON" - "$1" <<'EOF'
import re, sys
bad = []
for n, line in enumerate(open(sys.argv[1]), 1):
    if line.lstrip().startswith("#"):
        continue
    for m in re.finditer(r"\[[^\]]*\]", line):
        for item in m.group(0)[1:-1].split(","):
            item = item.strip()
            if "${" in item and item[:1] not in ("'", '"'):
                bad.append(f"{n}: {line.rstrip()}")
sys.exit("unquoted macro in a flow list: " + "; ".join(bad) if bad else 0)
EOF
}

expect 'every ${macro} in a flow list of sweep.yaml is quoted' '
    macros_quoted proj/sweep.yaml &&
    grep -F "\"\${program}\"" proj/sweep.yaml
'

expect 'init refuses to overwrite sweep.yaml (exit 5) and --force does' '
    echo "# mine" >proj/sweep.yaml &&
    (cd proj && exits 5 sq init 2>../err) &&
    grep -F -- "--force" err &&
    test "$(cat proj/sweep.yaml)" = "# mine" &&
    (cd proj && sq init --force >/dev/null) &&
    grep -F "metric:" proj/sweep.yaml
'

expect 'init keeps an existing .sweepq/config.yaml' '
    echo "# my settings" >proj/.sweepq/config.yaml &&
    (cd proj && sq init --force -o other.yaml >/dev/null) &&
    test "$(cat proj/.sweepq/config.yaml)" = "# my settings" && test -f proj/other.yaml
'

expect 'without train.py, init picks a script that uses argparse' '
    (cd proj2 && PATH=/usr/bin:/bin sq init >init.out) &&
    grep -E "^program: .*experiment\.py" proj2/sweep.yaml &&
    grep -E "^interpreter: \"/.*python3?\"" proj2/sweep.yaml
'

if has_verb validate; then
    expect 'the generated specs validate' '
        (cd proj && sq validate sweep.yaml) && (cd proj2 && sq validate sweep.yaml)
    '
    expect 'the generated spec expands to 6 trials' '
        (cd proj && sq create sweep.yaml --dry-run --json >../dry.json) &&
        test "$(json_get "len(d)" <dry.json)" = 6
    '
    expect 'the generated spec runs as is, and best finds lr=0.01, batch_size=32' '
        (cd proj && sq run sweep.yaml -j 2 >../run.out 2>&1) &&
        (cd proj && sq best proj-sweep -n 1 --json >../best.json) &&
        test "$(json_get "d[\"trials\"][0][\"params\"] == {\"lr\": 0.01, \"batch_size\": 32}" <best.json)" = true
    '
fi

finish
