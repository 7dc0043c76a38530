/*
 * test_search_truncnorm.c - the normal and truncated normal pieces TPE is
 * built on: known quantiles, the left-tail series against libm's erfc
 * where both hold, the inverse of log Phi round-tripping, interval masses
 * in both tails, and the truncated quantile staying inside its bounds.
 */
#include "util/common.h"

#include "search/truncnorm.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

static void assert_close(double got, double want, double rel)
{
    double tol = rel * fmax(1.0, fabs(want));
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

static void test_ndtr_known_values(void **state)
{
    assert_close(tn_ndtr(0), 0.5, 1e-15);
    assert_close(tn_ndtr(1), 0.8413447460685429, 1e-15);
    assert_close(tn_ndtr(-1.959963984540054), 0.025, 1e-14);
    assert_true(fabs(tn_ndtr(-10) / 7.619853024160527e-24 - 1) < 1e-12);
}

static void test_log_ndtr_series_meets_erfc_below_minus_20(void **state)
{
    /* libm's erfc still holds these tails; the series must agree with it. */
    const double xs[] = {-20.0001, -20.5, -25, -30, -37};
    for (size_t i = 0; i < ARRAY_SIZE(xs); i++)
        assert_close(tn_log_ndtr(xs[i]), log(0.5 * erfc(-xs[i] / M_SQRT2)), 1e-13);
    /* and keeps going where erfc underflows */
    double v = tn_log_ndtr(-50);
    assert_true(isfinite(v));
    assert_close(v, -1250 - log(50) - 0.5 * log(2 * M_PI) + log1p(-1.0 / 2500 + 3.0 / 6.25e6),
                 1e-12);
    /* right tail: log(1 - tiny) */
    assert_close(tn_log_ndtr(7), -1.279812543885835e-12, 1e-3);
    assert_close(tn_log_ndtr(0), log(0.5), 1e-15);
}

static void test_ndtri_known_quantiles(void **state)
{
    assert_close(tn_ndtri(0.025), -1.959963984540054, 1e-9);
    assert_close(tn_ndtri(0.975), 1.959963984540054, 1e-9);
    assert_close(tn_ndtri(0.5), 0, 1e-9);
    assert_close(tn_ndtri(1e-10), -6.361340902404056, 1e-9);
    double u = 1 - 1e-15, tail = 1 - u; /* exactly what the double holds */
    assert_true(fabs(tn_ndtr(-tn_ndtri(u)) / tail - 1) < 1e-9);
    assert_true(fabs(tn_ndtr(tn_ndtri(1e-300)) / 1e-300 - 1) < 1e-9);
}

static void test_ndtri_exp_inverts_log_ndtr(void **state)
{
    const double xs[] = {-35, -20, -10, -3, -1, -0.1, 0, 0.3, 1, 2.5, 5};
    for (size_t i = 0; i < ARRAY_SIZE(xs); i++)
        assert_close(tn_ndtri_exp(tn_log_ndtr(xs[i])), xs[i], 1e-7);
    assert_true(isinf(tn_ndtri_exp(0)) && tn_ndtri_exp(0) > 0);
    assert_true(isinf(tn_ndtri_exp(-INFINITY)) && tn_ndtri_exp(-INFINITY) < 0);
}

static void test_log_gauss_mass_in_every_case(void **state)
{
    /* central */
    assert_close(tn_log_gauss_mass(-1, 1), log(0.6826894921370859), 1e-14);
    /* left and right tails are mirror images */
    assert_close(tn_log_gauss_mass(-11, -10), tn_log_gauss_mass(10, 11), 1e-14);
    assert_close(tn_log_gauss_mass(-11, -10),
                 log(0.5 * erfc(10 / M_SQRT2) - 0.5 * erfc(11 / M_SQRT2)), 1e-12);
    /* far right, where Phi(b) - Phi(a) would be 1 - 1 = 0 in doubles */
    double far = tn_log_gauss_mass(40, 41);
    assert_true(isfinite(far));
    assert_close(far, tn_log_gauss_mass(-41, -40), 1e-14);
    assert_true(isinf(tn_log_gauss_mass(2, 2)));
}

static void test_ppf_inverts_the_truncated_cdf(void **state)
{
    const double bounds[][2] = {{-1, 1}, {-3, 0.5}, {0.2, 4}, {8, 9}, {-30, -29}, {-50, 50}};
    const double qs[] = {1e-9, 0.01, 0.25, 0.5, 0.9, 1 - 1e-9};
    for (size_t i = 0; i < ARRAY_SIZE(bounds); i++) {
        double a = bounds[i][0], b = bounds[i][1];
        for (size_t j = 0; j < ARRAY_SIZE(qs); j++) {
            double x = tn_ppf(qs[j], a, b);
            assert_true(x >= a && x <= b);
            /* log of the mass below x over the whole mass is log q */
            double lq = tn_log_gauss_mass(a, x) - tn_log_gauss_mass(a, b);
            assert_close(lq, log(qs[j]), 1e-6);
        }
        assert_true(tn_ppf(0, a, b) == a);
        assert_true(tn_ppf(1, a, b) == b);
    }
    assert_close(tn_ppf(0.5, -2, 2), 0, 1e-9);
}

static void test_norm_logpdf(void **state)
{
    assert_close(tn_norm_logpdf(0), -0.5 * log(2 * M_PI), 1e-15);
    assert_close(tn_norm_logpdf(3), -4.5 - 0.5 * log(2 * M_PI), 1e-15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ndtr_known_values),
        cmocka_unit_test(test_log_ndtr_series_meets_erfc_below_minus_20),
        cmocka_unit_test(test_ndtri_known_quantiles),
        cmocka_unit_test(test_ndtri_exp_inverts_log_ndtr),
        cmocka_unit_test(test_log_gauss_mass_in_every_case),
        cmocka_unit_test(test_ppf_inverts_the_truncated_cdf),
        cmocka_unit_test(test_norm_logpdf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
