#!/usr/bin/env python3
"""optuna_lifecycle_pg.py URL N PROCS...: Optuna's trial lifecycle on its RDB
storage over PostgreSQL (psycopg2), the peer of bench_lifecycle_pg.

URL is a SQLAlchemy URL of a server where databases may be created
(postgresql+psycopg2://postgres@127.0.0.1:PORT). For each PROCS, a new
database and study; PROCS processes (forked after the study exists, started
together) each run study.ask() + study.tell(trial, 1.0) until N trials are
done in all: ask creates and starts a trial (the claim), tell completes it
(the finish). RandomSampler, so that no sampler work is timed, only storage.
Prints one line per PROCS:
    optuna PROCS RATE
with RATE in trials per second, or "optuna PROCS error MESSAGE".
"""
import multiprocessing as mp
import os
import sys
import time

import optuna
import psycopg2


def admin(base, sql):
    dsn = base.replace("postgresql+psycopg2://", "postgresql://") + "/postgres"
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def worker(url, count, start, failures):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="bench", storage=url,
                              sampler=optuna.samplers.RandomSampler(seed=os.getpid()))
    start.wait()
    try:
        for _ in range(count):
            trial = study.ask()
            study.tell(trial, 1.0)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        failures.put(f"{type(e).__name__}: {e}".splitlines()[0][:200])


def run(base, n, procs):
    db = f"sqoptuna_{os.getpid()}_{procs}"
    admin(base, f"CREATE DATABASE {db}")
    url = f"{base}/{db}"
    try:
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        optuna.create_study(study_name="bench", storage=url)
        ctx = mp.get_context("fork")
        start = ctx.Event()
        failures = ctx.Queue()
        share = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        ps = [ctx.Process(target=worker, args=(url, share[i], start, failures))
              for i in range(procs)]
        for p in ps:
            p.start()
        time.sleep(1.0 + 0.1 * procs)  # let every process load the study
        t0 = time.monotonic()
        start.set()
        for p in ps:
            p.join()
        secs = time.monotonic() - t0
        if not failures.empty():
            return f"optuna {procs} error {failures.get()}"
        done = len(optuna.load_study(study_name="bench", storage=url).get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        if done != n:
            return f"optuna {procs} error finished {done} of {n} trials"
        return f"optuna {procs} {n / secs:.0f}"
    finally:
        admin(base, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    base, n = sys.argv[1], int(sys.argv[2])
    for procs in map(int, sys.argv[3:]):
        print(run(base, n, procs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
