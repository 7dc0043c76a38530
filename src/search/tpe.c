/*
 * tpe.c - search_propose: the parameters of a bayes sweep's next trial, by
 * the Tree-structured Parzen Estimator as Optuna v5's TPESampler runs it
 * with its defaults (optuna/samplers/_tpe/sampler.py, parzen_estimator.py,
 * probability_distributions.py, read in 2026). See search.h for the
 * contract and docs/search.md for the method in words.
 *
 * One proposal, in the order the code runs:
 *   1. dims       each searched parameter (or paired group) becomes one
 *                 dimension with an internal coordinate: the value, its
 *                 log, its normal CDF, or a category index (search.h);
 *   2. history    each trial's params are read into that coordinate; a
 *                 trial whose params do not fit is left out; failed
 *                 trials and complete ones without a value are left out;
 *   3. startup    fewer than 10 complete + stopped trials: the random
 *                 draw spec_trial_params makes for this number;
 *   4. split      n = complete + stopped; the best gamma(n) = min(ceil(0.1
 *                 n), 25) complete trials, then stopped ones (deepest step,
 *                 then value), are "below"; the rest and every running
 *                 trial (the constant liar) are "above"; each group in
 *                 trial order;
 *   5. estimators l(x) from below, g(x) from above: one kernel per trial,
 *                 weighted 1 for the newest 25 and a linear ramp for older
 *                 ones, plus a prior kernel of weight 1; a numeric kernel
 *                 is a normal at the trial's coordinate truncated to the
 *                 range, its sigma the larger gap to its sorted neighbours
 *                 (the end kernels use their inner gap), clipped to
 *                 [range / min(100, n + 2), range]; the prior N(mid,
 *                 range); a categorical kernel puts weight 1 on its
 *                 category plus prior_weight / (n + 1) spread over all;
 *   6. candidates 24 draws from l: one kernel index per draw shared by all
 *                 dimensions (multivariate), then each dimension from that
 *                 kernel; a discrete draw is rounded to its grid;
 *   7. choice     the candidate with the largest log l(x) - log g(x) (the
 *                 first on ties); a discrete value's likelihood is its
 *                 kernel's mass over the value's cell (+-q/2).
 * Parameters that are not searched (constants, a one-value range) keep
 * the random draw of step 3, which starts every answer.
 *
 * Where sweepq differs from Optuna, and why:
 *   - randomness comes from spec_rand_word seeded by (spec->seed, number),
 *     not a generator that advances with each call, so a proposal depends
 *     only on its inputs (Optuna's seeded runs are reproducible only in
 *     one process);
 *   - W&B distributions Optuna lacks (normal families, q_log with a cell
 *     at 0, categorical probabilities) are mapped as search.h says;
 *   - a trial whose params do not fit the spec is left out before the
 *     split (Optuna counts it in n and leaves it out of the estimators);
 *   - terms of a mixture more than e^50 below its largest are left out of
 *     its sum (log_sum_exp, add_discrete): Optuna adds every one; the log
 *     density moves by less than 1e-15, and at 1,000 trials most kernels
 *     are that far from any candidate.
 *
 * Invariants: every proposed value lies in its distribution's support
 * (min..max, the q grid, the category list); history is never modified.
 */
#include "util/common.h"

#include "search/search.h"
#include "search/truncnorm.h"

#include <math.h>

#define N_STARTUP_TRIALS 10
#define N_EI_CANDIDATES 24
#define PRIOR_WEIGHT 1.0
#define GAMMA_CAP 25
#define FLAT_WEIGHTS 25
#define SKIP_BELOW_BEST 50.0
#define LOG_SQRT_2PI 0.91893853320467274178
#define NORMAL_U_MIN 1e-15 /* the normal families' CDF coordinate stays in */
#define NORMAL_U_MAX (1 - 1e-15)

/* Keeps TPE's draws apart from the random trials' (same seed, other words). */
#define TPE_SEED_DOMAIN 0x5450452d4f505455ULL

/* ---- dimensions ----------------------------------------------------------- */

typedef enum { XF_ID, XF_LOG, XF_NORMAL, XF_LOGNORMAL } xform;

typedef struct dim {
    size_t param; /* index into s->params (a group: its first parameter) */
    int group;    /* >= 0: a paired group, searched as its index */
    bool cat;     /* categorical (or group); else numeric */
    size_t nchoices;
    const double *probs; /* categorical: the spec's probabilities, or NULL */
    xform xf;
    double mu, sigma; /* XF_NORMAL, XF_LOGNORMAL */
    double lo, hi;    /* the internal range (discrete: widened by +-q/2) */
    double q;         /* discrete: the value's step; 0 = continuous */
    double vlo, vhi;  /* discrete: the first and last value of the grid */
} dim;

