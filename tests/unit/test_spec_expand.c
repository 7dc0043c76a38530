/*
 * test_spec_expand.c - trials from a spec: grid order, paired groups, counts
 * and overflow, random determinism, every distribution's range and shape,
 * canonical JSON and keys. Specs are built by hand, as the loader would.
 */
#include "util/common.h"

#include "spec/spec.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

/* ---- building specs ------------------------------------------------------ */

static spec_param categorical(const char *name, const char *values_json)
{
    spec_param p = {0};
    p.name = (char *)name;
    p.dist = SPEC_DIST_CATEGORICAL;
    p.values = json_loads(values_json, JSON_DECODE_ANY, NULL);
    assert_non_null(p.values);
    p.group = -1;
    return p;
}

static spec_param constant(const char *name, const char *value_json)
{
    spec_param p = {0};
    p.name = (char *)name;
    p.dist = SPEC_DIST_CONSTANT;
    p.values = json_array();
    json_array_append_new(p.values, json_loads(value_json, JSON_DECODE_ANY, NULL));
    p.group = -1;
    return p;
}

static spec_param ranged(const char *name, spec_dist d, double min, double max, double q)
{
    spec_param p = {0};
    p.name = (char *)name;
    p.dist = d;
    p.min = min;
    p.max = max;
    p.q = q;
    p.mu = 0;
    p.sigma = 1;
    /* As the loader sets it: int_uniform, or a q distribution with q written
     * as an integer (here: whenever q is whole, and for a grid's q_uniform
     * min and max whole too). */
    bool q_dist = d == SPEC_DIST_Q_UNIFORM || d == SPEC_DIST_Q_LOG_UNIFORM ||
                  d == SPEC_DIST_Q_LOG_UNIFORM_VALUES || d == SPEC_DIST_Q_NORMAL ||
                  d == SPEC_DIST_Q_LOG_NORMAL;
    bool whole_ends = d != SPEC_DIST_Q_UNIFORM || (min == trunc(min) && max == trunc(max));
    p.int_valued = d == SPEC_DIST_INT_UNIFORM || (q_dist && q == trunc(q) && whole_ends);
    p.group = -1;
    return p;
}

static spec make_spec(spec_method m, spec_param *params, size_t n)
{
    spec s = {0};
    s.name = "t";
    s.method = m;
    s.params = params;
    s.nparams = n;
    s.grid_cap = 10000000;
    return s;
}

static void release_params(spec_param *params, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(params[i].values);
}

/* The compact JSON text of trial number of s. */
static char *trial_text(const spec *s, uint64_t number)
{
    json_t *p = NULL;
    assert_int_equal(spec_trial_params(s, number, &p), 0);
    char *t = spec_json_compact(p, false);
    json_decref(p);
    return t;
}

static void assert_trial(const spec *s, uint64_t number, const char *want)
{
    char *got = trial_text(s, number);
    assert_string_equal(got, want);
    free(got);
}

/* ---- grid ---------------------------------------------------------------- */

/* beta: the quantile of x (scipy.stats.beta.ppf); its draws lie in [0, 1]
 * and average a / (a + b); a zero shape puts everything at one end;
 * q_beta rounds to multiples of q. 4000 draws of a fixed seed: exact and
 * repeatable, not a flaky statistical test. */
