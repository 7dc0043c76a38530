#!/usr/bin/env python3
"""curve.py LR WIDTH EPOCHS EPOCH_LOG: a deterministic learning curve for
bench/early-stop.sh. Prints "epoch E loss=L" once per epoch (0.1 s each) and
appends a line to EPOCH_LOG per epoch run, so the benchmark counts the epochs
a sweep paid for, stopped trials included."""
import math
import sys
import time

lr, width, epochs, log = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# The best lr is 0.01; wider is a little better; a bad lr also learns slowly.
miss = math.log10(lr) + 2.0
final = 0.1 + 0.08 * miss * miss + 0.02 * math.log2(512 / width)
start = 2.5
tau = 3.0 + 2.0 * abs(miss)
for e in range(1, epochs + 1):
    time.sleep(0.1)
    loss = final + (start - final) * math.exp(-e / tau)
    with open(log, "a") as f:
        f.write("%d\n" % e)
    print("epoch %d loss=%.6f" % (e, loss), flush=True)