static bool is_q_dist(spec_dist d)
{
    return d == SPEC_DIST_Q_UNIFORM || d == SPEC_DIST_Q_LOG_UNIFORM ||
           d == SPEC_DIST_Q_LOG_UNIFORM_VALUES || d == SPEC_DIST_Q_NORMAL ||
           d == SPEC_DIST_Q_LOG_NORMAL;
}

/* The internal coordinate of value x (linear, before any rounding). */
static double to_internal(const dim *d, double x)
{
    switch (d->xf) {
    case XF_ID: return x;
    case XF_LOG: return x > 0 ? log(x) : -INFINITY;
    case XF_NORMAL: return tn_ndtr((x - d->mu) / d->sigma);
    case XF_LOGNORMAL: return x > 0 ? tn_ndtr((log(x) - d->mu) / d->sigma) : 0;
    }
    SQ_BUG("unknown transform %d", (int)d->xf);
}

/* The value at internal coordinate t. */
static double from_internal(const dim *d, double t)
{
    switch (d->xf) {
    case XF_ID: return t;
    case XF_LOG: return exp(t);
    case XF_NORMAL:
    case XF_LOGNORMAL: {
        double u = fmin(fmax(t, NORMAL_U_MIN), NORMAL_U_MAX);
        double z = d->mu + d->sigma * tn_ndtri(u);
        return d->xf == XF_NORMAL ? z : exp(z);
    }
    }
    SQ_BUG("unknown transform %d", (int)d->xf);
}

/*
 * A discrete dimension: values are multiples of q from vlo to vhi, where
 * the continuous quantity ranges over [xlo, xhi] (W&B rounds a continuous
 * draw: round(x / q) q). The internal range is Optuna's: the grid's ends
 * widened by q/2, through the transform; a widened end at or below 0 under
 * a log falls back to xlo.
 */
static void set_discrete(dim *d, double xlo, double xhi, double q)
{
    d->q = q;
    d->vlo = isfinite(xlo) ? rint(xlo / q) * q : -INFINITY;
    d->vhi = isfinite(xhi) ? rint(xhi / q) * q : INFINITY;
    if (d->xf == XF_NORMAL || d->xf == XF_LOGNORMAL) {
        d->lo = 0;
        d->hi = 1;
        return;
    }
    double wlo = d->vlo - q / 2, whi = d->vhi + q / 2;
    d->lo = to_internal(d, d->xf == XF_LOG && !(wlo > 0) ? xlo : wlo);
    d->hi = to_internal(d, whi);
}

/*
 * Fills d for numeric parameter p; false when p has a single value (not
 * searched).
 */
static bool numeric_dim(const spec_param *p, dim *d)
{
    double lo = p->min, hi = p->max;
    d->mu = p->mu;
    d->sigma = p->sigma;
    switch (p->dist) {
    case SPEC_DIST_UNIFORM:
    case SPEC_DIST_Q_UNIFORM: d->xf = XF_ID; break;
    case SPEC_DIST_INT_UNIFORM:
        d->xf = XF_ID;
        set_discrete(d, lo, hi, 1);
        return d->vlo < d->vhi;
    case SPEC_DIST_LOG_UNIFORM: /* exp(U), U in [min, max] */
    case SPEC_DIST_Q_LOG_UNIFORM:
        d->xf = XF_LOG;
        lo = exp(lo);
        hi = exp(hi);
        break;
    case SPEC_DIST_INV_LOG_UNIFORM: /* exp(-U), U in [min, max] */
        d->xf = XF_LOG;
        lo = exp(-p->max);
        hi = exp(-p->min);
        break;
    case SPEC_DIST_LOG_UNIFORM_VALUES:
    case SPEC_DIST_Q_LOG_UNIFORM_VALUES:
    case SPEC_DIST_INV_LOG_UNIFORM_VALUES: d->xf = XF_LOG; break;
    case SPEC_DIST_NORMAL:
    case SPEC_DIST_Q_NORMAL:
        d->xf = XF_NORMAL;
        lo = -INFINITY;
        hi = INFINITY;
        break;
    case SPEC_DIST_LOG_NORMAL:
    case SPEC_DIST_Q_LOG_NORMAL:
        d->xf = XF_LOGNORMAL;
        lo = 0;
        hi = INFINITY;
        break;
    default: SQ_BUG("numeric_dim on distribution %d", (int)p->dist);
    }
    if ((d->xf == XF_NORMAL || d->xf == XF_LOGNORMAL) && !(p->sigma > 0))
        return false;
    if (is_q_dist(p->dist)) {
        set_discrete(d, lo, hi, p->q);
        return d->vlo < d->vhi;
    }
    d->q = 0;
    d->lo = d->xf == XF_NORMAL || d->xf == XF_LOGNORMAL ? 0 : to_internal(d, lo);
    d->hi = d->xf == XF_NORMAL || d->xf == XF_LOGNORMAL ? 1 : to_internal(d, hi);
    return d->lo < d->hi;
}