static void test_beta_draws_follow_the_beta_distribution(void **state)
{
    spec_param ps[] = {ranged("x", SPEC_DIST_BETA, 0, 0, 1), ranged("y", SPEC_DIST_BETA, 0, 0, 1),
                       ranged("z", SPEC_DIST_Q_BETA, 0, 0, 0.25)};
    ps[0].a = 2, ps[0].b = 5;
    ps[1].a = 0, ps[1].b = 3;
    ps[2].a = 1, ps[2].b = 1;
    spec s = make_spec(SPEC_METHOD_RANDOM, ps, 3);
    double sum = 0;
    for (uint64_t n = 1; n <= 4000; n++) {
        json_t *t;
        assert_int_equal(spec_trial_params(&s, n, &t), 0);
        double x = json_real_value(json_object_get(t, "x"));
        assert_true(x >= 0 && x <= 1);
        sum += x;
        assert_true(json_real_value(json_object_get(t, "y")) == 0);
        double z = json_real_value(json_object_get(t, "z"));
        assert_true(z == 0 || z == 0.25 || z == 0.5 || z == 0.75 || z == 1);
        json_decref(t);
    }
    assert_true(fabs(sum / 4000 - 2.0 / 7.0) < 0.01);
    release_params(ps, 3);
}

static void test_grid_walks_parameters_in_written_order_last_fastest(void **state)
{
    spec_param ps[] = {categorical("a", "[1, 2]"), categorical("b", "[\"x\", \"y\", \"z\"]")};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 2);
    assert_int_equal(spec_trial_count(&s), 6);
    assert_false(spec_is_open_ended(&s));
    assert_trial(&s, 1, "{\"a\":1,\"b\":\"x\"}");
    assert_trial(&s, 2, "{\"a\":1,\"b\":\"y\"}");
    assert_trial(&s, 3, "{\"a\":1,\"b\":\"z\"}");
    assert_trial(&s, 4, "{\"a\":2,\"b\":\"x\"}");
    assert_trial(&s, 6, "{\"a\":2,\"b\":\"z\"}");
    release_params(ps, 2);
}

static void test_grid_keeps_yaml_values_exactly(void **state)
{
    spec_param ps[] = {categorical("v", "[0.001, 1e-05, true, null, [1, 2], {\"k\": \"v\"}]"),
                       constant("c", "3")};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 2);
    assert_int_equal(spec_trial_count(&s), 6);
    assert_trial(&s, 1, "{\"v\":0.001,\"c\":3}");
    assert_trial(&s, 2, "{\"v\":1e-05,\"c\":3}");
    assert_trial(&s, 3, "{\"v\":true,\"c\":3}");
    assert_trial(&s, 4, "{\"v\":null,\"c\":3}");
    assert_trial(&s, 5, "{\"v\":[1,2],\"c\":3}");
    assert_trial(&s, 6, "{\"v\":{\"k\":\"v\"},\"c\":3}");
    release_params(ps, 2);
}

static void test_grid_enumerates_int_uniform_and_q_uniform_as_wandb(void **state)
{
    /* int_uniform: range(min, max + 1); q_uniform: numpy.arange(min, max, q). */
    spec_param ps[] = {ranged("i", SPEC_DIST_INT_UNIFORM, -1, 1, 1),
                       ranged("q", SPEC_DIST_Q_UNIFORM, 0, 1, 0.25),
                       ranged("n", SPEC_DIST_Q_UNIFORM, 0, 10, 4)};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 3);
    assert_int_equal(spec_trial_count(&s), 3 * 4 * 3);
    assert_trial(&s, 1, "{\"i\":-1,\"q\":0.0,\"n\":0}");
    assert_trial(&s, 2, "{\"i\":-1,\"q\":0.0,\"n\":4}");
    assert_trial(&s, 3, "{\"i\":-1,\"q\":0.0,\"n\":8}");
    assert_trial(&s, 4, "{\"i\":-1,\"q\":0.25,\"n\":0}");
    assert_trial(&s, 12, "{\"i\":-1,\"q\":0.75,\"n\":8}");
    assert_trial(&s, 36, "{\"i\":1,\"q\":0.75,\"n\":8}");
    release_params(ps, 3);
}

static void test_grid_refuses_continuous_distributions(void **state)
{
    spec_param ps[] = {ranged("u", SPEC_DIST_UNIFORM, 0, 1, 0)};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 1);
    uint64_t n = 7;
    assert_int_equal(spec_grid_size(&s, &n), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "'u'"));
    assert_non_null(strstr(sq_error_msg(), "uniform"));
    json_t *p = (json_t *)1;
    assert_int_equal(spec_trial_params(&s, 1, &p), SQ_EINVAL);
    assert_null(p);
}

