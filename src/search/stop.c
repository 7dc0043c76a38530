/*
 * stop.c - early termination rules: parse `early_terminate`, say at which
 * steps a rule makes a check, and decide from the values at one step.
 *
 * Hyperband is W&B's rule exactly (wandb/sweeps src/sweeps/
 * hyperband_stopping.py, config/schema.json, read in 2026):
 *   - bands from max_iter and s: band = max_iter; s times: band /= eta,
 *     leave the loop once band < 1, keep int(band); then sorted. max_iter
 *     itself is never a band. From min_iter: int(min_iter * eta^k) for
 *     k = 0..99, the product accumulated one step at a time as W&B does;
 *   - max_iter with s wins over min_iter when both are given (W&B tests
 *     for max_iter first);
 *   - the threshold at a band: the band's values, sign-flipped when
 *     maximizing, sorted; sorted[int((1 / eta) * n)] (W&B computes
 *     r = 1.0 / eta first, and so do we, so the same doubles truncate to
 *     the same index); a trial stops when its value is greater (worse);
 *   - strict defaults to true; strict compares the value at the band,
 *     otherwise the best value so far (the caller passes the one the rule
 *     asks for: stop_rule.strict).
 * sweepq's own choices, where W&B has none:
 *   - max_iter without s (W&B fails with a KeyError): min_iter's bands, only
 *     those <= max_iter;
 *   - a band is a step count, so bands past 2^64 - 1 are dropped, and
 *     repeated bands (int() of close values when eta is near 1) kept once;
 *   - asha and median, below, and refusing rules that make no band.
 *
 * asha: rungs int(min_iter * eta^k) <= max_iter. At a rung, Optuna's
 * SuccessiveHalvingPruner rule: a trial goes on when its value is among the
 * best max(1, floor(n / eta)) of the n values at the rung (its own value
 * included). The first trial at a rung always goes on.
 *
 * median: Optuna's MedianPruner with n_warmup_steps = min_iter - 1 and
 * n_startup_trials = min_trials: at every step >= min_iter, stop when the
 * best value so far is worse than the median (numpy's: the mean of the two
 * middle values for an even count) of the completed trials' values at that
 * step, once at least min_trials of them have one.
 */
#include "util/common.h"

#include "search/search.h"

#include <math.h>
#include <stdarg.h>

#define DEFAULT_ETA 3.0
#define DEFAULT_MEDIAN_MIN_TRIALS 5
#define MAX_BANDS 100 /* W&B's min_iter form makes exactly this many */
#define TWO64 18446744073709551616.0

/* ---- reading keys --------------------------------------------------------- */

/* Sets *why (a new string) and returns SQ_EINVAL. */
__attribute__((format(printf, 2, 3))) static int refuse(char **why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *why = xvasprintf(fmt, ap);
    va_end(ap);
    return SQ_EINVAL;
}

/*
 * Reads integer key `key` of o into *out when present: 0 and *present set,
 * or SQ_EINVAL (and *why) when it is not a whole number >= lowest.
 */
static int get_count(const json_t *o, const char *key, uint64_t lowest, uint64_t *out,
                     bool *present, char **why)
{
    const json_t *v = json_object_get(o, key);
    *present = v != NULL;
    if (!v)
        return 0;
    double d = json_number_value(v);
    if (!json_is_number(v) || d != trunc(d) || !(d >= (double)lowest) || d >= TWO64)
        return refuse(why,
                      "early_terminate: '%s' must be a whole number of steps, %llu or more; "
                      "write e.g. '%s: %llu'",
                      key, (unsigned long long)lowest, key,
                      (unsigned long long)(lowest > 3 ? lowest : 3));
    *out = json_is_integer(v) ? (uint64_t)json_integer_value(v) : (uint64_t)d;
    return 0;
}

/* Reads eta (default 3, must be a finite number above 1). */
static int get_eta(const json_t *o, double *eta, char **why)
{
    const json_t *v = json_object_get(o, "eta");
    *eta = DEFAULT_ETA;
    if (!v)
        return 0;
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d > 1) || !isfinite(d))
        return refuse(why, "early_terminate: 'eta' must be a number above 1 (each band keeps the "
                           "best 1/eta of the trials); write e.g. 'eta: 3'");
    *eta = d;
    return 0;
}

static int get_strict(const json_t *o, bool dflt, bool *strict, char **why)
{
    const json_t *v = json_object_get(o, "strict");
    *strict = dflt;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return refuse(why, "early_terminate: 'strict' must be true or false");
    *strict = json_is_true(v);
    return 0;
}

/* ---- bands -------------------------------------------------------------- */

