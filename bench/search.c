/*
 * search.c - the search module on standard test functions (bench/search.sh
 * drives it beside Optuna).
 *
 *   bench_search quality TRIALS SEEDS
 *       For each function (Branin, Hartmann-6, Rosenbrock-4, a mixed space
 *       with a log-scale float, a category, an integer and a log-scale
 *       integer) and each seed 0..SEEDS-1, a bayes sweep of TRIALS trials
 *       run as 4 agents would (-j 4): proposals come in batches of 4, each
 *       made with the batch's earlier proposals in the history as running
 *       trials (the constant liar), then the 4 are scored; and a random
 *       sweep of the same spec and seed. Prints one line per run:
 *           FUNCTION METHOD SEED BEST
 *       METHOD is tpe-j4, tpe-j1 (one agent: each proposal sees every
 *       result before it) or random.
 *   bench_search timing N REPS
 *       search_propose with N finished random trials in the history, REPS
 *       times (other trial numbers), for Hartmann-6 and the mixed space.
 *       Prints: FUNCTION N MICROSECONDS_PER_PROPOSAL
 *
 * The functions and their spaces are the same as bench/optuna_search.py's;
 * every value is computed from the params JSON as a trial would see it.
 */
#include "util/common.h"

#include "search/search.h"
#include "spec/spec.h"

#include <math.h>
#include <time.h>

typedef struct problem {
    const char *name;
    const char *params_yaml; /* the parameters: block */
    double (*f)(const json_t *p);
    double fmin; /* the global minimum */
} problem;

static double get(const json_t *p, const char *name)
{
    return json_number_value(json_object_get(p, name));
}

static double branin(const json_t *p)
{
    double x1 = get(p, "x1"), x2 = get(p, "x2");
    double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
    double u = x2 - b * x1 * x1 + c * x1 - 6;
    return u * u + 10 * (1 - t) * cos(x1) + 10;
}