static void test_paired_groups_zip_after_grid_parameters(void **state)
{
    /* seed 003: grid seed x hidden, paired (model.name, data.augmentation). */
    spec_param ps[] = {categorical("seed", "[1, 2]"),
                       categorical("model.name", "[\"cnn\", \"mlp\"]"),
                       categorical("hidden", "[128, 256]"),
                       categorical("data.augmentation", "[\"basic\", \"none\"]")};
    ps[1].group = 0;
    ps[3].group = 0;
    spec_group groups[] = {{"model_and_data", 2}};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 4);
    s.groups = groups;
    s.ngroups = 1;
    assert_int_equal(spec_trial_count(&s), 2 * 2 * 2);
    /* The group is the last digit; keys stay in parameter order. */
    assert_trial(
        &s, 1,
        "{\"seed\":1,\"model.name\":\"cnn\",\"hidden\":128,\"data.augmentation\":\"basic\"}");
    assert_trial(
        &s, 2, "{\"seed\":1,\"model.name\":\"mlp\",\"hidden\":128,\"data.augmentation\":\"none\"}");
    assert_trial(
        &s, 3,
        "{\"seed\":1,\"model.name\":\"cnn\",\"hidden\":256,\"data.augmentation\":\"basic\"}");
    assert_trial(
        &s, 8, "{\"seed\":2,\"model.name\":\"mlp\",\"hidden\":256,\"data.augmentation\":\"none\"}");
    release_params(ps, 4);
}

static void test_two_paired_groups_multiply(void **state)
{
    spec_param ps[] = {categorical("a", "[1, 2, 3]"), categorical("b", "[4, 5, 6]"),
                       categorical("c", "[\"x\", \"y\"]")};
    ps[0].group = 0;
    ps[1].group = 0;
    ps[2].group = 1;
    spec_group groups[] = {{"ab", 3}, {"c", 2}};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 3);
    s.groups = groups;
    s.ngroups = 2;
    assert_int_equal(spec_trial_count(&s), 6);
    assert_trial(&s, 1, "{\"a\":1,\"b\":4,\"c\":\"x\"}");
    assert_trial(&s, 2, "{\"a\":1,\"b\":4,\"c\":\"y\"}");
    assert_trial(&s, 3, "{\"a\":2,\"b\":5,\"c\":\"x\"}");
    assert_trial(&s, 6, "{\"a\":3,\"b\":6,\"c\":\"y\"}");
    release_params(ps, 3);
}

static void test_grid_size_overflow_is_refused_not_wrapped(void **state)
{
    /* 65537^4 > 2^64, while each factor and the first products fit. */
    spec_param ps[4];
    for (int i = 0; i < 4; i++)
        ps[i] = ranged(i == 0   ? "a"
                       : i == 1 ? "b"
                       : i == 2 ? "c"
                                : "d",
                       SPEC_DIST_INT_UNIFORM, 0, 65536, 1);
    spec s = make_spec(SPEC_METHOD_GRID, ps, 4);
    uint64_t n = 0;
    assert_int_equal(spec_grid_size(&s, &n), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "'d'"));
    assert_int_equal(spec_trial_count(&s), SPEC_UNBOUNDED);
    json_t *p = NULL;
    assert_int_equal(spec_trial_params(&s, 1, &p), SQ_EINVAL);
    assert_null(p);
    /* Three of them fit: 65537^3. */
    s.nparams = 3;
    assert_int_equal(spec_grid_size(&s, &n), 0);
    assert_true(n == 65537ULL * 65537ULL * 65537ULL);
    assert_trial(&s, n, "{\"a\":65536,\"b\":65536,\"c\":65536}");
}