/* The searched dimensions of s into *out (a new array); returns how many. */
static size_t make_dims(const spec *s, dim **out)
{
    dim *dims = xcalloc(s->nparams + 1, sizeof *dims);
    size_t n = 0;
    bool *group_done = xcalloc(s->ngroups + 1, sizeof *group_done);
    for (size_t i = 0; i < s->nparams; i++) {
        const spec_param *p = &s->params[i];
        dim *d = &dims[n];
        *d = (dim){0}; /* a slot left by a parameter not searched is reused */
        d->param = i;
        d->group = p->group;
        if (p->group >= 0) {
            if (group_done[p->group])
                continue;
            group_done[p->group] = true;
            d->cat = true;
            d->nchoices = s->groups[p->group].length;
            n += d->nchoices > 1;
        } else if (p->dist == SPEC_DIST_CONSTANT) {
            continue;
        } else if (p->dist == SPEC_DIST_CATEGORICAL) {
            d->cat = true;
            d->nchoices = json_array_size(p->values);
            d->probs = p->probabilities;
            n += d->nchoices > 1;
        } else {
            n += numeric_dim(p, d);
        }
    }
    free(group_done);
    *out = dims;
    return n;
}

/* ---- reading the history -------------------------------------------------- */

/* The index of v among values, or -1. */
static double choice_index(const json_t *values, const json_t *v)
{
    if (!v)
        return -1;
    for (size_t j = 0; j < json_array_size(values); j++)
        if (json_equal(json_array_get(values, j), v))
            return (double)j;
    return -1;
}

/* The index of a paired group whose lists all hold this trial's values at
 * one position, or -1. */
static double group_index(const spec *s, int g, const json_t *params)
{
    for (size_t j = 0; j < s->groups[g].length; j++) {
        bool all = true;
        for (size_t i = 0; i < s->nparams && all; i++)
            if (s->params[i].group == g)
                all = json_equal(json_array_get(s->params[i].values, j),
                                 json_object_get(params, s->params[i].name));
        if (all)
            return (double)j;
    }
    return -1;
}

/* The internal coordinate of this trial's value in dimension d, into *t;
 * false when the trial has no fitting value. */
static bool read_coord(const spec *s, const dim *d, const json_t *params, double *t)
{
    const spec_param *p = &s->params[d->param];
    if (d->group >= 0)
        *t = group_index(s, d->group, params);
    else if (d->cat)
        *t = choice_index(p->values, json_object_get(params, p->name));
    else {
        const json_t *v = json_object_get(params, p->name);
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return false;
        double x = to_internal(d, json_number_value(v));
        *t = isnan(x) ? NAN : fmin(fmax(x, d->lo), d->hi);
    }
    return !isnan(*t) && *t >= (d->cat ? 0 : -INFINITY);
}

/* One usable trial of the history. */
typedef struct trial {
    size_t order; /* its index in the history: trial order */
    search_state state;
    double score; /* lower is better: the value, negated when maximizing */
    uint64_t step;
    double *x;  /* ndims internal coordinates */
    bool below; /* split's mark */
} trial;

/* Reads the usable trials of h into *out (coordinates in coords);
 * returns how many. */
static size_t read_history(const spec *s, const dim *dims, size_t nd, const search_obs *h, size_t n,
                           double *coords, trial *out)
{
    bool maximize = s->metric.goal == SPEC_GOAL_MAXIMIZE;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const search_obs *o = &h[i];
        if (o->state == SEARCH_FAILED || (o->state == SEARCH_COMPLETE && isnan(o->value)))
            continue;
        trial *t = &out[m];
        t->x = coords + m * nd;
        bool ok = json_is_object(o->params);
        for (size_t d = 0; d < nd && ok; d++)
            ok = read_coord(s, &dims[d], o->params, &t->x[d]);
        if (!ok)
            continue;
        t->order = i;
        t->state = o->state;
        t->step = o->step;
        /* Optuna scores a pruned trial whose last value is NaN as +inf. */
        t->score = isnan(o->value) ? INFINITY : maximize ? -o->value : o->value;
        m++;
    }
    return m;
}