/* Appends int(x) to r's bands unless it is out of range or equal to the
 * last one; bands are made ascending. */
static void add_band(stop_rule *r, double x)
{
    if (!(x >= 0) || x >= TWO64)
        return;
    uint64_t b = (uint64_t)x;
    if (r->nbands && r->bands[r->nbands - 1] == b)
        return;
    r->bands[r->nbands++] = b;
}

/* int(min_iter * eta^k), k = 0..99, as W&B multiplies (band *= eta), those
 * <= cap. */
static void bands_from_min_iter(stop_rule *r, uint64_t min_iter, double eta, uint64_t cap)
{
    double band = (double)min_iter;
    for (int k = 0; k < MAX_BANDS; k++, band *= eta) {
        if (band >= TWO64 || (uint64_t)band > cap)
            break;
        add_band(r, band);
    }
}

/* W&B: band = max_iter; s times band /= eta, stop below 1, keep int(band);
 * sorted. The divisions make the bands descending: fill from the end. */
static void bands_from_max_iter(stop_rule *r, uint64_t max_iter, uint64_t s, double eta)
{
    double tmp[MAX_BANDS];
    size_t n = 0;
    double band = (double)max_iter;
    for (uint64_t i = 0; i < s && n < MAX_BANDS; i++) {
        band /= eta;
        if (band < 1)
            break;
        tmp[n++] = band;
    }
    while (n > 0)
        add_band(r, tmp[--n]);
}

/* ---- parse per type ----------------------------------------------------- */

typedef struct iter_keys {
    uint64_t min_iter, max_iter, s;
    bool has_min, has_max, has_s;
} iter_keys;

static int get_iter_keys(const json_t *o, iter_keys *k, char **why)
{
    int rc = get_count(o, "min_iter", 1, &k->min_iter, &k->has_min, why);
    if (!rc)
        rc = get_count(o, "max_iter", 1, &k->max_iter, &k->has_max, why);
    if (!rc)
        rc = get_count(o, "s", 0, &k->s, &k->has_s, why);
    if (!rc && k->has_min && k->has_max && k->max_iter < k->min_iter)
        rc = refuse(why,
                    "early_terminate: max_iter (%llu) is below min_iter (%llu), so no band "
                    "lies between them; raise max_iter or lower min_iter",
                    (unsigned long long)k->max_iter, (unsigned long long)k->min_iter);
    return rc;
}

static int parse_hyperband(const json_t *o, stop_rule *r, char **why)
{
    iter_keys k = {0};
    int rc = get_iter_keys(o, &k, why);
    if (!rc)
        rc = get_eta(o, &r->eta, why);
    if (!rc)
        rc = get_strict(o, true, &r->strict, why);
    if (rc)
        return rc;
    if (k.has_max && k.has_s) {
        bands_from_max_iter(r, k.max_iter, k.s, r->eta);
        r->max_iter = k.max_iter;
        r->min_iter = r->nbands ? r->bands[0] : 0;
    } else if (k.has_min) {
        bands_from_min_iter(r, k.min_iter, r->eta, k.has_max ? k.max_iter : UINT64_MAX);
        r->min_iter = k.min_iter;
        r->max_iter = k.has_max ? k.max_iter : 0;
    } else {
        return refuse(why, "early_terminate: hyperband needs 'min_iter', or 'max_iter' with "
                           "'s'; add e.g. 'min_iter: 3'");
    }
    if (!r->nbands)
        return refuse(why,
                      "early_terminate: max_iter %llu divided by eta %g leaves no band of 1 or "
                      "more within s = %llu steps; raise max_iter or s, or lower eta",
                      (unsigned long long)k.max_iter, r->eta, (unsigned long long)k.s);
    return 0;
}

static int parse_asha(const json_t *o, stop_rule *r, char **why)
{
    iter_keys k = {0};
    int rc = get_iter_keys(o, &k, why);
    if (!rc)
        rc = get_eta(o, &r->eta, why);
    if (!rc)
        rc = get_strict(o, true, &r->strict, why);
    if (rc)
        return rc;
    if (k.has_s)
        return refuse(why, "early_terminate: asha takes no 's' (hyperband's key); give "
                           "min_iter, eta and max_iter");
    r->min_iter = k.has_min ? k.min_iter : 1;
    r->max_iter = k.has_max ? k.max_iter : 0;
    if (k.has_max && k.max_iter < r->min_iter)
        return refuse(why,
                      "early_terminate: max_iter (%llu) is below min_iter (%llu), so asha has "
                      "no rung; raise max_iter",
                      (unsigned long long)k.max_iter, (unsigned long long)r->min_iter);
    bands_from_min_iter(r, r->min_iter, r->eta, k.has_max ? k.max_iter : UINT64_MAX);
    return 0;
}