static void test_grid_huge_int_range_is_refused(void **state)
{
    spec_param ps[] = {ranged("big", SPEC_DIST_INT_UNIFORM, -9e18, 9e18, 1)};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 1);
    uint64_t n;
    assert_int_equal(spec_grid_size(&s, &n), SQ_EINVAL);
}

static void test_run_cap_caps_a_grid(void **state)
{
    spec_param ps[] = {categorical("a", "[1, 2, 3, 4]")};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 1);
    s.run_cap = 3;
    assert_int_equal(spec_trial_count(&s), 3);
    s.run_cap = 10;
    assert_int_equal(spec_trial_count(&s), 4);
    release_params(ps, 1);
}

static void test_trial_numbers_out_of_range_are_refused(void **state)
{
    spec_param ps[] = {categorical("a", "[1, 2]")};
    spec s = make_spec(SPEC_METHOD_GRID, ps, 1);
    json_t *p = NULL;
    assert_int_equal(spec_trial_params(&s, 0, &p), SQ_EINVAL);
    assert_int_equal(spec_trial_params(&s, 3, &p), SQ_EINVAL);
    assert_null(p);
    assert_non_null(strstr(sq_error_msg(), "trial 3 is out of range"));
    release_params(ps, 1);
}

/* ---- random ------------------------------------------------------------- */

static void test_random_counts_and_open_ended(void **state)
{
    spec_param ps[] = {ranged("lr", SPEC_DIST_LOG_UNIFORM_VALUES, 1e-5, 1e-1, 1)};
    spec s = make_spec(SPEC_METHOD_RANDOM, ps, 1);
    assert_int_equal(spec_trial_count(&s), SPEC_UNBOUNDED);
    assert_true(spec_is_open_ended(&s));
    json_t *p = NULL;
    assert_int_equal(spec_trial_params(&s, 123456789012ULL, &p), 0);
    json_decref(p);
    s.run_cap = 20;
    assert_int_equal(spec_trial_count(&s), 20);
    assert_false(spec_is_open_ended(&s));
    assert_int_equal(spec_trial_params(&s, 21, &p), SQ_EINVAL);
}

static void test_random_trial_is_a_pure_function_of_seed_and_number(void **state)
{
    spec_param ps[] = {ranged("lr", SPEC_DIST_LOG_UNIFORM_VALUES, 1e-5, 1e-1, 1),
                       categorical("opt", "[\"adam\", \"sgd\", \"adamw\"]"),
                       ranged("layers", SPEC_DIST_INT_UNIFORM, 1, 8, 1),
                       ranged("noise", SPEC_DIST_NORMAL, 0, 0, 1)};
    spec s = make_spec(SPEC_METHOD_RANDOM, ps, 4);
    s.seed = 42;
    /* Trial 7 alone, then 1..10 in order, then 10..1: always the same text. */
    char *alone = trial_text(&s, 7);
    char *forward[11], *backward[11];
    for (int n = 1; n <= 10; n++)
        forward[n] = trial_text(&s, (uint64_t)n);
    for (int n = 10; n >= 1; n--)
        backward[n] = trial_text(&s, (uint64_t)n);
    assert_string_equal(alone, forward[7]);
    int distinct = 0;
    for (int n = 1; n <= 10; n++) {
        assert_string_equal(forward[n], backward[n]);
        distinct += n > 1 && strcmp(forward[n], forward[n - 1]) != 0;
    }
    assert_int_equal(distinct, 9);
    /* Another seed gives other trials. */
    s.seed = 43;
    char *other = trial_text(&s, 7);
    assert_string_not_equal(other, alone);
    /* Adding a parameter after the others leaves their draws unchanged. */
    s.seed = 42;
    spec_param more[5] = {ps[0], ps[1], ps[2], ps[3], constant("extra", "1")};
    s.params = more;
    s.nparams = 5;
    json_t *a = NULL, *b = NULL;
    assert_int_equal(spec_trial_params(&s, 7, &b), 0);
    json_t *lr_b = json_object_get(b, "lr");
    s.params = ps;
    s.nparams = 4;
    assert_int_equal(spec_trial_params(&s, 7, &a), 0);
    assert_true(json_equal(json_object_get(a, "lr"), lr_b));
    json_decref(a);
    json_decref(b);
    json_decref(more[4].values);
    free(alone);
    free(other);
    for (int n = 1; n <= 10; n++) {
        free(forward[n]);
        free(backward[n]);
    }
    release_params(ps, 4);
}

