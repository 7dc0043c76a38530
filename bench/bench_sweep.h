/*
 * bench_sweep.h - the sweep the store benchmarks (lifecycle.c,
 * lifecycle_http.c) run: one definition, so their numbers compare.
 */
#ifndef SQ_BENCH_SWEEP_H
#define SQ_BENCH_SWEEP_H

#include "store/store.h"
#include "util/timeutil.h"

#include <stdio.h>

/* Creates the sweep `name` of n trials in st, keys and params shaped as the
 * spec makes them; *seconds: how long store_create_sweep took. Prints the
 * store's message on failure. */
static inline int bench_sweep_create(store *st, const char *name, size_t n, double *seconds)
{
    store_trial_def *t = xcalloc(n, sizeof *t);
    char **strs = xcalloc(2 * n, sizeof *strs);
    for (size_t i = 0; i < n; i++) {
        strs[2 * i] = xasprintf("%016llx", (unsigned long long)(i * 0x9e3779b97f4a7c15ULL));
        strs[2 * i + 1] = xasprintf("{\"lr\":%g,\"seed\":%zu}", 1e-3 * (double)(i % 7 + 1), i);
        t[i] = (store_trial_def){i + 1, strs[2 * i], strs[2 * i + 1]};
    }
    store_sweep_def def = {.name = name,
                           .spec_json = "{\"bench\":true}",
                           .spec_yaml = "name: bench\n",
                           .command_json = "[\"true\"]",
                           .metric_name = "loss",
                           .max_attempts = 3,
                           .lease_ttl = 60,
                           .cpus = 1,
                           .total = n,
                           .trials = t,
                           .ntrials = n};
    int64_t id;
    uint64_t added;
    double t0 = time_mono();
    int rc = store_create_sweep(st, &def, &id, &added);
    *seconds = time_mono() - t0;
    for (size_t i = 0; i < 2 * n; i++)
        free(strs[i]);
    free(strs);
    free(t);
    if (rc < 0)
        fprintf(stderr, "bench: cannot create sweep '%s': %s\n", name, sq_error_msg());
    return rc;
}

#endif
