/*
 * test_search_stop.c - early termination rules: the bands W&B documents for
 * hyperband, asha's rungs, the thresholds on fixed tables of values, W&B's
 * own test cases replayed run by run, bad rules refused with a sentence,
 * and NaN/Inf never stopping anything.
 */
#include "util/common.h"

#include "search/search.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

/* ---- helpers ------------------------------------------------------------ */

/* Parses rule JSON text, which must be good, into *r. */
static void parse_ok(const char *text, stop_rule *r)
{
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    char *why = NULL;
    int rc = stop_rule_parse(o, r, &why);
    if (rc)
        fail_msg("%s: %s", text, why);
    assert_null(why);
    json_decref(o);
}

/* Parses rule JSON text, which must be refused with a message holding
 * `says`. */
static void parse_bad(const char *text, const char *says)
{
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    stop_rule r;
    char *why = NULL;
    assert_int_equal(stop_rule_parse(o, &r, &why), SQ_EINVAL);
    assert_non_null(why);
    if (!strstr(why, says))
        fail_msg("%s: expected '%s' in '%s'", text, says, why);
    assert_null(r.bands);
    assert_int_equal(r.nbands, 0);
    free(why);
    json_decref(o);
}

static void assert_bands(const char *text, const uint64_t *want, size_t n)
{
    stop_rule r;
    parse_ok(text, &r);
    if (r.nbands < n)
        fail_msg("%s: %zu bands, want at least %zu", text, r.nbands, n);
    for (size_t i = 0; i < n; i++)
        if (r.bands[i] != want[i])
            fail_msg("%s: band %zu is %llu, want %llu", text, i, (unsigned long long)r.bands[i],
                     (unsigned long long)want[i]);
    stop_rule_release(&r);
}

static void assert_bands_exactly(const char *text, const uint64_t *want, size_t n)
{
    stop_rule r;
    parse_ok(text, &r);
    assert_int_equal(r.nbands, n);
    stop_rule_release(&r);
    assert_bands(text, want, n);
}

/* ---- hyperband's bands (references.md, W&B's tests) ----------------------- */

static void test_hyperband_bands_from_max_iter_are_wandbs(void **state)
{
    assert_bands_exactly("{\"type\":\"hyperband\",\"max_iter\":27,\"s\":2}", (uint64_t[]){3, 9}, 2);
    assert_bands_exactly("{\"type\":\"hyperband\",\"max_iter\":27,\"s\":3}", (uint64_t[]){1, 3, 9},
                         3);
    assert_bands_exactly("{\"type\":\"hyperband\",\"max_iter\":100,\"s\":3,\"eta\":3}",
                         (uint64_t[]){3, 11, 33}, 3);
    assert_bands_exactly("{\"type\":\"hyperband\",\"max_iter\":81,\"s\":3,\"eta\":3}",
                         (uint64_t[]){3, 9, 27}, 3);
    assert_bands_exactly("{\"type\":\"hyperband\",\"max_iter\":18,\"s\":2,\"eta\":3}",
                         (uint64_t[]){2, 6}, 2);
    assert_bands_exactly("{\"type\":\"hyperband\",\"max_iter\":5,\"s\":2,\"eta\":2}",
                         (uint64_t[]){1, 2}, 2);
    /* s larger than the divisions allow: stops below 1 */
    assert_bands_exactly("{\"type\":\"hyperband\",\"max_iter\":27,\"s\":10}", (uint64_t[]){1, 3, 9},
                         3);
}

static void test_hyperband_bands_from_min_iter_are_wandbs(void **state)
{
    assert_bands("{\"type\":\"hyperband\",\"min_iter\":3}", (uint64_t[]){3, 9, 27, 81, 243}, 5);
    assert_bands("{\"type\":\"hyperband\",\"min_iter\":3,\"eta\":3}", (uint64_t[]){3, 9, 27}, 3);
    assert_bands("{\"type\":\"hyperband\",\"min_iter\":30,\"eta\":1.5}", (uint64_t[]){30, 45, 67},
                 3);
    /* 3 * 3^k stays below 2^64 up to k = 39: 40 bands, ascending. */
    stop_rule r;
    parse_ok("{\"type\":\"hyperband\",\"min_iter\":3}", &r);
    assert_int_equal(r.nbands, 40);
    for (size_t i = 1; i < r.nbands; i++)
        assert_true(r.bands[i] > r.bands[i - 1]);
    assert_true(r.strict);
    assert_true(r.eta == 3.0);
    stop_rule_release(&r);
}