/* Draws n values of the single parameter p (seed fixed) into out. */
static void draw(spec_param *p, double *out, int n, bool *all_int)
{
    spec s = make_spec(SPEC_METHOD_RANDOM, p, 1);
    s.seed = 7;
    *all_int = true;
    for (int i = 0; i < n; i++) {
        json_t *params = NULL;
        assert_int_equal(spec_trial_params(&s, (uint64_t)i + 1, &params), 0);
        json_t *v = json_object_get(params, p->name);
        assert_true(json_is_number(v));
        *all_int = *all_int && json_is_integer(v);
        out[i] = json_number_value(v);
        json_decref(params);
    }
}

enum { DRAWS = 10000 };

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s / n;
}

static double stddev(const double *v, int n)
{
    double m = mean(v, n), s = 0;
    for (int i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (n - 1));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void assert_all_between(const double *v, int n, double lo, double hi)
{
    for (int i = 0; i < n; i++) {
        if (!(v[i] >= lo && v[i] <= hi))
            fail_msg("draw %d = %.17g is outside [%.17g, %.17g]", i, v[i], lo, hi);
    }
}

static void assert_multiples_of(const double *v, int n, double q)
{
    for (int i = 0; i < n; i++) {
        double k = v[i] / q;
        if (fabs(k - rint(k)) > 1e-9)
            fail_msg("draw %d = %.17g is not a multiple of %g", i, v[i], q);
    }
}

static double *draws;

static void test_uniform_is_uniform_in_min_max(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_UNIFORM, -2, 6, 1);
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_false(ints);
    assert_all_between(draws, DRAWS, -2, 6);
    assert_true(fabs(mean(draws, DRAWS) - 2) < 0.1);
    assert_true(fabs(stddev(draws, DRAWS) - 8 / sqrt(12)) < 0.1);
}

static void test_int_uniform_includes_both_ends(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_INT_UNIFORM, 3, 7, 1);
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_true(ints);
    assert_all_between(draws, DRAWS, 3, 7);
    int seen[5] = {0};
    for (int i = 0; i < DRAWS; i++)
        seen[(int)draws[i] - 3]++;
    for (int k = 0; k < 5; k++)
        assert_true(seen[k] > DRAWS / 5 * 0.85 && seen[k] < DRAWS / 5 * 1.15);
}

static void test_q_uniform_rounds_to_multiples_of_q(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_Q_UNIFORM, 0, 1, 0.25);
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_false(ints);
    assert_all_between(draws, DRAWS, 0, 1);
    assert_multiples_of(draws, DRAWS, 0.25);
    /* round(X / q) q: the ends get half the weight of the inner values. */
    int ends = 0;
    for (int i = 0; i < DRAWS; i++)
        ends += draws[i] == 0 || draws[i] == 1;
    assert_true(ends > DRAWS * 0.2 && ends < DRAWS * 0.3);
    /* q written as an integer gives integers, as W&B does for an int q. */
    p = ranged("x", SPEC_DIST_Q_UNIFORM, 0, 100, 10);
    draw(&p, draws, DRAWS, &ints);
    assert_true(ints);
    assert_multiples_of(draws, DRAWS, 10);
    assert_all_between(draws, DRAWS, 0, 100);
    /* q = 1.0 (W&B's default q is 1.0) gives reals that are whole. */
    p.q = 1;
    p.int_valued = false;
    draw(&p, draws, DRAWS, &ints);
    assert_false(ints);
    assert_multiples_of(draws, DRAWS, 1);
}