static double hartmann6(const json_t *p)
{
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                   {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                   {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                   {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    static const char *const names[6] = {"x1", "x2", "x3", "x4", "x5", "x6"};
    double sum = 0;
    for (int i = 0; i < 4; i++) {
        double in = 0;
        for (int j = 0; j < 6; j++) {
            double d = get(p, names[j]) - P[i][j];
            in += A[i][j] * d * d;
        }
        sum += alpha[i] * exp(-in);
    }
    return -sum;
}

static double rosenbrock4(const json_t *p)
{
    static const char *const names[4] = {"x1", "x2", "x3", "x4"};
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        double a = get(p, names[i]), b = get(p, names[i + 1]);
        sum += 100 * (b - a * a) * (b - a * a) + (1 - a) * (1 - a);
    }
    return sum;
}

/* A made-up training loss: the best learning rate depends on the optimizer,
 * depth and width have a best value, dropout a best value; 0 at the best. */
static double mixed(const json_t *p)
{
    const char *opt = json_string_value(json_object_get(p, "optimizer"));
    double best_lr = !strcmp(opt, "adam") ? -3 : !strcmp(opt, "rmsprop") ? -2.5 : -1.5;
    double pen = !strcmp(opt, "adam") ? 0 : !strcmp(opt, "rmsprop") ? 0.3 : 1.0;
    double dl = log10(get(p, "lr")) - best_lr;
    double layers = get(p, "layers") - 4;
    double width = log2(get(p, "width")) - 7;
    double drop = get(p, "dropout") - 0.2;
    return dl * dl + pen + layers * layers / 4 + width * width / 4 + 5 * drop * drop;
}

static const problem problems[] = {
    {"branin", "  x1: {min: -5.0, max: 10.0}\n  x2: {min: 0.0, max: 15.0}\n", branin,
     0.39788735772973816},
    {"hartmann6",
     "  x1: {min: 0.0, max: 1.0}\n  x2: {min: 0.0, max: 1.0}\n  x3: {min: 0.0, max: 1.0}\n"
     "  x4: {min: 0.0, max: 1.0}\n  x5: {min: 0.0, max: 1.0}\n  x6: {min: 0.0, max: 1.0}\n",
     hartmann6, -3.3223680114155147},
    {"rosenbrock4",
     "  x1: {min: -5.0, max: 10.0}\n  x2: {min: -5.0, max: 10.0}\n"
     "  x3: {min: -5.0, max: 10.0}\n  x4: {min: -5.0, max: 10.0}\n",
     rosenbrock4, 0},
    {"mixed",
     "  lr: {distribution: log_uniform_values, min: 0.00001, max: 0.1}\n"
     "  optimizer: {values: [sgd, adam, rmsprop]}\n"
     "  layers: {distribution: int_uniform, min: 1, max: 8}\n"
     "  width: {distribution: q_log_uniform_values, min: 16, max: 512, q: 1}\n"
     "  dropout: {min: 0.0, max: 0.5}\n",
     mixed, 0},
};

static spec *load(const problem *pb, uint64_t seed)
{
    char *yaml = xasprintf("method: bayes\nprogram: t.py\nseed: %llu\n"
                           "metric: {name: loss, goal: minimize}\nparameters:\n%s",
                           (unsigned long long)seed, pb->params_yaml);
    spec *s = NULL;
    spec_diags d = SPEC_DIAGS_INIT;
    if (spec_load_string(&s, yaml, strlen(yaml), pb->name, NULL, &d)) {
        char *m = spec_diag_format(&d.items[0]);
        fprintf(stderr, "bench_search: %s\n", m);
        exit(1);
    }
    spec_diags_release(&d);
    free(yaml);
    return s;
}

static void release_history(search_obs *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref((json_t *)h[i].params);
    free(h);
}

static json_t *must_propose(const spec *s, const search_obs *h, size_t n, uint64_t number)
{
    json_t *p = NULL;
    if (search_propose(s, h, n, number, &p)) {
        fprintf(stderr, "bench_search: %s\n", sq_error_msg());
        exit(1);
    }
    return p;
}

/* A -j J sweep: batches of J, the batch's earlier proposals running. */
static double run_tpe(const problem *pb, const spec *s, uint64_t trials, uint64_t j)
{
    search_obs *h = xcalloc(trials, sizeof *h);
    double best = INFINITY;
    for (uint64_t start = 0; start < trials; start += j) {
        uint64_t end = start + j < trials ? start + j : trials;
        for (uint64_t i = start; i < end; i++) {
            h[i].params = must_propose(s, h, i, i + 1);
            h[i].state = SEARCH_RUNNING;
            h[i].value = NAN;
        }
        for (uint64_t i = start; i < end; i++) {
            h[i].value = pb->f(h[i].params);
            h[i].state = SEARCH_COMPLETE;
            best = fmin(best, h[i].value);
        }
    }
    release_history(h, trials);
    return best;
}

static double run_random(const problem *pb, const spec *s, uint64_t trials)
{
    double best = INFINITY;
    for (uint64_t i = 1; i <= trials; i++) {
        json_t *p = NULL;
        if (spec_trial_params(s, i, &p))
            exit(1);
        best = fmin(best, pb->f(p));
        json_decref(p);
    }
    return best;
}

static void quality(uint64_t trials, uint64_t seeds)
{
    for (size_t k = 0; k < ARRAY_SIZE(problems); k++) {
        for (uint64_t seed = 0; seed < seeds; seed++) {
            spec *s = load(&problems[k], seed);
            printf("%s tpe-j4 %llu %.10g\n", problems[k].name, (unsigned long long)seed,
                   run_tpe(&problems[k], s, trials, 4));
            printf("%s tpe-j1 %llu %.10g\n", problems[k].name, (unsigned long long)seed,
                   run_tpe(&problems[k], s, trials, 1));
            printf("%s random %llu %.10g\n", problems[k].name, (unsigned long long)seed,
                   run_random(&problems[k], s, trials));
            fflush(stdout);
            spec_free(s);
        }
    }
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void timing(uint64_t n, uint64_t reps)
{
    static const size_t timed[] = {1, 3}; /* hartmann6, mixed */
    for (size_t t = 0; t < ARRAY_SIZE(timed); t++) {
        const problem *pb = &problems[timed[t]];
        spec *s = load(pb, 0);
        search_obs *h = xcalloc(n, sizeof *h);
        for (uint64_t i = 0; i < n; i++) {
            json_t *p = NULL;
            if (spec_trial_params(s, i + 1, &p))
                exit(1);
            h[i] = (search_obs){p, SEARCH_COMPLETE, pb->f(p), 0};
        }
        double t0 = now_us();
        for (uint64_t r = 0; r < reps; r++)
            json_decref(must_propose(s, h, n, n + 1 + r));
        printf("%s %llu %.1f\n", pb->name, (unsigned long long)n, (now_us() - t0) / (double)reps);
        release_history(h, n);
        spec_free(s);
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "quality")) {
        quality(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "timing")) {
        timing(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
        return 0;
    }
    fprintf(stderr, "usage: bench_search quality TRIALS SEEDS | timing N REPS\n");
    return 2;
}
