#!/usr/bin/env bash
# t0200-create-dry-run: `sweepq create` previews and registers sweeps.
#
# Every tests/spec/examples/NAME.yaml (the examples docs/spec.md shows) is
# run through `sweepq create NAME.yaml --dry-run --json` and compared, parsed
# and in order, with NAME.expected.json. Those files were checked against an
# independent model of W&B's agent (f"--{name}={value}", json.dumps,
# itertools.product order), not just copied from the output. Then: a shell
# command runs for real and its hostile values stay inert; a dry run creates
# nothing; an open-ended random sweep previews 10 trials; errors exit 1 with
# their diagnostics; a real create is idempotent and refuses a changed
# command.
. "$(dirname "$0")/lib.sh"

EX=$SQ_SOURCE_DIR/tests/spec/examples

# same_json GOT WANT: the two documents are equal, with the same types and
# object keys in the same order, once trial directories are reduced to <project>/.sweepq/sweeps/...
# (they are absolute inside a project and ./.sweepq/... outside one).
same_json() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import json, re, sys
def norm(v):
    # Types count: 1, 1.0 and true must not compare equal.
    if isinstance(v, bool) or v is None:
        return ("const", repr(v))
    if isinstance(v, (int, float)):
        return (type(v).__name__, repr(v))
    if isinstance(v, str):
        return re.sub(r"[^\s'\"=]*/\.sweepq/sweeps/", "<project>/.sweepq/sweeps/", v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, tuple):
        return tuple((k, norm(x)) for k, x in v[1])
    return v
load = lambda p: norm(json.load(open(p), object_pairs_hook=lambda kv: ("obj", kv)))
got, want = load(sys.argv[1]), load(sys.argv[2])
if got != want:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            print("# first difference at element", i, "\n# got: ", g, "\n# want:", w)
            break
    else:
        print("# lengths differ:", len(got), "vs", len(want))
    sys.exit(1)
EOF
}

for yaml in "$EX"/*.yaml; do
    name=$(basename "$yaml" .yaml)
    expect "$name: create --dry-run --json matches $name.expected.json" '
        sq create "$yaml" --dry-run --json >"$name.out" &&
        same_json "$name.out" "$EX/$name.expected.json"
    '
done

expect 'docs/spec.md shows every example byte for byte' '
    "$PYTHON" - "$SQ_SOURCE_DIR" <<-EOF
	import glob, os, re, sys
	root = sys.argv[1]
	doc = open(os.path.join(root, "docs/spec.md")).read()
	shown = dict(re.findall(r"<!-- example (\S+) -->\n\`\`\`yaml\n(.*?)\`\`\`\n", doc, re.S))
	files = sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "tests/spec/examples/*.yaml")))
	bad = [f for f in files if shown.get(f) != open(os.path.join(root, f)).read()]
	bad += [f for f in shown if f not in files]
	if bad:
	    sys.exit("# not shown, or shown differently, in docs/spec.md: " + ", ".join(bad))
	EOF
'

expect 'the text dry run is a table of trial, params and the exact command' '
    sq create "$EX/wandb-grid.yaml" --dry-run >grid.txt &&
    grep -q "^sweep wandb-grid: 8 trials (grid):$" grid.txt &&
    grep -q "^trial  params  *command$" grid.txt &&
    grep -qF "    1  batch_size=16, epochs=10, lr=0.001, optimizer=adam   /usr/bin/env python3 train.py --batch_size=16 --epochs=10 --lr=0.001 --optimizer=adam" grid.txt &&
    test "$(grep -c "/usr/bin/env python3 train.py" grid.txt)" = 8
'

expect 'a shell command runs for real and every hostile value stays inert' '
    mkdir -p sh/x &&
    "$PYTHON" - shell.out sh <<-EOF
	import json, subprocess, sys
	for t in json.load(open(sys.argv[1])):
	    subprocess.run(t["argv"], cwd=sys.argv[2], check=True, stdout=subprocess.DEVNULL)
	EOF
    test ! -e sh/pwned &&
    test -d sh/x &&
    printf "%s\n" "\$(touch pwned)" "; rm -rf x" "'"'"'" "\`touch pwned\`" >want-notes &&
    cmp want-notes sh/notes.txt
'

expect 'a dry run creates no file or directory' '
    test ! -e .sweepq
'

cat >open.yaml <<'EOF'
program: train.py
method: random
parameters:
  lr:
    distribution: log_uniform_values
    min: 0.0001
    max: 0.1
EOF

expect 'an open-ended random sweep previews its first 10 trials, --count changes it' '
    sq create open.yaml --dry-run --json >open.json &&
    test "$(json_get "len(d)" <open.json)" = 10 &&
    test "$(json_get "d[9][\"number\"]" <open.json)" = 10 &&
    sq create open.yaml --dry-run --count 3 --json >open3.json &&
    test "$(json_get "len(d)" <open3.json)" = 3 &&
    sq create open.yaml --dry-run >open.txt &&
    grep -q "without run_cap" open.txt && grep -q -- "--count K for more" open.txt &&
    test ! -e .sweepq
'

cat >badparam.yaml <<'EOF'
program: train.py
method: grid
command: [python3, "${program}", "--lr=${param.lrr}"]
parameters:
  lr:
    values: [0.1]
EOF
printf 'program: train.py\nmethod: grid\nparameters:\n  lr: {values: [0.1\n' >broken.yaml

expect 'an unknown ${param.NAME} or a broken spec exits 1 with its message' '
    must_fail sq create badparam.yaml --dry-run 2>bad.err &&
    grep -q "lrr" bad.err &&
    must_fail sq create broken.yaml --dry-run 2>broken.err &&
    grep -q "^[^:]*broken.yaml:[0-9][0-9]*:[0-9][0-9]*: " broken.err &&
    test ! -e .sweepq
'

expect 'one bad file in a batch creates nothing' '
    must_fail sq create "$EX/wandb-grid.yaml" broken.yaml 2>batch.err &&
    test ! -e .sweepq
'

expect 'create registers the trials, then again is a no-op, with a frozen copy' '
    sq create "$EX/wandb-grid.yaml" >create1.out &&
    grep -qx "created sweep wandb-grid: 8 trials (8 new)" create1.out &&
    sq create "$EX/wandb-grid.yaml" >create2.out &&
    grep -qx "sweep wandb-grid already exists with the same spec: nothing to do" create2.out &&
    cmp "$EX/wandb-grid.yaml" .sweepq/sweeps/wandb-grid/spec.yaml
'

expect 'create --json reports each sweep' '
    sq create "$EX/wandb-random.yaml" "$EX/nested.yaml" --json >created.json &&
    test "$(json_get "[(x[\"sweep\"], x[\"trials\"], x[\"added\"]) for x in d]" <created.json)" = \
        "[[\"lr-search\", 4, 4], [\"nested\", 4, 4]]"
'

expect 'inside a project a dry run shows the absolute trial directories' '
    sq create "$EX/hydra.yaml" --dry-run --json >hydra-in.json &&
    test "$(json_get "d[0][\"argv\"][-1]" <hydra-in.json)" = \
        "hydra.run.dir=$(pwd -P)/.sweepq/sweeps/hydra/trials/1"
'

sed 's/^program: train.py$/program: other.py/' "$EX/wandb-grid.yaml" >wandb-grid.yaml
expect 'a changed command under the same name is refused with exit 5' '
    sq create wandb-grid.yaml 2>conflict.err
    test $? = 5 &&
    grep -q "wandb-grid" conflict.err
'

finish