static void test_log_uniform_takes_bounds_as_logs(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_LOG_UNIFORM, -4, 0, 1);
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_all_between(draws, DRAWS, exp(-4), 1);
    for (int i = 0; i < DRAWS; i++)
        draws[i] = log(draws[i]);
    assert_true(fabs(mean(draws, DRAWS) + 2) < 0.1);
}

static void test_log_uniform_values_takes_bounds_as_values(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_LOG_UNIFORM_VALUES, 1e-5, 1e-1, 1);
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_false(ints);
    assert_all_between(draws, DRAWS, 1e-5, 1e-1);
    /* log10 uniform in [-5, -1]: the median is near 1e-3. */
    double m = median(draws, DRAWS);
    assert_true(m > 1e-3 / 1.3 && m < 1e-3 * 1.3);
    int below_1e4 = 0;
    for (int i = 0; i < DRAWS; i++)
        below_1e4 += draws[i] < 1e-4;
    assert_true(below_1e4 > DRAWS * 0.22 && below_1e4 < DRAWS * 0.28);
}

static void test_q_log_uniform_variants_are_quantized(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_Q_LOG_UNIFORM, 0, log(1000), 5);
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_true(ints);
    assert_multiples_of(draws, DRAWS, 5);
    assert_all_between(draws, DRAWS, 0, 1000);
    p = ranged("x", SPEC_DIST_Q_LOG_UNIFORM_VALUES, 1, 1000, 0.5);
    draw(&p, draws, DRAWS, &ints);
    assert_false(ints);
    assert_multiples_of(draws, DRAWS, 0.5);
    assert_all_between(draws, DRAWS, 1, 1000);
    double m = median(draws, DRAWS);
    assert_true(m > 31.6 / 1.3 && m < 31.6 * 1.3);
}

static void test_inv_log_uniform_variants(void **state)
{
    /* inv_log_uniform: log(1/X) uniform in [min, max]. */
    spec_param p = ranged("x", SPEC_DIST_INV_LOG_UNIFORM, 1, 5, 1);
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_all_between(draws, DRAWS, exp(-5), exp(-1));
    for (int i = 0; i < DRAWS; i++)
        draws[i] = log(1 / draws[i]);
    assert_true(fabs(mean(draws, DRAWS) - 3) < 0.1);
    /* inv_log_uniform_values: log(1/X) uniform in [log(1/max), log(1/min)]. */
    p = ranged("x", SPEC_DIST_INV_LOG_UNIFORM_VALUES, 1e-4, 1, 1);
    draw(&p, draws, DRAWS, &ints);
    assert_all_between(draws, DRAWS, 1e-4, 1);
    double m = median(draws, DRAWS);
    assert_true(m > 1e-2 / 1.3 && m < 1e-2 * 1.3);
}

static void test_normal_family_has_its_mean_and_sigma(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_NORMAL, 0, 0, 1);
    p.mu = 10;
    p.sigma = 2;
    bool ints;
    draw(&p, draws, DRAWS, &ints);
    assert_false(ints);
    assert_true(fabs(mean(draws, DRAWS) - 10) < 0.1);
    assert_true(fabs(stddev(draws, DRAWS) - 2) < 0.1);
    int within = 0;
    for (int i = 0; i < DRAWS; i++)
        within += fabs(draws[i] - 10) < 2;
    assert_true(within > DRAWS * 0.66 && within < DRAWS * 0.70); /* 68.3% */

    p = ranged("x", SPEC_DIST_Q_NORMAL, 0, 0, 1);
    p.mu = 0;
    p.sigma = 5;
    draw(&p, draws, DRAWS, &ints);
    assert_true(ints);
    assert_true(fabs(mean(draws, DRAWS)) < 0.2);

    p = ranged("x", SPEC_DIST_LOG_NORMAL, 0, 0, 1);
    p.mu = 1;
    p.sigma = 0.5;
    draw(&p, draws, DRAWS, &ints);
    assert_all_between(draws, DRAWS, 0, INFINITY);
    double m = median(draws, DRAWS);
    assert_true(fabs(m - exp(1)) < 0.1);

    p = ranged("x", SPEC_DIST_Q_LOG_NORMAL, 0, 0, 0.5);
    p.mu = 2;
    p.sigma = 0.3;
    draw(&p, draws, DRAWS, &ints);
    assert_false(ints);
    assert_multiples_of(draws, DRAWS, 0.5);
    assert_all_between(draws, DRAWS, 0, INFINITY);
}

