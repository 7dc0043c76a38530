#!/usr/bin/env python3
"""optuna_search.py: Optuna's TPE on bench_search's test functions, the peer
of `bench_search` (bench/search.c holds the same functions and spaces).

    optuna_search.py quality TRIALS SEEDS
        For each function and seed 0..SEEDS-1, study.optimize with TRIALS
        trials, one at a time, with TPESampler(seed=SEED) as this Optuna
        defaults it ("optuna") and with multivariate=True,
        constant_liar=True, Optuna v5's defaults ("optuna-mv"). Prints
            FUNCTION METHOD SEED BEST
    optuna_search.py timing N REPS
        CPU time of study.ask() with every parameter's distribution given
        (so the sampler proposes them all), with N finished random trials
        in an in-memory study, REPS times, each asked trial then told as
        failed so that it is not a running trial for the next ask. Prints
            FUNCTION N MICROSECONDS_PER_ASK METHOD
"""
import math
import sys
import time
import warnings

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
     [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
     [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
     [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
     [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(p):
    x = [p[f"x{j + 1}"] for j in range(6)]
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6)))
                for i in range(4))


def rosenbrock4(p):
    x = [p[f"x{j + 1}"] for j in range(4)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3))


def mixed(p):
    opt = p["optimizer"]
    best_lr = {"adam": -3, "rmsprop": -2.5, "sgd": -1.5}[opt]
    pen = {"adam": 0, "rmsprop": 0.3, "sgd": 1.0}[opt]
    dl = math.log10(p["lr"]) - best_lr
    layers = p["layers"] - 4
    width = math.log2(p["width"]) - 7
    drop = p["dropout"] - 0.2
    return dl * dl + pen + layers * layers / 4 + width * width / 4 + 5 * drop * drop


def floats(names, low, high):
    return {n: FloatDistribution(low, high) for n in names}


PROBLEMS = {
    "branin": (branin, {"x1": FloatDistribution(-5, 10), "x2": FloatDistribution(0, 15)}),
    "hartmann6": (hartmann6, floats([f"x{j + 1}" for j in range(6)], 0, 1)),
    "rosenbrock4": (rosenbrock4, floats([f"x{j + 1}" for j in range(4)], -5, 10)),
    "mixed": (mixed, {
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "optimizer": CategoricalDistribution(["sgd", "adam", "rmsprop"]),
        "layers": IntDistribution(1, 8),
        "width": IntDistribution(16, 512, log=True),
        "dropout": FloatDistribution(0, 0.5),
    }),
}

SAMPLERS = {
    "optuna": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "optuna-mv": lambda seed: optuna.samplers.TPESampler(
        seed=seed, multivariate=True, constant_liar=True),
}


def suggest(trial, dists):
    return {name: trial._suggest(name, d) for name, d in dists.items()}


def quality(trials, seeds):
    for name, (f, dists) in PROBLEMS.items():
        for seed in range(seeds):
            for method, make in SAMPLERS.items():
                study = optuna.create_study(sampler=make(seed))
                study.optimize(lambda t: f(suggest(t, dists)), n_trials=trials)
                print(f"{name} {method} {seed} {study.best_value:.10g}", flush=True)


def timing(n, reps):
    for name in ("hartmann6", "mixed"):
        f, dists = PROBLEMS[name]
        for method, make in SAMPLERS.items():
            study = optuna.create_study(sampler=make(0))
            rnd = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
            for _ in range(n):
                t = rnd.ask(dists)
                study.add_trial(optuna.trial.create_trial(
                    params=t.params, distributions=dists, value=f(t.params)))
                rnd.tell(t, state=optuna.trial.TrialState.FAIL)
            spent = 0.0
            for _ in range(reps):
                t0 = time.process_time()
                trial = study.ask(dists)
                spent += time.process_time() - t0
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            print(f"{name} {n} {spent / reps * 1e6:.1f} {method}", flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "quality":
        quality(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "timing":
        timing(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: optuna_search.py quality TRIALS SEEDS | timing N REPS")


if __name__ == "__main__":
    main()
