/*
 * bench/expand.c - how fast a grid becomes commands: expands every trial of
 * a 100 x 100 x 100 grid (1,000,000 trials: a float, an int and a string
 * parameter) into its parameters (spec_trial_params) and its argv
 * (spec_build_command with the default W&B command), and prints one line:
 *
 *   expand: 1000000 trials in 0.84 s: 1190000 trials/s (keys: 0.61 s)
 *
 * "keys" times spec_params_key over the same trials (what registering a
 * sweep adds). The spec is built here, as the loader would build it, so the
 * benchmark measures expansion alone. Usage: bench_expand [TRIALS_PER_SIDE]
 */
#include "util/common.h"

#include "spec/spec.h"
#include "util/timeutil.h"

int main(int argc, char **argv)
{
    int side = argc > 1 ? atoi(argv[1]) : 100;
    if (side < 1 || side > 1000) {
        fprintf(stderr, "usage: bench_expand [TRIALS_PER_SIDE (1..1000)]\n");
        return 2;
    }
    json_t *lr = json_array(), *batch = json_array(), *opt = json_array();
    for (int i = 0; i < side; i++) {
        json_array_append_new(lr, json_real(1e-5 * (i + 1)));
        json_array_append_new(batch, json_integer(8 * (i + 1)));
        char name[32];
        snprintf(name, sizeof name, "opt%d", i);
        json_array_append_new(opt, json_string(name));
    }
    spec_param params[3] = {
        {.name = "lr", .dist = SPEC_DIST_CATEGORICAL, .values = lr, .group = -1},
        {.name = "batch_size", .dist = SPEC_DIST_CATEGORICAL, .values = batch, .group = -1},
        {.name = "optimizer", .dist = SPEC_DIST_CATEGORICAL, .values = opt, .group = -1},
    };
    spec s = {.name = "bench",
              .program = "train.py",
              .method = SPEC_METHOD_GRID,
              .params = params,
              .nparams = 3,
              .grid_cap = 10000000};
    uint64_t n = spec_trial_count(&s);

    /* Expansion: params and argv of every trial. */
    size_t argv_bytes = 0;
    double t0 = time_mono();
    for (uint64_t i = 1; i <= n; i++) {
        json_t *p = NULL;
        if (spec_trial_params(&s, i, &p)) {
            fprintf(stderr, "bench_expand: %s\n", sq_error_msg());
            return 1;
        }
        spec_command_ctx ctx = {"bench", i, "/p/.sweepq/sweeps/bench/trials/1", NULL, NULL};
        spec_command c;
        if (spec_build_command(&s, p, &ctx, &c)) {
            fprintf(stderr, "bench_expand: %s\n", sq_error_msg());
            return 1;
        }
        argv_bytes += strlen(c.argv[c.argc - 1]); /* keep the work observable */
        spec_command_release(&c);
        json_decref(p);
    }
    double expand = time_mono() - t0;

    /* Keys: canonical JSON and SHA-256 of every trial's params. */
    size_t key_bytes = 0;
    t0 = time_mono();
    for (uint64_t i = 1; i <= n; i++) {
        json_t *p = NULL;
        spec_trial_params(&s, i, &p);
        char *key = spec_params_key(p);
        key_bytes += key[0] == '0';
        free(key);
        json_decref(p);
    }
    double keys = time_mono() - t0;

    printf("expand: %llu trials in %.2f s: %.0f trials/s (keys: %.2f s) [%zu %zu]\n",
           (unsigned long long)n, expand, (double)n / expand, keys, argv_bytes, key_bytes);
    json_decref(lr);
    json_decref(batch);
    json_decref(opt);
    return 0;
}