static void test_categorical_draws_follow_probabilities(void **state)
{
    spec_param p = categorical("opt", "[\"a\", \"b\", \"c\"]");
    double probs[] = {0.2, 0.0, 0.8};
    p.probabilities = probs;
    spec s = make_spec(SPEC_METHOD_RANDOM, &p, 1);
    int seen[3] = {0};
    for (int i = 1; i <= DRAWS; i++) {
        json_t *params = NULL;
        assert_int_equal(spec_trial_params(&s, (uint64_t)i, &params), 0);
        seen[json_string_value(json_object_get(params, "opt"))[0] - 'a']++;
        json_decref(params);
    }
    assert_int_equal(seen[1], 0);
    assert_true(seen[0] > DRAWS * 0.18 && seen[0] < DRAWS * 0.22);
    /* Without probabilities each value is as likely. */
    p.probabilities = NULL;
    memset(seen, 0, sizeof seen);
    for (int i = 1; i <= DRAWS; i++) {
        json_t *params = NULL;
        assert_int_equal(spec_trial_params(&s, (uint64_t)i, &params), 0);
        seen[json_string_value(json_object_get(params, "opt"))[0] - 'a']++;
        json_decref(params);
    }
    for (int k = 0; k < 3; k++)
        assert_true(seen[k] > DRAWS / 3 * 0.9 && seen[k] < DRAWS / 3 * 1.1);
    json_decref(p.values);
}

static void test_random_paired_group_draws_one_index(void **state)
{
    spec_param ps[] = {categorical("m", "[\"cnn\", \"mlp\", \"rnn\"]"),
                       categorical("d", "[\"cnn-data\", \"mlp-data\", \"rnn-data\"]"),
                       constant("c", "\"k\"")};
    ps[0].group = 0;
    ps[1].group = 0;
    spec_group g[] = {{"md", 3}};
    spec s = make_spec(SPEC_METHOD_RANDOM, ps, 3);
    s.groups = g;
    s.ngroups = 1;
    for (uint64_t n = 1; n <= 200; n++) {
        json_t *params = NULL;
        assert_int_equal(spec_trial_params(&s, n, &params), 0);
        const char *m = json_string_value(json_object_get(params, "m"));
        const char *d = json_string_value(json_object_get(params, "d"));
        assert_int_equal(strncmp(m, d, 3), 0);
        assert_string_equal(json_string_value(json_object_get(params, "c")), "k");
        json_decref(params);
    }
    release_params(ps, 3);
}

static void test_overflowing_draw_is_an_error(void **state)
{
    spec_param p = ranged("x", SPEC_DIST_LOG_UNIFORM, 800, 900, 1);
    spec s = make_spec(SPEC_METHOD_RANDOM, &p, 1);
    json_t *params = NULL;
    assert_int_equal(spec_trial_params(&s, 1, &params), SQ_EINVAL);
    assert_null(params);
    assert_non_null(strstr(sq_error_msg(), "'x'"));
}

/* ---- canonical JSON and keys ---------------------------------------------- */

