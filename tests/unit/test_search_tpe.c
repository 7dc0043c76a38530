/*
 * test_search_tpe.c - search_propose on fixed histories: random draws until
 * 10 trials are done, proposals that concentrate near the optimum of a
 * quadratic and on the good category, determinism, values that stay on
 * their grid and in their range for every W&B distribution, failed trials
 * left out, stopped ones counted, running ones pushing proposals away.
 */
#include "util/common.h"

#include "search/search.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

/* ---- helpers ------------------------------------------------------------ */

static spec *load(const char *yaml)
{
    spec *s = NULL;
    spec_diags d = SPEC_DIAGS_INIT;
    int rc = spec_load_string(&s, yaml, strlen(yaml), "t.yaml", NULL, &d);
    if (rc) {
        char *m = d.n ? spec_diag_format(&d.items[0]) : xstrdup("?");
        fail_msg("spec did not load: %s", m);
    }
    spec_diags_release(&d);
    return s;
}

/* A growing history that owns its params. */
typedef struct hist {
    search_obs *o;
    size_t n, cap;
} hist;

static void hist_add(hist *h, json_t *params, search_state st, double value, uint64_t step)
{
    h->o = xgrow(h->o, &h->cap, h->n + 1, sizeof *h->o);
    h->o[h->n++] = (search_obs){params, st, value, step};
}

static void hist_release(hist *h)
{
    for (size_t i = 0; i < h->n; i++)
        json_decref((json_t *)h->o[i].params);
    free(h->o);
}