static void test_hyperband_max_iter_with_s_wins_over_min_iter(void **state)
{
    assert_bands_exactly("{\"type\":\"hyperband\",\"min_iter\":1,\"max_iter\":27,\"s\":2}",
                         (uint64_t[]){3, 9}, 2);
    /* without s (W&B fails), min_iter's bands up to max_iter */
    assert_bands_exactly("{\"type\":\"hyperband\",\"min_iter\":1,\"max_iter\":27}",
                         (uint64_t[]){1, 3, 9, 27}, 4);
}

static void test_hyperband_eta_near_one_keeps_each_band_once(void **state)
{
    /* int(1), int(1.1), int(1.21), ... repeat: each kept once */
    stop_rule r;
    parse_ok("{\"type\":\"hyperband\",\"min_iter\":1,\"eta\":1.1}", &r);
    assert_int_equal(r.bands[0], 1);
    assert_int_equal(r.bands[1], 2);
    for (size_t i = 1; i < r.nbands; i++)
        assert_true(r.bands[i] > r.bands[i - 1]);
    stop_rule_release(&r);
}

static void test_checks_at_bands_only(void **state)
{
    stop_rule r;
    parse_ok("{\"type\":\"hyperband\",\"max_iter\":100,\"s\":3}", &r);
    assert_false(stop_rule_checks_at(&r, 0));
    assert_false(stop_rule_checks_at(&r, 1));
    assert_true(stop_rule_checks_at(&r, 3));
    assert_false(stop_rule_checks_at(&r, 4));
    assert_true(stop_rule_checks_at(&r, 11));
    assert_true(stop_rule_checks_at(&r, 33));
    assert_false(stop_rule_checks_at(&r, 100));
    stop_rule_release(&r);

    parse_ok("{\"type\":\"median\",\"min_iter\":4}", &r);
    assert_int_equal(r.nbands, 0);
    assert_false(stop_rule_checks_at(&r, 3));
    assert_true(stop_rule_checks_at(&r, 4));
    assert_true(stop_rule_checks_at(&r, 5));
    assert_true(stop_rule_checks_at(&r, 1000));
    stop_rule_release(&r);
}

/* ---- thresholds on fixed tables ----------------------------------------- */

static const double one_to_nine[] = {5, 3, 9, 1, 7, 2, 8, 4, 6};

static void test_hyperband_threshold_is_sorted_at_n_over_eta(void **state)
{
    stop_rule r;
    parse_ok("{\"type\":\"hyperband\",\"min_iter\":1}", &r);
    /* 9 values, eta 3: sorted[int(9 / 3)] = sorted[3] = 4 */
    assert_false(stop_should(&r, false, one_to_nine, 9, 4));
    assert_true(stop_should(&r, false, one_to_nine, 9, 4.0001));
    /* maximize: flipped, sorted[3] = -6: 6 goes on, 5.9 stops */
    assert_false(stop_should(&r, true, one_to_nine, 9, 6));
    assert_true(stop_should(&r, true, one_to_nine, 9, 5.9));
    /* 3 values, eta 3: int((1/3) * 3) = int(1.0) = 1 -> the middle one */
    const double three[] = {10, 30, 20};
    assert_false(stop_should(&r, false, three, 3, 20));
    assert_true(stop_should(&r, false, three, 3, 30));
    stop_rule_release(&r);
}