static void test_canonical_json_sorts_keys_compactly(void **state)
{
    json_t *a =
        json_pack("{s:f,s:i,s:s,s:[i,b]}", "lr", 0.1, "batch", 32, "opt", "adam", "l", 1, 1);
    char *c = spec_params_canonical(a);
    assert_string_equal(c, "{\"batch\":32,\"l\":[1,true],\"lr\":0.1,\"opt\":\"adam\"}");
    free(c);
    json_decref(a);
}

static void test_key_is_32_hex_digits_and_ignores_key_order(void **state)
{
    json_t *a = json_pack("{s:f,s:i}", "lr", 0.001, "batch", 32);
    json_t *b = json_pack("{s:i,s:f}", "batch", 32, "lr", 0.001);
    json_t *c = json_pack("{s:i,s:f}", "batch", 64, "lr", 0.001);
    char *ka = spec_params_key(a), *kb = spec_params_key(b), *kc = spec_params_key(c);
    assert_int_equal(strlen(ka), 32);
    assert_int_equal(strspn(ka, "0123456789abcdef"), 32);
    assert_string_equal(ka, kb);
    assert_string_not_equal(ka, kc);
    /* SHA-256 of {"batch":32,"lr":0.001}, first 32 hex digits. */
    assert_string_equal(ka, "e1089303c12c81da2e9286d6d1f00971");
    free(ka);
    free(kb);
    free(kc);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_dist_names_are_wandbs(void **state)
{
    assert_string_equal(spec_dist_name(SPEC_DIST_LOG_UNIFORM_VALUES), "log_uniform_values");
    assert_string_equal(spec_dist_name(SPEC_DIST_Q_LOG_NORMAL), "q_log_normal");
    assert_string_equal(spec_dist_name(SPEC_DIST_INT_UNIFORM), "int_uniform");
    assert_string_equal(spec_dist_name((spec_dist)99), "unknown");
}

int main(void)
{
    draws = xmalloc(DRAWS * sizeof *draws);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_walks_parameters_in_written_order_last_fastest),
        cmocka_unit_test(test_beta_draws_follow_the_beta_distribution),
        cmocka_unit_test(test_grid_keeps_yaml_values_exactly),
        cmocka_unit_test(test_grid_enumerates_int_uniform_and_q_uniform_as_wandb),
        cmocka_unit_test(test_grid_refuses_continuous_distributions),
        cmocka_unit_test(test_paired_groups_zip_after_grid_parameters),
        cmocka_unit_test(test_two_paired_groups_multiply),
        cmocka_unit_test(test_grid_size_overflow_is_refused_not_wrapped),
        cmocka_unit_test(test_grid_huge_int_range_is_refused),
        cmocka_unit_test(test_run_cap_caps_a_grid),
        cmocka_unit_test(test_trial_numbers_out_of_range_are_refused),
        cmocka_unit_test(test_random_counts_and_open_ended),
        cmocka_unit_test(test_random_trial_is_a_pure_function_of_seed_and_number),
        cmocka_unit_test(test_uniform_is_uniform_in_min_max),
        cmocka_unit_test(test_int_uniform_includes_both_ends),
        cmocka_unit_test(test_q_uniform_rounds_to_multiples_of_q),
        cmocka_unit_test(test_log_uniform_takes_bounds_as_logs),
        cmocka_unit_test(test_log_uniform_values_takes_bounds_as_values),
        cmocka_unit_test(test_q_log_uniform_variants_are_quantized),
        cmocka_unit_test(test_inv_log_uniform_variants),
        cmocka_unit_test(test_normal_family_has_its_mean_and_sigma),
        cmocka_unit_test(test_categorical_draws_follow_probabilities),
        cmocka_unit_test(test_random_paired_group_draws_one_index),
        cmocka_unit_test(test_overflowing_draw_is_an_error),
        cmocka_unit_test(test_canonical_json_sorts_keys_compactly),
        cmocka_unit_test(test_key_is_32_hex_digits_and_ignores_key_order),
        cmocka_unit_test(test_dist_names_are_wandbs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(draws);
    return rc;
}
