/*
 * truncnorm.h - the pieces of the standard normal and the truncated normal
 * that TPE needs and libm lacks (internal to src/search/).
 *
 * libm gives erf and erfc; everything else is here: log Phi with its left
 * tail, the log of the mass between two points, the inverse of log Phi by
 * Newton's method, and the truncated normal's quantile. These follow
 * Optuna's optuna/samplers/_tpe/_truncnorm.py (itself after SciPy) in
 * method, so TPE's kernels behave as Optuna's do, including far in the
 * tails where the naive formulas lose every digit.
 *
 * Conventions: a and b are the truncation points of a standard normal
 * (a < b); every function is pure and thread-safe.
 */
#ifndef SQ_SEARCH_TRUNCNORM_H
#define SQ_SEARCH_TRUNCNORM_H

/* Phi(x), the standard normal CDF. */
double tn_ndtr(double x);

/* log Phi(x), accurate for x far below 0 (an asymptotic series below -20). */
double tn_log_ndtr(double x);

/* log(Phi(b) - Phi(a)) for a <= b; -inf when a == b. */
double tn_log_gauss_mass(double a, double b);

/* The x with log Phi(x) = y, for y <= 0 (-inf for y = -inf, +inf for 0). */
double tn_ndtri_exp(double y);

/* Phi^-1(u) for u in (0, 1). */
double tn_ndtri(double u);

/* The quantile q in [0, 1] of the standard normal truncated to [a, b];
 * the result lies in [a, b]. */
double tn_ppf(double q, double a, double b);

/* log of the standard normal density at x, without the truncation. */
double tn_norm_logpdf(double x);

#endif
