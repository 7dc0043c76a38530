#!/usr/bin/env python3
"""A small real trainer for the search example: no dependencies, about a
tenth of a second per run.

It fits a linear model with minibatch SGD (plain or with momentum, L2 weight
decay) to a fixed synthetic regression problem (256 training and 128
validation points, 8 features, a fixed seed), and prints the validation loss
after each epoch as "val_loss=0.1234": sweepq records each printed value
with its step (the n-th value), which is what early termination (hyperband)
and the dashboard's curves read. A diverging run prints a very large loss
and stops, as a real trainer that hit NaN would.

Hyperparameters come as W&B's agent passes them:
    --lr=0.01 --batch_size=32 --weight_decay=0.0001 --optimizer=momentum
    --epochs=27
"""
import argparse
import math
import random

FEATURES = 8


def dataset(seed=1234):
    """The same data on every run: y = w.x + noise."""
    rng = random.Random(seed)
    w_true = [rng.uniform(-2, 2) for _ in range(FEATURES)]

    def point():
        x = [rng.gauss(0, 1) for _ in range(FEATURES)]
        y = sum(wi * xi for wi, xi in zip(w_true, x)) + rng.gauss(0, 0.5)
        return x, y

    return [point() for _ in range(256)], [point() for _ in range(128)]


def mse(w, b, data):
    return sum((sum(wi * xi for wi, xi in zip(w, x)) + b - y) ** 2 for x, y in data) / len(data)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--weight_decay", type=float, default=0.0)
    p.add_argument("--optimizer", choices=["sgd", "momentum"], default="sgd")
    p.add_argument("--epochs", type=int, default=27)
    a = p.parse_args()

    train, val = dataset()
    rng = random.Random(99)  # the same shuffles for every configuration
    w, b = [0.0] * FEATURES, 0.0
    vw, vb = [0.0] * FEATURES, 0.0
    beta = 0.9 if a.optimizer == "momentum" else 0.0
    for epoch in range(1, a.epochs + 1):
        rng.shuffle(train)
        for i in range(0, len(train), a.batch_size):
            batch = train[i:i + a.batch_size]
            gw, gb = [0.0] * FEATURES, 0.0
            for x, y in batch:
                err = sum(wi * xi for wi, xi in zip(w, x)) + b - y
                for j in range(FEATURES):
                    gw[j] += 2 * err * x[j] / len(batch)
                gb += 2 * err / len(batch)
            for j in range(FEATURES):
                vw[j] = beta * vw[j] + gw[j] + a.weight_decay * w[j]
                w[j] -= a.lr * vw[j]
            vb = beta * vb + gb
            b -= a.lr * vb
        loss = mse(w, b, val)
        if not math.isfinite(loss) or loss > 1e6:
            print(f"val_loss={1e6:.4f}", flush=True)
            print(f"diverged at epoch {epoch}: lr {a.lr} is too large", flush=True)
            return
        print(f"val_loss={loss:.4f}", flush=True)


if __name__ == "__main__":
    main()