static void test_hyperband_first_trial_at_a_band_goes_on(void **state)
{
    stop_rule r;
    parse_ok("{\"type\":\"hyperband\",\"min_iter\":1,\"eta\":2}", &r);
    const double own[] = {1e9};
    assert_false(stop_should(&r, false, own, 1, 1e9));
    assert_false(stop_should(&r, true, own, 1, 1e9));
    /* nothing to compare with at all */
    assert_false(stop_should(&r, false, NULL, 0, 1e9));
    stop_rule_release(&r);
}

static void test_asha_keeps_the_top_third(void **state)
{
    stop_rule r;
    parse_ok("{\"type\":\"asha\",\"min_iter\":1,\"eta\":3,\"max_iter\":27}", &r);
    assert_int_equal(r.nbands, 4); /* 1, 3, 9, 27 */
    assert_int_equal(r.bands[3], 27);
    /* 9 values: keep 3 -> sorted[2] = 3 */
    assert_false(stop_should(&r, false, one_to_nine, 9, 3));
    assert_true(stop_should(&r, false, one_to_nine, 9, 4));
    assert_false(stop_should(&r, true, one_to_nine, 9, 7));
    assert_true(stop_should(&r, true, one_to_nine, 9, 6));
    /* 2 values: keep max(1, 0) = 1 -> only the best goes on */
    const double two[] = {2, 1};
    assert_true(stop_should(&r, false, two, 2, 2));
    assert_false(stop_should(&r, false, two, 2, 1));
    const double one[] = {5};
    assert_false(stop_should(&r, false, one, 1, 5));
    stop_rule_release(&r);
}

static void test_median_needs_min_trials_then_stops_below_median(void **state)
{
    stop_rule r;
    parse_ok("{\"type\":\"median\"}", &r);
    assert_int_equal(r.min_iter, 1);
    assert_int_equal(r.min_trials, 5);
    assert_false(r.strict); /* best so far, as Optuna's MedianPruner */
    const double five[] = {1, 2, 3, 4, 5};
    assert_false(stop_should(&r, false, five, 4, 100)); /* 4 < min_trials */
    assert_false(stop_should(&r, false, five, 5, 3));
    assert_true(stop_should(&r, false, five, 5, 3.5));
    assert_false(stop_should(&r, true, five, 5, 3));
    assert_true(stop_should(&r, true, five, 5, 2.5));
    const double six[] = {6, 1, 5, 2, 4, 3}; /* median 3.5 */
    assert_false(stop_should(&r, false, six, 6, 3.5));
    assert_true(stop_should(&r, false, six, 6, 3.6));
    stop_rule_release(&r);

    parse_ok("{\"type\":\"median\",\"min_iter\":3,\"min_trials\":1}", &r);
    assert_int_equal(r.min_iter, 3);
    assert_true(stop_should(&r, false, five, 1, 1.5));
    stop_rule_release(&r);
}

static void test_nan_and_inf_never_stop_nor_move_thresholds(void **state)
{
    stop_rule r;
    parse_ok("{\"type\":\"hyperband\",\"min_iter\":1}", &r);
    const double with_junk[] = {NAN, 1, INFINITY, 2, -INFINITY, 3, NAN};
    /* finite: 1 2 3 -> sorted[int(3/3)] = 2 */
    assert_false(stop_should(&r, false, with_junk, 7, 2));
    assert_true(stop_should(&r, false, with_junk, 7, 2.5));
    assert_false(stop_should(&r, false, with_junk, 7, NAN));
    assert_false(stop_should(&r, false, with_junk, 7, INFINITY));
    assert_false(stop_should(&r, true, with_junk, 7, -INFINITY));
    const double all_junk[] = {NAN, INFINITY};
    assert_false(stop_should(&r, false, all_junk, 2, 1e300));
    stop_rule_release(&r);

    parse_ok("{\"type\":\"median\",\"min_trials\":1}", &r);
    assert_false(stop_should(&r, false, all_junk, 2, 1e300));
    assert_false(stop_should(&r, false, with_junk, 7, NAN));
    stop_rule_release(&r);
}

/* ---- W&B's own test cases (tests/test_hyperband_stopping.py) --------------- */

typedef struct wb_run {
    bool running;
    size_t n;
    double h[8];
} wb_run;

