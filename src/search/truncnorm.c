/*
 * truncnorm.c - the standard normal's log CDF, interval masses and the
 * truncated normal's quantile; see truncnorm.h for the contract.
 *
 * Tails: the right tail is computed by symmetry from the left, where log
 * Phi keeps its digits; below -20 log Phi is the asymptotic series
 * -x^2/2 - log(-x) - log(2 pi)/2 + log(1 - 1/x^2 + 3/x^4 - ...), summed
 * until it stops changing. The quantile solves log Phi(x) = y by Newton's
 * method from Optuna's starting points (its _ndtri_exp).
 */
#include "search/truncnorm.h"

#include <float.h>
#include <math.h>

#define LOG_SQRT_2PI 0.91893853320467274178 /* log(sqrt(2 pi)) */
#define SQRT3_OVER_PI 0.55132889542179204315

double tn_ndtr(double x)
{
    if (x < -40) /* erfc(28.3) is below the smallest double: exactly 0 */
        return 0;
    return 0.5 * erfc(-x / M_SQRT2);
}

double tn_norm_logpdf(double x)
{
    return -0.5 * x * x - LOG_SQRT_2PI;
}

double tn_log_ndtr(double x)
{
    if (x > 6)
        return -tn_ndtr(-x); /* log(1 - e) = -e for e < 1e-9 */
    if (x > -20)
        return log(tn_ndtr(x));
    double lhs = -0.5 * x * x - log(-x) - LOG_SQRT_2PI;
    double last = 0, sum = 1, num = 1, den = 1, step = 1 / (x * x);
    int sign = 1;
    for (int i = 1; fabs(last - sum) > DBL_EPSILON && i < 100; i++) {
        last = sum;
        sign = -sign;
        den *= step;
        num *= 2 * i - 1;
        sum += sign * num * den;
    }
    return lhs + log(sum);
}

/* log(exp(lp) - exp(lq)) for lp >= lq. */
static double log_diff(double lp, double lq)
{
    return lp + log1p(-exp(lq - lp));
}

/* log(exp(lp) + exp(lq)). */
static double log_sum(double lp, double lq)
{
    double hi = fmax(lp, lq), lo = fmin(lp, lq);
    if (isinf(hi))
        return hi;
    return hi + log1p(exp(lo - hi));
}

double tn_log_gauss_mass(double a, double b)
{
    if (b <= 0)
        return log_diff(tn_log_ndtr(b), tn_log_ndtr(a));
    if (a > 0)
        return log_diff(tn_log_ndtr(-a), tn_log_ndtr(-b));
    /* Straddling 0: 1 - the two tails, without the cancellation of
     * subtracting two CDFs near 1. */
    return log1p(-tn_ndtr(a) - tn_ndtr(-b));
}

double tn_ndtri_exp(double y)
{
    if (y >= 0)
        return INFINITY;
    if (isinf(y))
        return -INFINITY;
    /* Near 0 solve for -x, where log Phi(-x) = log(1 - exp(y)) is far
     * from 0 and keeps its digits. */
    int flipped = y > -1e-2;
    double z = flipped ? log(-expm1(y)) : y;
    double x = z < -5 ? -sqrt(-2.0 * (z + LOG_SQRT_2PI)) : -SQRT3_OVER_PI * log(expm1(-z));
    for (int i = 0; i < 100; i++) {
        double lx = tn_log_ndtr(x);
        double dx = (lx - z) * exp(lx - tn_norm_logpdf(x));
        x -= dx;
        if (fabs(dx) < 1e-8 * fabs(x))
            break;
    }
    return flipped ? -x : x;
}

double tn_ndtri(double u)
{
    return u < 0.5 ? tn_ndtri_exp(log(u)) : -tn_ndtri_exp(log1p(-u));
}

double tn_ppf(double q, double a, double b)
{
    if (!(q > 0) || !(a < b))
        return a;
    if (q >= 1)
        return b;
    double mass = tn_log_gauss_mass(a, b), x;
    if (a < 0)
        x = tn_ndtri_exp(log_sum(tn_log_ndtr(a), log(q) + mass));
    else /* the left tail keeps more digits: mirror */
        x = -tn_ndtri_exp(log_sum(tn_log_ndtr(-b), log1p(-q) + mass));
    if (!(x >= a)) /* NaN too */
        return a;
    return x > b ? b : x;
}
