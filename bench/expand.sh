#!/usr/bin/env bash
# expand.sh BUILD_DIR: time expanding a 1,000,000-trial grid (100 x 100 x
# 100) into each trial's parameters and exact argv (bench_expand, built in
# BUILD_DIR), beside a peer measured in the same run: the same expansion in
# Python (itertools.product in the written order and W&B's
# f"--{name}={value}" flags), which is how the Python sweep tools build their
# commands. Builds nothing; prints one line.
set -euo pipefail
build=$(cd "${1:?usage: expand.sh BUILD_DIR}" && pwd)
[ -x "$build/bench_expand" ] || { echo "expand.sh: no $build/bench_expand; build it first" >&2; exit 1; }

# "expand: N trials in T s: R trials/s (keys: K s) [...]"
out=$("$build/bench_expand")
n=$(awk '{ print $2 }' <<<"$out")
t_sq=$(awk '{ print $5 }' <<<"$out")
t_keys=$(awk '{ gsub(/\)/, "", $10); print $10 }' <<<"$out")

t_py=$(python3 - <<'PY'
import itertools, time
side = 100
lr = [1e-5 * (i + 1) for i in range(side)]
batch = [8 * (i + 1) for i in range(side)]
opt = ["opt%d" % i for i in range(side)]
names = ["lr", "batch_size", "optimizer"]
t0 = time.perf_counter()
n = 0
for combo in itertools.product(lr, batch, opt):
    params = dict(zip(names, combo))
    argv = ["/usr/bin/env", "python3", "train.py"] + [f"--{k}={v}" for k, v in params.items()]
    n += len(argv[-1])
print("%.3f" % (time.perf_counter() - t0))
PY
)

awk -v n="$n" -v s="$t_sq" -v k="$t_keys" -v p="$t_py" 'BEGIN {
  printf "expand: %d trials into params + argv in %.2f s (%.0f trials/s; keys +%.2f s); python itertools peer %.2f s: %.1fx faster\n",
         n, s, n / s, k, p, p / s
}'