/*
 * W&B's hyperband_stop_runs, run by run, with stop_should making each
 * decision: a running run is judged at the last band it has reached, from
 * the values every run (finished ones too) had at that band.
 */
static void wandb_stop_runs(const stop_rule *r, bool maximize, const wb_run *runs, size_t nruns,
                            bool *stopped)
{
    for (size_t i = 0; i < nruns; i++) {
        stopped[i] = false;
        if (!runs[i].running)
            continue;
        uint64_t band = 0;
        for (size_t b = 0; b < r->nbands && r->bands[b] <= runs[i].n; b++)
            band = r->bands[b];
        if (!band)
            continue;
        double values[16];
        size_t nv = 0;
        for (size_t j = 0; j < nruns; j++)
            if (runs[j].n >= band)
                values[nv++] = runs[j].h[band - 1];
        double best = runs[i].h[0];
        for (size_t k = 1; k < runs[i].n; k++)
            best = maximize ? fmax(best, runs[i].h[k]) : fmin(best, runs[i].h[k]);
        double value = r->strict ? runs[i].h[band - 1] : best;
        stopped[i] = stop_should(r, maximize, values, nv, value);
    }
}

static void assert_stopped(const char *rule, bool maximize, const wb_run *runs, size_t n,
                           const bool *want)
{
    stop_rule r;
    parse_ok(rule, &r);
    bool got[8];
    wandb_stop_runs(&r, maximize, runs, n, got);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s: run %zu %s, W&B %s it", rule, i, got[i] ? "stopped" : "went on",
                     want[i] ? "stops" : "keeps");
    stop_rule_release(&r);
}

static void test_wandb_5runs_band1_stop_2(void **state)
{
    const wb_run runs[] = {
        {false, 2, {10, 9}},   {true, 2, {10, 10}},    {true, 3, {10, 8, 8}},
        {true, 3, {10, 7, 7}}, {false, 3, {10, 6, 6}},
    };
    assert_stopped("{\"type\":\"hyperband\",\"max_iter\":5,\"eta\":2,\"s\":2}", false, runs, 5,
                   (bool[]){false, true, false, false, false});
}

static void test_wandb_5runs_band1_stop_2_1stnoband(void **state)
{
    const wb_run runs[] = {
        {false, 1, {10}},      {true, 1, {11}},        {true, 3, {10, 8, 8}},
        {true, 3, {10, 7, 7}}, {false, 3, {10, 6, 6}},
    };
    assert_stopped("{\"type\":\"hyperband\",\"max_iter\":5,\"eta\":2,\"s\":2}", false, runs, 5,
                   (bool[]){false, true, true, false, false});
}

static void test_wandb_eta_3_relaxed(void **state)
{
    /* bands 1 and 3, thresholds 10 and 4 */
    const wb_run runs[] = {
        {false, 2, {9, 8}},    {true, 2, {11, 11}},   {true, 3, {10, 8, 3}},
        {true, 3, {10, 7, 4}}, {true, 3, {10, 6, 6}},
    };
    assert_stopped("{\"type\":\"hyperband\",\"max_iter\":9,\"eta\":3,\"s\":2,\"strict\":false}",
                   false, runs, 5, (bool[]){false, true, false, false, true});
}

static void test_wandb_eta_3_relaxed_maximize(void **state)
{
    const wb_run runs[] = {
        {false, 2, {-10, -9}},    {true, 2, {-11, -11}},        {true, 4, {-10, -8, -5, -3}},
        {true, 3, {-10, -6, -2}}, {true, 4, {-10, -6, -6, -6}},
    };
    assert_stopped("{\"type\":\"hyperband\",\"max_iter\":9,\"eta\":3,\"s\":2,\"strict\":false}",
                   true, runs, 5, (bool[]){false, true, false, false, true});
}

static void test_wandb_single_run_is_never_stopped(void **state)
{
    const wb_run runs[] = {{true, 8, {10, 9, 8, 7, 6, 5, 4, 3}}};
    assert_stopped("{\"type\":\"hyperband\",\"max_iter\":18,\"eta\":3,\"s\":2,\"strict\":false}",
                   false, runs, 1, (bool[]){false});
}