static double num(const json_t *params, const char *name)
{
    const json_t *v = json_object_get(params, name);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static json_t *propose(const spec *s, const hist *h, uint64_t number)
{
    json_t *out = NULL;
    int rc = search_propose(s, h->o, h->n, number, &out);
    if (rc)
        fail_msg("search_propose: %s", sq_error_msg());
    assert_non_null(out);
    return out;
}

static json_t *random_draw(const spec *s, uint64_t number)
{
    json_t *out = NULL;
    assert_int_equal(spec_trial_params(s, number, &out), 0);
    return out;
}

static bool same(const json_t *a, const json_t *b)
{
    return json_equal((json_t *)a, (json_t *)b);
}

static double quadratic(const json_t *p)
{
    double x = num(p, "x");
    return (x - 3) * (x - 3);
}

/* n random trials of s scored by f, complete, as history. */
static void random_history(const spec *s, hist *h, size_t n, double (*f)(const json_t *))
{
    for (size_t i = 1; i <= n; i++) {
        json_t *p = random_draw(s, i);
        hist_add(h, p, SEARCH_COMPLETE, f(p), 0);
    }
}

static const char *quad_spec = "method: bayes\n"
                               "program: t.py\n"
                               "metric: {name: loss, goal: minimize}\n"
                               "parameters:\n"
                               "  x: {min: -10.0, max: 10.0}\n";

/* The share of proposals 31..30+k with |x - 3| < 2. */
static double share_near_3(const spec *s, const hist *h, size_t k)
{
    size_t near = 0;
    for (uint64_t i = 31; i < 31 + k; i++) {
        json_t *p = propose(s, h, i);
        near += fabs(num(p, "x") - 3) < 2;
        json_decref(p);
    }
    return (double)near / (double)k;
}

/* ---- startup ------------------------------------------------------------ */

static void test_fewer_than_ten_done_is_the_random_draw(void **state)
{
    spec *s = load(quad_spec);
    hist h = {0};
    random_history(s, &h, 9, quadratic);
    for (int i = 0; i < 5; i++) /* running and failed trials do not count */
        hist_add(&h, random_draw(s, 20 + i), i % 2 ? SEARCH_RUNNING : SEARCH_FAILED, NAN, 0);
    json_t *p = propose(s, &h, 30), *r = random_draw(s, 30);
    assert_true(same(p, r));
    json_decref(p);
    json_decref(r);
    /* a tenth, stopped, starts the model */
    hist_add(&h, random_draw(s, 10), SEARCH_STOPPED, 50, 2);
    p = propose(s, &h, 30);
    r = random_draw(s, 30);
    assert_false(same(p, r));
    json_decref(p);
    json_decref(r);
    hist_release(&h);
    spec_free(s);
}

/* ---- it searches -------------------------------------------------------- */

static void test_quadratic_proposals_concentrate_near_optimum(void **state)
{
    spec *s = load(quad_spec);
    hist h = {0};
    random_history(s, &h, 30, quadratic);
    /* random draws land within 2 of x = 3 a fifth of the time */
    double share = share_near_3(s, &h, 40);
    if (share < 0.6)
        fail_msg("only %.0f%% of proposals within 2 of the optimum", 100 * share);
    hist_release(&h);
    spec_free(s);
}

static double neg_quadratic(const json_t *p)
{
    return -quadratic(p);
}

static void test_maximize_concentrates_too(void **state)
{
    spec *s = load("method: bayes\nprogram: t.py\nmetric: {name: acc, goal: maximize}\n"
                   "parameters:\n  x: {min: -10.0, max: 10.0}\n");
    hist h = {0};
    random_history(s, &h, 30, neg_quadratic);
    double share = share_near_3(s, &h, 40);
    if (share < 0.6)
        fail_msg("only %.0f%% of proposals within 2 of the optimum", 100 * share);
    hist_release(&h);
    spec_free(s);
}

static void test_sequential_run_finds_the_optimum(void **state)
{
    spec *s = load(quad_spec);
    hist h = {0};
    double best = INFINITY;
    for (uint64_t i = 1; i <= 40; i++) {
        json_t *p = propose(s, &h, i);
        double v = quadratic(p);
        best = fmin(best, v);
        hist_add(&h, p, SEARCH_COMPLETE, v, 0);
    }
    /* random search's expected best of 40 on this range is about 0.06 */
    if (best > 0.01)
        fail_msg("best after 40 trials is %g", best);
    hist_release(&h);
    spec_free(s);
}

static double category_loss(const json_t *p)
{
    const char *c = json_string_value(json_object_get(p, "opt"));
    return (strcmp(c, "adam") ? 1.0 : 0.0) + 0.01 * num(p, "x");
}

static void test_categorical_picks_the_good_category(void **state)
{
    spec *s = load("method: bayes\nprogram: t.py\nmetric: {name: loss}\n"
                   "parameters:\n"
                   "  opt: {values: [sgd, adam, rmsprop, adagrad, lion]}\n"
                   "  x: {min: 0.0, max: 1.0}\n");
    hist h = {0};
    random_history(s, &h, 30, category_loss);
    size_t good = 0;
    for (uint64_t i = 31; i < 71; i++) {
        json_t *p = propose(s, &h, i);
        good += !strcmp(json_string_value(json_object_get(p, "opt")), "adam");
        json_decref(p);
    }
    if (good < 24) /* random: 8 of 40 */
        fail_msg("adam in only %zu of 40 proposals", good);
    hist_release(&h);
    spec_free(s);
}

/* ---- determinism -------------------------------------------------------- */

static void test_same_inputs_same_proposal(void **state)
{
    spec *s = load(quad_spec);
    hist h = {0};
    random_history(s, &h, 20, quadratic);
    json_t *a = propose(s, &h, 21), *b = propose(s, &h, 21), *c = propose(s, &h, 22);
    assert_true(same(a, b));
    assert_false(same(a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    /* another seed, other draws */
    spec *s2 = load("seed: 7\nmethod: bayes\nprogram: t.py\nmetric: {name: loss}\n"
                    "parameters:\n  x: {min: -10.0, max: 10.0}\n");
    a = propose(s, &h, 21);
    b = propose(s2, &h, 21);
    assert_false(same(a, b));
    json_decref(a);
    json_decref(b);
    hist_release(&h);
    spec_free(s);
    spec_free(s2);
}

/* ---- every distribution stays in its support ---------------------------- */

static const char *all_dists_spec =
    "method: bayes\nprogram: t.py\nmetric: {name: loss}\n"
    "parameters:\n"
    "  i: {distribution: int_uniform, min: 1, max: 20}\n"
    "  qu: {distribution: q_uniform, min: 0.0, max: 1.0, q: 0.05}\n"
    "  qi: {distribution: q_uniform, min: 0, max: 100, q: 10}\n"
    "  lu: {distribution: log_uniform, min: -3.0, max: 2.0}\n"
    "  luv: {distribution: log_uniform_values, min: 0.00001, max: 0.1}\n"
    "  qluv: {distribution: q_log_uniform_values, min: 1, max: 1000, q: 5}\n"
    "  qlu: {distribution: q_log_uniform, min: -2.0, max: 3.0, q: 1}\n"
    "  ilu: {distribution: inv_log_uniform, min: 1.0, max: 4.0}\n"
    "  iluv: {distribution: inv_log_uniform_values, min: 0.01, max: 10.0}\n"
    "  n: {distribution: normal, mu: 5.0, sigma: 2.0}\n"
    "  qn: {distribution: q_normal, mu: 0.0, sigma: 3.0, q: 0.5}\n"
    "  ln: {distribution: log_normal, mu: 0.0, sigma: 1.0}\n"
    "  qln: {distribution: q_log_normal, mu: 1.0, sigma: 1.0, q: 2}\n"
    "  c: {values: [1, two, 3.5, true]}\n"
    "  k: {value: fixed}\n"
    "  nested:\n"
    "    parameters:\n"
    "      lr: {distribution: log_uniform_values, min: 0.0001, max: 1.0}\n";

/* A made-up loss over every parameter: each has a good region. */
static double all_loss(const json_t *p)
{
    return fabs(num(p, "i") - 7) / 20 + fabs(num(p, "qu") - 0.3) + fabs(log10(num(p, "luv")) + 3) +
           fabs(num(p, "n") - 4) / 4 + fabs(log10(num(p, "nested.lr")) + 2);
}

static void assert_on_grid(double v, double q, double lo, double hi, const char *name)
{
    double k = v / q;
    if (fabs(k - rint(k)) > 1e-9 || v < lo - 1e-12 || v > hi + 1e-12)
        fail_msg("%s = %.17g is off the grid of %g in [%g, %g]", name, v, q, lo, hi);
}

static void assert_in(double v, double lo, double hi, const char *name)
{
    if (!(v >= lo && v <= hi))
        fail_msg("%s = %.17g is outside [%g, %g]", name, v, lo, hi);
}

static void assert_in_support(const json_t *p)
{
    assert_true(json_is_integer(json_object_get(p, "i")));
    assert_in(num(p, "i"), 1, 20, "i");
    assert_true(json_is_real(json_object_get(p, "qu")));
    assert_on_grid(num(p, "qu"), 0.05, 0, 1, "qu");
    assert_true(json_is_integer(json_object_get(p, "qi")));
    assert_on_grid(num(p, "qi"), 10, 0, 100, "qi");
    assert_in(num(p, "lu"), exp(-3), exp(2), "lu");
    assert_in(num(p, "luv"), 1e-5, 0.1, "luv");
    assert_true(json_is_integer(json_object_get(p, "qluv")));
    assert_on_grid(num(p, "qluv"), 5, 0, 1000, "qluv");
    assert_on_grid(num(p, "qlu"), 1, 0, 20, "qlu");
    assert_in(num(p, "ilu"), exp(-4), exp(-1), "ilu");
    assert_in(num(p, "iluv"), 0.01, 10, "iluv");
    assert_in(num(p, "n"), 5 - 2 * 8, 5 + 2 * 8, "n");
    assert_on_grid(num(p, "qn"), 0.5, -3 * 8.5, 3 * 8.5, "qn");
    assert_in(num(p, "ln"), exp(-8), exp(8), "ln");
    assert_on_grid(num(p, "qln"), 2, 0, exp(1 + 8) + 2, "qln");
    assert_in(num(p, "nested.lr"), 1e-4, 1, "nested.lr");
    json_t *c = json_object_get(p, "c");
    assert_true(json_is_integer(c) || json_is_string(c) || json_is_real(c) || json_is_true(c));
    assert_string_equal(json_string_value(json_object_get(p, "k")), "fixed");
}

static void test_every_distribution_stays_in_its_support(void **state)
{
    spec *s = load(all_dists_spec);
    hist h = {0};
    random_history(s, &h, 12, all_loss);
    for (uint64_t i = 13; i <= 60; i++) {
        json_t *p = propose(s, &h, i);
        assert_in_support(p);
        /* same keys, same order as a random draw */
        json_t *r = random_draw(s, i);
        assert_int_equal(json_object_size(p), json_object_size(r));
        const char *k1, *k2;
        void *i2 = json_object_iter(r);
        json_t *v;
        json_object_foreach(p, k1, v)
        {
            k2 = json_object_iter_key(i2);
            assert_string_equal(k1, k2);
            i2 = json_object_iter_next(r, i2);
        }
        json_decref(r);
        hist_add(&h, p, SEARCH_COMPLETE, all_loss(p), 0);
    }
    /* the search moved toward the good regions of the nested parameter */
    double sum = 0;
    for (size_t i = h.n - 20; i < h.n; i++)
        sum += fabs(log10(num(h.o[i].params, "nested.lr")) + 2);
    assert_true(sum / 20 < 0.9); /* random: 1.0 on average */
    hist_release(&h);
    spec_free(s);
}

/* ---- failed, stopped, running ------------------------------------------- */

static void test_failed_trials_are_left_out(void **state)
{
    spec *s = load(quad_spec);
    hist a = {0}, b = {0};
    random_history(s, &a, 15, quadratic);
    random_history(s, &b, 15, quadratic);
    for (int i = 0; i < 6; i++) {
        json_t *p = random_draw(s, 100 + i);
        hist_add(&b, p, SEARCH_FAILED, NAN, 0);
        /* a complete trial without a value counts as failed */
        hist_add(&b, json_incref(p), SEARCH_COMPLETE, NAN, 0);
    }
    json_t *pa = propose(s, &a, 40), *pb = propose(s, &b, 40);
    assert_true(same(pa, pb));
    json_decref(pa);
    json_decref(pb);
    hist_release(&a);
    hist_release(&b);
    spec_free(s);
}

static void test_params_that_do_not_fit_are_left_out(void **state)
{
    spec *s = load(quad_spec);
    hist a = {0}, b = {0};
    random_history(s, &a, 15, quadratic);
    random_history(s, &b, 15, quadratic);
    hist_add(&b, json_pack("{s:s}", "x", "abc"), SEARCH_COMPLETE, 0, 0);
    hist_add(&b, json_pack("{s:f}", "y", 3.0), SEARCH_COMPLETE, 0, 0);
    hist_add(&b, json_pack("{s:f}", "x", NAN), SEARCH_COMPLETE, 0, 0);
    hist_add(&b, json_pack("[]"), SEARCH_COMPLETE, 0, 0);
    json_t *pa = propose(s, &a, 40), *pb = propose(s, &b, 40);
    assert_true(same(pa, pb));
    json_decref(pa);
    json_decref(pb);
    hist_release(&a);
    hist_release(&b);
    spec_free(s);
}

static void test_stopped_trials_rank_after_complete_ones(void **state)
{
    /* 20 complete trials (gamma = 2 below), plus stopped ones that would be
     * the best by value: they rank after every complete trial, so the
     * proposal is the one made without them in below... but they do count
     * in n and in above, so only check that they never beat completes:
     * with 20 completes the two best completes are below either way. */
    spec *s = load(quad_spec);
    hist h = {0};
    random_history(s, &h, 20, quadratic);
    json_t *far = json_pack("{s:f}", "x", -9.5);
    hist_add(&h, far, SEARCH_STOPPED, -1000, 3); /* "better" than any, but stopped */
    double share = share_near_3(s, &h, 40);
    if (share < 0.5)
        fail_msg("a stopped trial's value pulled proposals away: %.0f%% near 3", 100 * share);
    hist_release(&h);
    spec_free(s);
}

static double mean_distance_from_3(const spec *s, const hist *h, uint64_t from, size_t k)
{
    double sum = 0;
    for (uint64_t i = from; i < from + k; i++) {
        json_t *p = propose(s, h, i);
        sum += fabs(num(p, "x") - 3);
        json_decref(p);
    }
    return sum / (double)k;
}

static void test_running_trials_push_proposals_away(void **state)
{
    spec *s = load(quad_spec);
    hist h = {0};
    random_history(s, &h, 30, quadratic);
    double alone = mean_distance_from_3(s, &h, 100, 40);
    for (int i = 0; i < 10; i++) /* ten agents already busy near the optimum */
        hist_add(&h, json_pack("{s:f}", "x", 2.9 + 0.02 * i), SEARCH_RUNNING, NAN, 0);
    double with_liars = mean_distance_from_3(s, &h, 100, 40);
    if (!(with_liars > alone))
        fail_msg("running trials at the optimum did not spread proposals: %g vs %g", with_liars,
                 alone);
    hist_release(&h);
    spec_free(s);
}

/* ---- bad input ---------------------------------------------------------- */

static void test_no_metric_or_out_of_range_is_refused(void **state)
{
    /* The loader refuses a bayes spec without a metric; search_propose
     * checks again for a spec made another way. */
    spec *s = load("method: bayes\nprogram: t.py\nmetric: {name: loss}\n"
                   "parameters:\n  x: {min: 0.0, max: 1.0}\n");
    free(s->metric.name);
    s->metric.name = NULL;
    json_t *out = (json_t *)1;
    assert_int_equal(search_propose(s, NULL, 0, 1, &out), SQ_EINVAL);
    assert_null(out);
    assert_non_null(strstr(sq_error_msg(), "needs a metric"));
    spec_free(s);
    s = load("method: bayes\nprogram: t.py\nrun_cap: 5\nmetric: {name: loss}\n"
             "parameters:\n  x: {min: 0.0, max: 1.0}\n");
    assert_int_equal(search_propose(s, NULL, 0, 6, &out), SQ_EINVAL);
    assert_null(out);
    assert_int_equal(search_propose(s, NULL, 0, 0, &out), SQ_EINVAL);
    assert_int_equal(search_propose(s, NULL, 0, 5, &out), 0);
    json_decref(out);
    spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fewer_than_ten_done_is_the_random_draw),
        cmocka_unit_test(test_quadratic_proposals_concentrate_near_optimum),
        cmocka_unit_test(test_maximize_concentrates_too),
        cmocka_unit_test(test_sequential_run_finds_the_optimum),
        cmocka_unit_test(test_categorical_picks_the_good_category),
        cmocka_unit_test(test_same_inputs_same_proposal),
        cmocka_unit_test(test_every_distribution_stays_in_its_support),
        cmocka_unit_test(test_failed_trials_are_left_out),
        cmocka_unit_test(test_params_that_do_not_fit_are_left_out),
        cmocka_unit_test(test_stopped_trials_rank_after_complete_ones),
        cmocka_unit_test(test_running_trials_push_proposals_away),
        cmocka_unit_test(test_no_metric_or_out_of_range_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