static int parse_median(const json_t *o, stop_rule *r, char **why)
{
    bool has;
    int rc = get_count(o, "min_iter", 1, &r->min_iter, &has, why);
    if (!rc && !has)
        r->min_iter = 1;
    bool has_trials;
    if (!rc)
        rc = get_count(o, "min_trials", 1, &r->min_trials, &has_trials, why);
    if (!rc && !has_trials)
        r->min_trials = DEFAULT_MEDIAN_MIN_TRIALS;
    if (!rc)
        rc = get_strict(o, false, &r->strict, why);
    if (!rc &&
        (json_object_get(o, "max_iter") || json_object_get(o, "s") || json_object_get(o, "eta")))
        rc = refuse(why, "early_terminate: median takes only 'min_iter', 'min_trials' and "
                         "'strict'; drop max_iter, s and eta");
    return rc;
}

int stop_rule_parse(const json_t *early_terminate, stop_rule *out, char **why)
{
    static const stop_rule empty = STOP_RULE_INIT;
    *out = empty;
    *why = NULL;
    const json_t *o = early_terminate;
    if (!json_is_object(o))
        return refuse(why, "early_terminate must be a mapping; write e.g. "
                           "'early_terminate: {type: hyperband, min_iter: 3}'");
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!type)
        return refuse(why, "early_terminate needs a 'type': hyperband, asha or median");
    out->bands = xcalloc(MAX_BANDS, sizeof *out->bands);
    int rc;
    if (!strcmp(type, "hyperband")) {
        out->type = STOP_HYPERBAND;
        rc = parse_hyperband(o, out, why);
    } else if (!strcmp(type, "asha")) {
        out->type = STOP_ASHA;
        rc = parse_asha(o, out, why);
    } else if (!strcmp(type, "median")) {
        out->type = STOP_MEDIAN;
        rc = parse_median(o, out, why);
    } else {
        rc = refuse(why, "early_terminate: unknown type '%s'; use hyperband, asha or median", type);
    }
    if (rc) {
        stop_rule_release(out);
        *out = empty;
    }
    return rc;
}

void stop_rule_release(stop_rule *r)
{
    free(r->bands);
    r->bands = NULL;
    r->nbands = 0;
}

bool stop_rule_checks_at(const stop_rule *r, uint64_t step)
{
    if (r->type == STOP_MEDIAN)
        return step >= r->min_iter;
    size_t lo = 0, hi = r->nbands;
    while (lo < hi) { /* bands are ascending: binary search */
        size_t mid = lo + (hi - lo) / 2;
        if (r->bands[mid] == step)
            return true;
        if (r->bands[mid] < step)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* ---- decisions ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The finite values of others, sign-flipped when maximizing so that lower
 * is better, sorted ascending, into a new array; *m its length. */
static double *finite_sorted(const double *others, size_t n, bool maximize, size_t *m)
{
    double *v = xmalloc((n ? n : 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(others[i]))
            v[k++] = maximize ? -others[i] : others[i];
    qsort(v, k, sizeof *v, cmp_double);
    *m = k;
    return v;
}

/* The threshold (lower is better) a value must not pass; NAN when the rule
 * has too few values to judge. sorted holds m >= 1 values. */
static double threshold(const stop_rule *r, const double *sorted, size_t m)
{
    switch (r->type) {
    case STOP_HYPERBAND: {
        /* W&B: r = 1.0 / eta; sorted(band_values)[int(r * len(band_values))] */
        double idx = (1.0 / r->eta) * (double)m;
        size_t i = (size_t)idx;
        return sorted[i < m ? i : m - 1];
    }
    case STOP_ASHA: {
        /* Optuna: promotable_idx = n // eta - 1, at least 0 */
        double keep = floor((double)m / r->eta);
        size_t i = keep >= 1 ? (size_t)keep - 1 : 0;
        return sorted[i < m ? i : m - 1];
    }
    case STOP_MEDIAN:
        if (m < r->min_trials)
            return NAN;
        return m % 2 ? sorted[m / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
    }
    SQ_BUG("stop rule of unknown type %d", (int)r->type);
}

bool stop_should(const stop_rule *r, bool maximize, const double *others, size_t n, double value)
{
    if (!isfinite(value))
        return false;
    size_t m;
    double *sorted = finite_sorted(others, n, maximize, &m);
    double t = m ? threshold(r, sorted, m) : NAN;
    free(sorted);
    double v = maximize ? -value : value;
    return !isnan(t) && v > t;
}