/* ---- the split ------------------------------------------------------------- */

/* Optuna's default_gamma: min(ceil(0.1 n), 25), in doubles as Python has it
 * (0.1 * 30 is 3.0000000000000004, so gamma(30) = 4). */
static size_t gamma_of(size_t n)
{
    double g = ceil(0.1 * (double)n);
    return g < GAMMA_CAP ? (size_t)g : GAMMA_CAP;
}

typedef struct ranked {
    double v;
    size_t i;
} ranked;

/* A key whose unsigned order is the order of the double v (v not NaN; -0
 * and +0 the same key, as they compare equal). */
static uint64_t order_key(double v)
{
    uint64_t u;
    v += 0.0; /* -0 becomes +0 */
    memcpy(&u, &v, sizeof u);
    return u >> 63 ? ~u : u | 0x8000000000000000ULL;
}

/*
 * Sorts r[0..n) by value, equal values by index (r must come in index
 * order): a least-significant-digit radix sort on order_key, 8 bits at a
 * time, skipping the digits all keys share. It is stable and has no
 * comparison chain: a merge sort's dependent loads cost more than the rest
 * of a proposal at 1,000 trials. tmp holds n items of scratch.
 */
static void sort_ranked(ranked *r, ranked *tmp, size_t n)
{
    ranked *src = r, *dst = tmp;
    for (unsigned shift = 0; shift < 64 && n > 1; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(order_key(src[i].v) >> shift) & 255]++;
        if (count[(order_key(src[0].v) >> shift) & 255] == n)
            continue; /* one digit for all: this pass would change nothing */
        size_t pos = 0;
        for (size_t d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(order_key(src[i].v) >> shift) & 255]++] = src[i];
        ranked *t = src;
        src = dst;
        dst = t;
    }
    if (src != r)
        memcpy(r, src, n * sizeof *r);
}

/* Complete before stopped; complete by score; stopped by deepest step, then
 * score; then trial order (Python's sort is stable). */
