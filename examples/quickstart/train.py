#!/usr/bin/env python3
"""A stand-in trainer for the quickstart sweep: no dependencies, a fraction
of a second per run.

It takes its hyperparameters the way W&B's agent passes them
(--lr=0.01 --batch_size=32 --epochs=5), "trains" a made-up model whose loss
depends on them, and reports each epoch twice: as a line on stdout
("epoch=3 loss=0.41") and as a JSON line appended to $SWEEPQ_METRICS_FILE
when sweepq sets it.
"""
import argparse
import json
import math
import os


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()

    metrics_file = os.environ.get("SWEEPQ_METRICS_FILE")
    # Best near lr=0.01 and batch 32; more epochs always help a little.
    floor = 0.05 + 0.3 * abs(math.log10(a.lr) + 2) + 0.05 * abs(math.log2(a.batch_size) - 5)
    loss = 2.0
    for epoch in range(1, a.epochs + 1):
        loss = floor + (loss - floor) * 0.5
        print(f"epoch={epoch} loss={loss:.4f}", flush=True)
        if metrics_file:
            with open(metrics_file, "a") as f:
                f.write(json.dumps({"step": epoch, "loss": round(loss, 6)}) + "\n")
    accuracy = max(0.0, 1.0 - loss / 2)
    print(f"accuracy={accuracy:.4f}")
    if metrics_file:
        with open(metrics_file, "a") as f:
            f.write(json.dumps({"step": a.epochs, "accuracy": round(accuracy, 6)}) + "\n")


if __name__ == "__main__":
    main()