/* docs/search.md's worked example: five trials reach band 3 in turn. */
static void test_docs_worked_example(void **state)
{
    stop_rule r;
    parse_ok("{\"type\":\"hyperband\",\"max_iter\":27,\"s\":2}", &r);
    assert_int_equal(r.nbands, 2);
    const double arrived[] = {0.70, 0.50, 0.90, 0.60, 0.65}; /* A B C D E */
    const bool stops[] = {false, false, true, false, true};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(stop_should(&r, false, arrived, i + 1, arrived[i]), stops[i]);
    stop_rule_release(&r);
}

/* ---- bad rules ---------------------------------------------------------- */

static void test_bad_rules_say_what_to_do(void **state)
{
    parse_bad("{\"type\":\"hyperband\",\"min_iter\":9,\"max_iter\":3,\"s\":2}",
              "max_iter (3) is below min_iter (9)");
    parse_bad("{\"type\":\"asha\",\"min_iter\":9,\"max_iter\":3}", "raise max_iter");
    parse_bad("{\"type\":\"hyperband\",\"min_iter\":3,\"eta\":1}",
              "'eta' must be a number above 1");
    parse_bad("{\"type\":\"hyperband\",\"min_iter\":3,\"eta\":0.5}", "above 1");
    parse_bad("{\"type\":\"asha\",\"eta\":\"three\"}", "above 1");
    parse_bad("{\"type\":\"hyperband\",\"max_iter\":2,\"s\":1}", "no band");
    parse_bad("{\"type\":\"hyperband\",\"max_iter\":27,\"s\":0}", "raise max_iter or s");
    parse_bad("{\"type\":\"hyperband\",\"eta\":3}", "add e.g. 'min_iter: 3'");
    parse_bad("{\"type\":\"hyperband\",\"max_iter\":27}", "'max_iter' with 's'");
    parse_bad("{\"type\":\"hyperband\",\"min_iter\":0}", "1 or more");
    parse_bad("{\"type\":\"hyperband\",\"min_iter\":2.5}", "whole number");
    parse_bad("{\"type\":\"hyperband\",\"min_iter\":3,\"strict\":\"yes\"}", "true or false");
    parse_bad("{\"type\":\"envelope\",\"min_iter\":3}", "use hyperband, asha or median");
    parse_bad("{\"min_iter\":3}", "needs a 'type'");
    parse_bad("[1]", "must be a mapping");
    parse_bad("{\"type\":\"median\",\"eta\":3}", "drop max_iter, s and eta");
    parse_bad("{\"type\":\"asha\",\"min_iter\":1,\"s\":2}", "asha takes no 's'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hyperband_bands_from_max_iter_are_wandbs),
        cmocka_unit_test(test_hyperband_bands_from_min_iter_are_wandbs),
        cmocka_unit_test(test_hyperband_max_iter_with_s_wins_over_min_iter),
        cmocka_unit_test(test_hyperband_eta_near_one_keeps_each_band_once),
        cmocka_unit_test(test_checks_at_bands_only),
        cmocka_unit_test(test_hyperband_threshold_is_sorted_at_n_over_eta),
        cmocka_unit_test(test_hyperband_first_trial_at_a_band_goes_on),
        cmocka_unit_test(test_asha_keeps_the_top_third),
        cmocka_unit_test(test_median_needs_min_trials_then_stops_below_median),
        cmocka_unit_test(test_nan_and_inf_never_stop_nor_move_thresholds),
        cmocka_unit_test(test_wandb_5runs_band1_stop_2),
        cmocka_unit_test(test_wandb_5runs_band1_stop_2_1stnoband),
        cmocka_unit_test(test_wandb_eta_3_relaxed),
        cmocka_unit_test(test_wandb_eta_3_relaxed_maximize),
        cmocka_unit_test(test_wandb_single_run_is_never_stopped),
        cmocka_unit_test(test_docs_worked_example),
        cmocka_unit_test(test_bad_rules_say_what_to_do),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