static int cmp_rank(const void *pa, const void *pb)
{
    const trial *a = *(const trial *const *)pa, *b = *(const trial *const *)pb;
    if (a->state != b->state)
        return a->state == SEARCH_COMPLETE ? -1 : 1;
    if (a->state == SEARCH_STOPPED && a->step != b->step)
        return a->step > b->step ? -1 : 1;
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

/*
 * Splits trials into below (*nb of them, first in ptrs) and above (the rest
 * of ptrs), each in trial order. Returns n, the count of complete and
 * stopped trials.
 */
static size_t split(trial *trials, size_t m, trial **ptrs, size_t *nb)
{
    /* Complete trials by score (a merge sort: many), then stopped ones by
     * cmp_rank (few). */
    ranked *r = xmalloc(2 * (m ? m : 1) * sizeof *r);
    size_t nc = 0, n = 0;
    for (size_t i = 0; i < m; i++) {
        trials[i].below = false;
        if (trials[i].state == SEARCH_COMPLETE)
            r[nc++] = (ranked){trials[i].score, i};
    }
    sort_ranked(r, r + m, nc);
    for (size_t i = 0; i < nc; i++)
        ptrs[n++] = &trials[r[i].i];
    free(r);
    for (size_t i = 0; i < m; i++)
        if (trials[i].state == SEARCH_STOPPED)
            ptrs[n++] = &trials[i];
    qsort(ptrs + nc, n - nc, sizeof *ptrs, cmp_rank);
    *nb = gamma_of(n) < n ? gamma_of(n) : n;
    for (size_t i = 0; i < *nb; i++)
        ptrs[i]->below = true;
    /* trials[] is in trial order already: deal it out again */
    size_t lo = 0, hi = *nb;
    for (size_t i = 0; i < m; i++)
        ptrs[trials[i].below ? lo++ : hi++] = &trials[i];
    return n;
}

/* ---- Parzen estimators ---------------------------------------------------- */

/* One dimension of an estimator, one entry per kernel (the prior last). */
typedef struct est_dim {
    double *mu, *sigma; /* numeric */
    double *inv_sigma, *log_sigma;
    double *lnorm; /* log of the kernel's mass over the range; continuous:
                      + log sigma + log sqrt(2 pi), all that a log density
                      subtracts besides z^2 / 2 */
    double *logp;  /* categorical: [kernel * nchoices + choice] */
} est_dim;

typedef struct estimator {
    size_t nk; /* kernels: observations + 1 */
    double *logw;
    est_dim *d;
} estimator;

/* Optuna's default_weights(m): 1 for the newest 25, older ones on a ramp
 * numpy.linspace(1 / m, 1, m - 25). */
static void default_weights(size_t m, double *w)
{
    size_t ramp = m > FLAT_WEIGHTS ? m - FLAT_WEIGHTS : 0;
    for (size_t i = 0; i < ramp; i++) {
        double lo = 1.0 / (double)m;
        w[i] = ramp == 1 ? lo : lo + (double)i * ((1.0 - lo) / (double)(ramp - 1));
    }
    for (size_t i = ramp; i < m; i++)
        w[i] = 1;
}

/*
 * The sigma of each of m kernels at mus, Optuna's rule: sort the mus
 * between the range's ends; each kernel's sigma is the larger of its gaps
 * to its sorted neighbours, except that the lowest and the highest take
 * their inner gap (consider_endpoints=False) when there are two or more;
 * then clipped to [range / min(100, m + 2), range] (the magic clip). The
 * prior's is set by the caller.
 */
static void kernel_sigmas(const dim *d, const double *mus, size_t m, double *sigma)
{
    ranked *r = xmalloc(2 * (m ? m : 1) * sizeof *r);
    double *sorted = xmalloc((m + 2) * sizeof *sorted);
    for (size_t i = 0; i < m; i++)
        r[i] = (ranked){mus[i], i};
    sort_ranked(r, r + m, m); /* stable: equal values stay in index order */
    sorted[0] = d->lo;
    for (size_t p = 0; p < m; p++)
        sorted[p + 1] = r[p].v;
    sorted[m + 1] = d->hi;
    double range = d->hi - d->lo;
    double minsigma = range / fmin(100.0, (double)m + 2);
    for (size_t p = 0; p < m; p++) {
        double left = sorted[p + 1] - sorted[p], right = sorted[p + 2] - sorted[p + 1];
        double s = fmax(left, right);
        if (m >= 2 && p == 0)
            s = right;
        else if (m >= 2 && p == m - 1)
            s = left;
        sigma[r[p].i] = fmin(fmax(s, minsigma), range);
    }
    free(sorted);
    free(r);
}

/* Fills numeric dimension e of an estimator from the kernels' mus. */
static void numeric_kernels(const dim *d, est_dim *e, size_t m)
{
    kernel_sigmas(d, e->mu, m, e->sigma);
    e->mu[m] = 0.5 * (d->lo + d->hi);
    e->sigma[m] = d->hi - d->lo;
    for (size_t k = 0; k <= m; k++) {
        double a = (d->lo - e->mu[k]) / e->sigma[k], b = (d->hi - e->mu[k]) / e->sigma[k];
        e->inv_sigma[k] = 1 / e->sigma[k];
        e->log_sigma[k] = log(e->sigma[k]);
        e->lnorm[k] = tn_log_gauss_mass(a, b);
        if (d->q == 0)
            e->lnorm[k] += e->log_sigma[k] + LOG_SQRT_2PI;
    }
}

/* Fills categorical dimension e: each row prior_weight / (m + 1) spread
 * over the choices (by the spec's probabilities when given), plus 1 on the
 * observed choice; rows normalized; logs kept. */
static void categorical_kernels(const dim *d, est_dim *e, trial **obs, size_t m, size_t di)
{
    size_t c = d->nchoices;
    double fill = PRIOR_WEIGHT / (double)(m + 1);
    for (size_t k = 0; k <= m; k++) {
        double *row = e->logp + k * c, sum = 0;
        for (size_t j = 0; j < c; j++)
            row[j] = d->probs ? fill * (double)c * d->probs[j] : fill;
        if (k < m)
            row[(size_t)obs[k]->x[di]] += 1;
        for (size_t j = 0; j < c; j++)
            sum += row[j];
        for (size_t j = 0; j < c; j++)
            row[j] = log(row[j] / sum);
    }
}

static void estimator_build(estimator *est, const dim *dims, size_t nd, trial **obs, size_t m)
{
    est->nk = m + 1;
    est->logw = xmalloc(est->nk * sizeof *est->logw);
    default_weights(m, est->logw);
    est->logw[m] = PRIOR_WEIGHT;
    double sum = 0;
    for (size_t k = 0; k <= m; k++)
        sum += est->logw[k];
    for (size_t k = 0; k <= m; k++)
        est->logw[k] = log(est->logw[k] / sum);
    est->d = xcalloc(nd, sizeof *est->d);
    for (size_t di = 0; di < nd; di++) {
        est_dim *e = &est->d[di];
        if (dims[di].cat) {
            e->logp = xmalloc(est->nk * dims[di].nchoices * sizeof *e->logp);
            categorical_kernels(&dims[di], e, obs, m, di);
            continue;
        }
        e->mu = xmalloc(5 * est->nk * sizeof *e->mu);
        e->sigma = e->mu + est->nk;
        e->inv_sigma = e->sigma + est->nk;
        e->log_sigma = e->inv_sigma + est->nk;
        e->lnorm = e->log_sigma + est->nk;
        for (size_t k = 0; k < m; k++)
            e->mu[k] = obs[k]->x[di];
        numeric_kernels(&dims[di], e, m);
    }
}

static void estimator_release(estimator *est, const dim *dims, size_t nd)
{
    for (size_t di = 0; est->d && di < nd; di++) {
        free(est->d[di].mu);
        free(est->d[di].logp);
    }
    free(est->d);
    free(est->logw);
}

/* ---- candidates ----------------------------------------------------------- */

typedef struct rng {
    uint64_t seed, number, stream;
} rng;

static double rng_unit(rng *r)
{
    return (double)(spec_rand_word(r->seed, r->number, r->stream++) >> 11) * 0x1.0p-53;
}

/* Index j with cum(w_0..w_j) >= u, for log weights: numpy's
 * sum(cumsum(p) < u), the last index past rounding. */
static size_t pick(const double *logw, size_t n, double u)
{
    double cum = 0;
    for (size_t j = 0; j + 1 < n; j++) {
        cum += exp(logw[j]);
        if (!(cum < u))
            return j;
    }
    return n - 1;
}

/* Rounds linear value x to dimension d's grid (Optuna: low + round((x -
 * low) / q) q, clipped to the grid's ends). */
static double to_grid(const dim *d, double x)
{
    double v = rint(x / d->q) * d->q;
    return fmin(fmax(v, d->vlo), d->vhi);
}

/*
 * Draws N_EI_CANDIDATES points from l into cand (row-major, nd per row):
 * continuous dimensions as internal coordinates, discrete ones as values
 * on the grid, categorical ones as indices.
 */
static void sample(const estimator *l, const dim *dims, size_t nd, rng *r, double *cand)
{
    for (size_t c = 0; c < N_EI_CANDIDATES; c++) {
        size_t k = pick(l->logw, l->nk, rng_unit(r));
        for (size_t di = 0; di < nd; di++) {
            const dim *d = &dims[di];
            const est_dim *e = &l->d[di];
            double u = rng_unit(r);
            if (d->cat) {
                cand[c * nd + di] = (double)pick(e->logp + k * d->nchoices, d->nchoices, u);
                continue;
            }
            double mu = e->mu[k], sg = e->sigma[k];
            double t = mu + sg * tn_ppf(u, (d->lo - mu) / sg, (d->hi - mu) / sg);
            t = fmin(fmax(t, d->lo), d->hi);
            cand[c * nd + di] = d->q > 0 ? to_grid(d, from_internal(d, t)) : t;
        }
    }
}

/* The internal cell [*a, *b] of grid value v. */
static void cell(const dim *d, double v, double *a, double *b)
{
    *a = fmax(to_internal(d, v - d->q / 2), d->lo);
    *b = fmin(to_internal(d, v + d->q / 2), d->hi);
}

/* log of kernel k's mass over the internal cell [a, b], over its mass on
 * the range. */
static double cell_logmass(const est_dim *e, size_t k, double a, double b)
{
    double mu = e->mu[k], inv = e->inv_sigma[k];
    return tn_log_gauss_mass((a - mu) * inv, (b - mu) * inv) - e->lnorm[k];
}

/* An upper bound of cell_logmass with no exp, log or erfc: the mass is at
 * most 1, and at most the density's peak over the cell times its width. */
static double cell_logmass_bound(const est_dim *e, size_t k, double a, double b, double logwidth)
{
    double mu = e->mu[k];
    double z = ((mu < a ? a : mu > b ? b : mu) - mu) * e->inv_sigma[k];
    double peak = -0.5 * z * z - LOG_SQRT_2PI + logwidth - e->log_sigma[k];
    return (peak < 0 ? peak : 0) - e->lnorm[k];
}

/*
 * Adds the discrete dimensions' log masses of one candidate x to row (one
 * term per kernel, the prior kernel last). Optuna computes every
 * (candidate, kernel) pair; here a kernel whose whole term is provably
 * below an exact term already computed (the prior kernel's first) by more
 * than SKIP_BELOW_BEST (by an upper bound of its masses,
 * cell_logmass_bound) is dropped from the sum: each such term is under
 * e^-50 of one that is in the sum, so with up to 10^6 kernels the
 * mixture's log density moves by less than 1e-15. It spares the erfc and
 * log calls of the far kernels, most of them once there are many trials.
 * scratch holds 3 nd doubles.
 */
static void add_discrete(const estimator *est, const dim *dims, size_t nd, const double *x,
                         double *row, double *scratch)
{
    size_t prior = est->nk - 1;
    double *a = scratch, *b = a + nd, *logwidth = b + nd;
    for (size_t di = 0; di < nd; di++)
        if (dims[di].q > 0) {
            cell(&dims[di], x[di], &a[di], &b[di]);
            logwidth[di] = log(b[di] - a[di]);
            row[prior] += cell_logmass(&est->d[di], prior, a[di], b[di]);
        }
    double ref = row[prior]; /* the largest exact term so far */
    for (size_t k = 0; k < prior; k++) {
        double bound = row[k];
        for (size_t di = 0; di < nd; di++)
            if (dims[di].q > 0)
                bound += cell_logmass_bound(&est->d[di], k, a[di], b[di], logwidth[di]);
        if (bound < ref - SKIP_BELOW_BEST) {
            row[k] = -INFINITY;
            continue;
        }
        for (size_t di = 0; di < nd; di++)
            if (dims[di].q > 0)
                row[k] += cell_logmass(&est->d[di], k, a[di], b[di]);
        ref = row[k] > ref ? row[k] : ref;
    }
}

/* Adds a continuous or categorical dimension's log density of x under each
 * of nk kernels to row. */
static void add_dim(const est_dim *e, const dim *d, double x, size_t nk, double *restrict row)
{
    if (d->cat) {
        const double *lp = e->logp + (size_t)x;
        for (size_t k = 0; k < nk; k++)
            row[k] += lp[k * d->nchoices];
        return;
    }
    const double *restrict mu = e->mu, *restrict inv = e->inv_sigma;
    const double *restrict lnorm = e->lnorm;
    size_t k = 0;
    /* Four at a time, which gcc -O2 turns into vector instructions (its
     * cheap cost model does not vectorize a loop of unknown length). */
    for (; k + 4 <= nk; k += 4) {
        double z0 = (x - mu[k]) * inv[k], z1 = (x - mu[k + 1]) * inv[k + 1];
        double z2 = (x - mu[k + 2]) * inv[k + 2], z3 = (x - mu[k + 3]) * inv[k + 3];
        row[k] -= 0.5 * z0 * z0 + lnorm[k];
        row[k + 1] -= 0.5 * z1 * z1 + lnorm[k + 1];
        row[k + 2] -= 0.5 * z2 * z2 + lnorm[k + 2];
        row[k + 3] -= 0.5 * z3 * z3 + lnorm[k + 3];
    }
    for (; k < nk; k++) {
        double z = (x - mu[k]) * inv[k];
        row[k] -= 0.5 * z * z + lnorm[k];
    }
}

/* log(sum(exp(row))) without overflow; terms below the largest by more
 * than SKIP_BELOW_BEST are left out, as in add_discrete (each is under
 * e^-50 of the largest: the sum moves by less than 1e-15 with 10^6). */
static double log_sum_exp(const double *row, size_t n)
{
    double mx = -INFINITY, sum = 0;
    for (size_t k = 0; k < n; k++)
        mx = row[k] > mx ? row[k] : mx; /* not fmax: a libm call per item */
    if (isinf(mx))
        return mx;
    for (size_t k = 0; k < n; k++)
        if (row[k] - mx > -SKIP_BELOW_BEST)
            sum += exp(row[k] - mx);
    return mx + log(sum);
}

/* log of the mixture density of each candidate, into out. */
static void log_pdf(const estimator *est, const dim *dims, size_t nd, const double *cand,
                    double *out)
{
    size_t nk = est->nk;
    bool discrete = false;
    for (size_t di = 0; di < nd; di++)
        discrete |= dims[di].q > 0;
    double *row = xmalloc((nk + 3 * nd) * sizeof *row), *scratch = row + nk;
    for (size_t c = 0; c < N_EI_CANDIDATES; c++) {
        const double *x = cand + c * nd;
        memcpy(row, est->logw, nk * sizeof *row);
        for (size_t di = 0; di < nd; di++)
            if (dims[di].q == 0)
                add_dim(&est->d[di], &dims[di], x[di], nk, row);
        if (discrete)
            add_discrete(est, dims, nd, x, row, scratch);
        out[c] = log_sum_exp(row, nk);
    }
    free(row);
}

/* ---- the answer ----------------------------------------------------------- */

/* JSON of a numeric value of p (an integer where p's draws are). */
static json_t *numeric_json(const spec_param *p, double v)
{
    bool ints = p->dist == SPEC_DIST_INT_UNIFORM ||
                (is_q_dist(p->dist) && p->int_valued && p->q == trunc(p->q));
    if (ints)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* Writes candidate row x into params (which holds the random draw). */
static void set_params(const spec *s, const dim *dims, size_t nd, const double *x, json_t *params)
{
    for (size_t di = 0; di < nd; di++) {
        const dim *d = &dims[di];
        const spec_param *p = &s->params[d->param];
        size_t j = (size_t)x[di];
        if (d->group >= 0) {
            for (size_t i = 0; i < s->nparams; i++)
                if (s->params[i].group == d->group)
                    json_object_set(params, s->params[i].name,
                                    json_array_get(s->params[i].values, j));
        } else if (d->cat) {
            json_object_set(params, p->name, json_array_get(p->values, j));
        } else {
            double v = d->q > 0 ? x[di] : from_internal(d, x[di]);
            if (d->xf == XF_ID && d->q == 0) /* the ends of uniform are exact */
                v = fmin(fmax(v, p->min), p->max);
            json_object_set_new(params, p->name, numeric_json(p, v));
        }
    }
}

/* TPE over the usable trials: fills params, or leaves the random draw when
 * there are too few. */
static void propose_tpe(const spec *s, const dim *dims, size_t nd, trial *trials, size_t m,
                        uint64_t number, json_t *params)
{
    trial **ptrs = xmalloc((m + 1) * sizeof *ptrs);
    size_t nb;
    size_t n = split(trials, m, ptrs, &nb);
    estimator below = {0}, above = {0};
    double *cand = NULL;
    if (n < N_STARTUP_TRIALS)
        goto done;
    estimator_build(&below, dims, nd, ptrs, nb);
    estimator_build(&above, dims, nd, ptrs + nb, m - nb);
    rng r = {s->seed ^ TPE_SEED_DOMAIN, number, 0};
    cand = xmalloc(N_EI_CANDIDATES * nd * sizeof *cand);
    sample(&below, dims, nd, &r, cand);
    double ll[N_EI_CANDIDATES], lg[N_EI_CANDIDATES];
    log_pdf(&below, dims, nd, cand, ll);
    log_pdf(&above, dims, nd, cand, lg);
    size_t best = 0;
    double best_acq = -INFINITY;
    for (size_t c = 0; c < N_EI_CANDIDATES; c++) {
        double acq = ll[c] - lg[c];
        if (acq > best_acq) { /* NaN (both -inf) never wins */
            best_acq = acq;
            best = c;
        }
    }
    set_params(s, dims, nd, cand + best * nd, params);
done:
    free(cand);
    estimator_release(&below, dims, nd);
    estimator_release(&above, dims, nd);
    free(ptrs);
}

int search_propose(const spec *s, const search_obs *history, size_t n, uint64_t number,
                   json_t **out)
{
    *out = NULL;
    if (!s->metric.name)
        return sq_error_set(SQ_EINVAL,
                            "sweep '%s': bayes search needs a metric to optimize; "
                            "add 'metric: {name: NAME, goal: minimize}'",
                            s->name ? s->name : "?");
    json_t *params;
    int rc = spec_trial_params(s, number, &params); /* the startup draw; checks number */
    if (rc)
        return rc;
    dim *dims;
    size_t nd = make_dims(s, &dims);
    if (nd > 0 && n > 0) {
        double *coords = xmalloc(n * nd * sizeof *coords);
        trial *trials = xmalloc(n * sizeof *trials);
        size_t m = read_history(s, dims, nd, history, n, coords, trials);
        propose_tpe(s, dims, nd, trials, m, number, params);
        free(trials);
        free(coords);
    }
    free(dims);
    *out = params;
    return 0;
}
