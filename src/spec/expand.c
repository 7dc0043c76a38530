/*
 * expand.c - from a loaded spec to its trials: how many there are, and the
 * parameters of trial N, as a grid (with paired groups) or as random draws;
 * plus the canonical JSON and key of a trial's parameters.
 *
 * Numbering (docs/spec.md, "Trials"):
 *   grid    Trials 1..N walk a mixed-radix counter whose digits are, in
 *           order, the grid parameters (group < 0; W&B's sorted by name,
 *           the sweep: form's as written, see spec.h) and then the
 *           paired groups as written; the last digit moves fastest. A
 *           paired group is one digit: index i takes item i of every list
 *           in the group. N = product of the digit sizes (capped by run_cap).
 *   random  Trial N's values are a pure function of (seed, N, parameter
 *           index): each draw comes from a counter-based generator, so trial
 *           N never depends on any other trial and can be made lazily.
 *
 * Invariants:
 *   - Grid values are the spec's own JSON values (shared, not copied:
 *     callers treat params as immutable); enumerated int_uniform and
 *     q_uniform values are made as W&B's grid search makes them.
 *   - Random draws follow W&B's definitions (wandb/sweeps params.py, ppf of
 *     a uniform x in [0, 1)); the formula is written at each case.
 *   - Everything here is a pure function of the spec and the trial number.
 */
#include "util/common.h"

#include "spec/format.h"
#include "spec/spec.h"

#include <math.h>
#include <nettle/sha2.h>

static const char *const dist_names[] = {
    [SPEC_DIST_CONSTANT] = "constant",
    [SPEC_DIST_CATEGORICAL] = "categorical",
    [SPEC_DIST_INT_UNIFORM] = "int_uniform",
    [SPEC_DIST_UNIFORM] = "uniform",
    [SPEC_DIST_Q_UNIFORM] = "q_uniform",
    [SPEC_DIST_LOG_UNIFORM] = "log_uniform",
    [SPEC_DIST_LOG_UNIFORM_VALUES] = "log_uniform_values",
    [SPEC_DIST_Q_LOG_UNIFORM] = "q_log_uniform",
    [SPEC_DIST_Q_LOG_UNIFORM_VALUES] = "q_log_uniform_values",
    [SPEC_DIST_INV_LOG_UNIFORM] = "inv_log_uniform",
    [SPEC_DIST_INV_LOG_UNIFORM_VALUES] = "inv_log_uniform_values",
    [SPEC_DIST_NORMAL] = "normal",
    [SPEC_DIST_Q_NORMAL] = "q_normal",
    [SPEC_DIST_LOG_NORMAL] = "log_normal",
    [SPEC_DIST_Q_LOG_NORMAL] = "q_log_normal",
    [SPEC_DIST_BETA] = "beta",
    [SPEC_DIST_Q_BETA] = "q_beta",
};

const char *spec_dist_name(spec_dist d)
{
    if ((size_t)d < ARRAY_SIZE(dist_names) && dist_names[d])
        return dist_names[d];
    return "unknown";
}

/* 2^63 as a double: integers from here up do not fit an int64_t. */
#define TWO63 9223372036854775808.0

/* ---- counts ------------------------------------------------------------- */

static bool q_is_integral(double q)
{
    return q == trunc(q) && fabs(q) < TWO63;
}

/*
 * Whether a quantized parameter's values are integers. W&B returns ints
 * exactly when q is an int (Python isinstance(q, int): q written as 1, not
 * 1.0 nor left to its default 1.0), and a grid's numpy.arange(min, max, q)
 * keeps ints only when all three are; the loader records that in
 * int_valued. A q with a fraction never gives integers.
 */
static bool q_gives_ints(const spec_param *p)
{
    return p->int_valued && q_is_integral(p->q);
}

/* How many values grid parameter p enumerates, into *out. */
static int grid_param_size(const spec_param *p, uint64_t *out)
{
    *out = 0; /* also on error: callers may not read it then, but it is defined */
    switch (p->dist) {
    case SPEC_DIST_CONSTANT:
    case SPEC_DIST_CATEGORICAL: {
        const json_t *vals = p->grid_values ? p->grid_values : p->values;
        *out = vals ? json_array_size(vals) : 0;
        return 0;
    }
    case SPEC_DIST_INT_UNIFORM: {
        /* range(min, max + 1), as W&B's grid turns int_uniform into values. */
        if (!(p->min <= p->max)) {
            *out = 0;
            return 0;
        }
        if (p->min < -TWO63 || p->max >= TWO63 || p->max - p->min >= TWO63 - 1)
            break;
        *out = (uint64_t)((int64_t)p->max - (int64_t)p->min) + 1;
        return 0;
    }
    case SPEC_DIST_Q_UNIFORM: {
        /* numpy.arange(min, max, q): ceil((max - min) / q) values, max left out. */
        if (!(p->q > 0))
            return sq_error_set(SQ_EINVAL, "parameter '%s': q_uniform needs q > 0 to make a grid",
                                p->name);
        double n = ceil((p->max - p->min) / p->q);
        if (!(n >= 0)) {
            *out = 0;
            return 0;
        }
        if (n >= TWO63)
            break;
        *out = (uint64_t)n;
        return 0;
    }
    default:
        return sq_error_set(SQ_EINVAL,
                            "parameter '%s': a grid cannot enumerate distribution '%s'; give "
                            "'values', use int_uniform or q_uniform, or use method: random",
                            p->name, spec_dist_name(p->dist));
    }
    return sq_error_set(SQ_EINVAL, "parameter '%s': its range has more values than a grid can hold",
                        p->name);
}

int spec_grid_size(const spec *s, uint64_t *out)
{
    uint64_t total = 1;
    *out = 0;
    for (size_t i = 0; i < s->nparams; i++) {
        if (s->params[i].group >= 0)
            continue;
        uint64_t n;
        int rc = grid_param_size(&s->params[i], &n);
        if (rc)
            return rc;
        if (n && total > UINT64_MAX / n)
            return sq_error_set(SQ_EINVAL,
                                "the grid has more than 2^64 trials at parameter '%s'; use fewer "
                                "values or method: random",
                                s->params[i].name);
        total *= n;
    }
    for (size_t g = 0; g < s->ngroups; g++) {
        uint64_t n = s->groups[g].length;
        if (n && total > UINT64_MAX / n)
            return sq_error_set(SQ_EINVAL,
                                "the grid has more than 2^64 trials at paired group '%s'; use "
                                "fewer values or method: random",
                                s->groups[g].name);
        total *= n;
    }
    *out = total;
    return 0;
}

uint64_t spec_trial_count(const spec *s)
{
    if (s->method == SPEC_METHOD_GRID) {
        uint64_t n;
        if (spec_grid_size(s, &n))
            return SPEC_UNBOUNDED; /* the loader refuses such a grid */
        return s->run_cap && s->run_cap < n ? s->run_cap : n;
    }
    return s->run_cap ? s->run_cap : SPEC_UNBOUNDED;
}

bool spec_is_open_ended(const spec *s)
{
    return s->method == SPEC_METHOD_BAYES || (s->method == SPEC_METHOD_RANDOM && !s->run_cap);
}

/* ---- grid --------------------------------------------------------------- */

/* The value at index i of grid parameter p (i < its size). */
static json_t *grid_value(const spec_param *p, uint64_t i)
{
    switch (p->dist) {
    case SPEC_DIST_CONSTANT:
    case SPEC_DIST_CATEGORICAL:
        /* grid_values: W&B's grid runs a repeated value once */
        return json_incref(json_array_get(p->grid_values ? p->grid_values : p->values, (size_t)i));
    case SPEC_DIST_INT_UNIFORM: return json_integer((json_int_t)((int64_t)p->min + (int64_t)i));
    case SPEC_DIST_Q_UNIFORM:
        if (q_gives_ints(p))
            return json_integer((json_int_t)((int64_t)p->min + (int64_t)i * (int64_t)p->q));
        /* numpy.arange fills start + i * delta with delta = (start + q) - start. */
        return json_real(p->min + (double)i * ((p->min + p->q) - p->min));
    default: SQ_BUG("grid_value on distribution %d", (int)p->dist);
    }
}

static int grid_params(const spec *s, uint64_t number, json_t *obj)
{
    uint64_t stack[32];
    size_t ndigits = s->nparams + s->ngroups;
    uint64_t *digit = ndigits <= ARRAY_SIZE(stack) ? stack : xmalloc(ndigits * sizeof *digit);
    uint64_t rest = number - 1;
    int rc = 0;
    /* Groups are the last digits, the last group fastest; then the grid
     * parameters from the last written to the first. */
    for (size_t g = s->ngroups; g-- > 0;) {
        digit[s->nparams + g] = rest % s->groups[g].length;
        rest /= s->groups[g].length;
    }
    for (size_t i = s->nparams; i-- > 0;) {
        if (s->params[i].group >= 0)
            continue;
        uint64_t n;
        rc = grid_param_size(&s->params[i], &n);
        if (rc)
            goto done;
        digit[i] = rest % n;
        rest /= n;
    }
    for (size_t i = 0; i < s->nparams; i++) {
        const spec_param *p = &s->params[i];
        json_t *v = p->group >= 0 ? json_incref(json_array_get(
                                        p->values, (size_t)digit[s->nparams + (size_t)p->group]))
                                  : grid_value(p, digit[i]);
        if (!v) {
            rc = sq_error_set(SQ_EINVAL,
                              "parameter '%s': its paired list is shorter than its group", p->name);
            goto done;
        }
        json_object_set_new_nocheck(obj, p->name, v);
    }
done:
    if (digit != stack)
        free(digit);
    return rc;
}

/* ---- random ------------------------------------------------------------- */

/* SplitMix64's output function (Steele, Lea, Flood 2014): a bijection on 64
 * bits that mixes every input bit into every output bit. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * The random word for (seed, trial number, stream): a counter-based
 * generator, so any trial's draws are made without the ones before it.
 * Parameter i uses streams 4i..4i+3 (a normal needs two uniforms); paired
 * group g uses stream 4(nparams + g). This function and the stream layout
 * are part of the trial numbering contract: changing them changes every
 * random sweep's trials.
 */
static uint64_t rand_word(uint64_t seed, uint64_t number, uint64_t stream)
{
    /* The odd multipliers spread consecutive counters over all 64 bits
     * before each mix. */
    uint64_t h = mix64(seed);
    h = mix64(h ^ (number * 0x9e3779b97f4a7c15ULL));
    return mix64(h ^ (stream * 0xd1b54a32d192ed03ULL));
}

uint64_t spec_rand_word(uint64_t seed, uint64_t number, uint64_t stream)
{
    return rand_word(seed, number, stream);
}

/* Uniform in [0, 1) with 53 random bits, like Python's random.random(). */
static double rand_unit(uint64_t seed, uint64_t number, uint64_t stream)
{
    return (double)(rand_word(seed, number, stream) >> 11) * 0x1.0p-53;
}

/* An index uniform in [0, n): the high half of word * n (Lemire). */
static uint64_t rand_index(uint64_t word, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)word * n) >> 64);
}

/* A standard normal draw by Box-Muller from two of the parameter's streams. */
static double rand_normal(uint64_t seed, uint64_t number, uint64_t stream)
{
    double u1 = 1.0 - rand_unit(seed, number, stream); /* (0, 1]: log is finite */
    double u2 = rand_unit(seed, number, stream + 1);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int real_result(const spec_param *p, double v, json_t **out)
{
    if (!isfinite(v))
        return sq_error_set(SQ_EINVAL,
                            "parameter '%s': distribution '%s' gave a value too large for a "
                            "double; narrow its range",
                            p->name, spec_dist_name(p->dist));
    *out = json_real(v);
    return 0;
}

/* W&B's quantization: round(x / q) * q (numpy rounds halves to even, as
 * rint does), an int when q is an int. */
static int quantize(const spec_param *p, double x, json_t **out)
{
    double r = rint(x / p->q);
    if (!q_gives_ints(p))
        return real_result(p, r * p->q, out);
    double v = r * p->q;
    if (!(fabs(v) < TWO63))
        return sq_error_set(SQ_EINVAL,
                            "parameter '%s': distribution '%s' gave %g, too large for an "
                            "integer; narrow its range",
                            p->name, spec_dist_name(p->dist), v);
    *out = json_integer((json_int_t)((int64_t)r * (int64_t)p->q));
    return 0;
}

/* The categorical index for x in [0, 1) with probabilities: the first value
 * whose cumulative probability passes x (numpy argmin(x >= cumsum(p))). When
 * rounding leaves the sum just under x, the last value with p > 0. */
static size_t pick_weighted(const spec_param *p, size_t n, double x)
{
    double cum = 0;
    size_t last = 0;
    for (size_t j = 0; j < n; j++) {
        cum += p->probabilities[j];
        if (p->probabilities[j] > 0)
            last = j;
        if (x < cum)
            return j;
    }
    return last;
}

/* The continued fraction of the regularized incomplete beta function
 * (modified Lentz; Press et al., Numerical Recipes, 6.4). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    d = 1 / (fabs(d) < tiny ? tiny : d);
    double h = d;
    for (int m = 1; m <= 300; m++) {
        for (int k = 0; k < 2; k++) {
            double num = k == 0 ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 + num * d;
            d = 1 / (fabs(d) < tiny ? tiny : d);
            c = 1 + num / c;
            c = fabs(c) < tiny ? tiny : c;
            h *= d * c;
            if (k == 1 && fabs(d * c - 1) < 1e-16)
                return h;
        }
    }
    return h;
}

/* I_x(a, b), the beta(a, b) distribution function at x (a, b > 0). */
static double beta_cdf(double x, double a, double b)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

/* The beta(a, b) quantile of u in [0, 1): the x with I_x(a, b) = u, by
 * bisection (the cdf is monotone; 200 halvings reach the closest double).
 * A zero shape puts all the mass at one end. */
static double beta_ppf(double u, double a, double b)
{
    if (a == 0)
        return 0;
    if (b == 0)
        return 1;
    double lo = 0, hi = 1;
    for (int i = 0; i < 200 && lo < hi; i++) {
        double mid = lo + (hi - lo) / 2;
        if (mid == lo || mid == hi)
            break;
        if (beta_cdf(mid, a, b) < u)
            lo = mid;
        else
            hi = mid;
    }
    return lo + (hi - lo) / 2;
}

static int random_value(const spec *s, size_t i, uint64_t number, json_t **out)
{
    const spec_param *p = &s->params[i];
    uint64_t seed = s->seed, stream = 4 * (uint64_t)i;
    double x = rand_unit(seed, number, stream);
    double lo = p->min, hi = p->max;
    *out = NULL;
    switch (p->dist) {
    case SPEC_DIST_CONSTANT: *out = json_incref(json_array_get(p->values, 0)); break;
    case SPEC_DIST_CATEGORICAL: {
        /* Each value with equal chance, or with its probability. */
        size_t n = json_array_size(p->values);
        if (!n)
            return sq_error_set(SQ_EINVAL, "parameter '%s' has no values", p->name);
        size_t j = p->probabilities ? pick_weighted(p, n, x)
                                    : (size_t)rand_index(rand_word(seed, number, stream), n);
        *out = json_incref(json_array_get(p->values, j));
        break;
    }
    case SPEC_DIST_INT_UNIFORM: {
        /* An integer in [min, max], both included: randint(min, max + 1). */
        if (!(lo <= hi) || lo < -TWO63 || hi >= TWO63)
            return sq_error_set(SQ_EINVAL, "parameter '%s': int_uniform needs min <= max", p->name);
        uint64_t span = (uint64_t)((int64_t)hi - (int64_t)lo) + 1; /* 0 means all 2^64 */
        uint64_t w = rand_word(seed, number, stream);
        uint64_t off = span ? rand_index(w, span) : w;
        *out = json_integer((json_int_t)((uint64_t)(int64_t)lo + off));
        break;
    }
    /* uniform: X = min + x (max - min). */
    case SPEC_DIST_UNIFORM: return real_result(p, lo + x * (hi - lo), out);
    /* q_uniform: round(X / q) q, X uniform. */
    case SPEC_DIST_Q_UNIFORM: return quantize(p, lo + x * (hi - lo), out);
    /* log_uniform: exp(U), U uniform in [min, max]. */
    case SPEC_DIST_LOG_UNIFORM: return real_result(p, exp(lo + x * (hi - lo)), out);
    /* log_uniform_values: exp(U), U uniform in [log(min), log(max)]. */
    case SPEC_DIST_LOG_UNIFORM_VALUES:
        return real_result(p, exp(log(lo) + x * (log(hi) - log(lo))), out);
    /* q_log_uniform: round(exp(U) / q) q, U uniform in [min, max]. */
    case SPEC_DIST_Q_LOG_UNIFORM: return quantize(p, exp(lo + x * (hi - lo)), out);
    /* q_log_uniform_values: round(exp(U) / q) q, U uniform in [log(min), log(max)]. */
    case SPEC_DIST_Q_LOG_UNIFORM_VALUES:
        return quantize(p, exp(log(lo) + x * (log(hi) - log(lo))), out);
    /* inv_log_uniform: X = exp(-U), U uniform in [min, max], so log(1/X) is
     * uniform in [min, max]; W&B draws U at 1 - x. */
    case SPEC_DIST_INV_LOG_UNIFORM: return real_result(p, exp(-(lo + (1 - x) * (hi - lo))), out);
    /* inv_log_uniform_values: X = exp(-U), U uniform in [log(1/max), log(1/min)]. */
    case SPEC_DIST_INV_LOG_UNIFORM_VALUES: {
        double a = -log(hi), b = -log(lo);
        return real_result(p, exp(-(a + (1 - x) * (b - a))), out);
    }
    /* normal: X = mu + sigma Z, Z standard normal. */
    case SPEC_DIST_NORMAL:
        return real_result(p, p->mu + p->sigma * rand_normal(seed, number, stream), out);
    /* q_normal: round(X / q) q, X normal. */
    case SPEC_DIST_Q_NORMAL:
        return quantize(p, p->mu + p->sigma * rand_normal(seed, number, stream), out);
    /* log_normal: X = exp(mu + sigma Z), so log(X) is normal(mu, sigma). */
    case SPEC_DIST_LOG_NORMAL:
        return real_result(p, exp(p->mu + p->sigma * rand_normal(seed, number, stream)), out);
    /* q_log_normal: round(X / q) q, X log_normal. */
    case SPEC_DIST_Q_LOG_NORMAL:
        return quantize(p, exp(p->mu + p->sigma * rand_normal(seed, number, stream)), out);
    /* beta: the beta(a, b) quantile of x (W&B: scipy.stats.beta.ppf(x, a, b)). */
    case SPEC_DIST_BETA: return real_result(p, beta_ppf(x, p->a, p->b), out);
    /* q_beta: round(X / q) q, X beta. */
    case SPEC_DIST_Q_BETA: return quantize(p, beta_ppf(x, p->a, p->b), out);
    }
    if (!*out)
        return sq_error_set(SQ_EINVAL, "parameter '%s' has no value to draw", p->name);
    return 0;
}

static int random_params(const spec *s, uint64_t number, json_t *obj)
{
    for (size_t i = 0; i < s->nparams; i++) {
        const spec_param *p = &s->params[i];
        json_t *v = NULL;
        if (p->group >= 0) {
            /* A paired group is drawn once per trial: one index for all its lists. */
            uint64_t len = s->groups[p->group].length;
            uint64_t w = rand_word(s->seed, number, 4 * (uint64_t)(s->nparams + (size_t)p->group));
            v = json_incref(json_array_get(p->values, (size_t)rand_index(w, len)));
            if (!v)
                return sq_error_set(SQ_EINVAL,
                                    "parameter '%s': its paired list is shorter than "
                                    "its group",
                                    p->name);
        } else {
            int rc = random_value(s, i, number, &v);
            if (rc)
                return rc;
        }
        json_object_set_new_nocheck(obj, p->name, v);
    }
    return 0;
}

int spec_trial_params(const spec *s, uint64_t number, json_t **out)
{
    *out = NULL;
    uint64_t count = spec_trial_count(s);
    if (number == 0 || (count != SPEC_UNBOUNDED && number > count))
        return sq_error_set(SQ_EINVAL, "trial %llu is out of range: sweep '%s' has %llu trials",
                            (unsigned long long)number, s->name ? s->name : "?",
                            (unsigned long long)count);
    if (s->method == SPEC_METHOD_GRID && count == SPEC_UNBOUNDED) {
        uint64_t n;
        return spec_grid_size(s, &n); /* says why the grid cannot be counted */
    }
    json_t *obj = json_object();
    int rc =
        s->method == SPEC_METHOD_GRID ? grid_params(s, number, obj) : random_params(s, number, obj);
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}

/* ---- canonical form and key --------------------------------------------- */

char *spec_params_canonical(const json_t *params)
{
    return spec_json_compact(params, true);
}

char *spec_params_key(const json_t *params)
{
    strbuf sb = SB_INIT;
    if (spec_json_compact_into(&sb, params, true))
        SQ_BUG("canonical JSON failed: %s", sq_error_msg());
    /* SHA-256 from nettle, not libcrypto: libcrypto alone was 3.4 MB of the
     * agent's resident memory (docs/benchmarks.md, "Agent memory"). */
    struct sha256_ctx ctx;
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, sb.len, (const uint8_t *)sb_str(&sb));
    sha256_digest(&ctx, sizeof md, md);
    sb_release(&sb);
    static const char hex[] = "0123456789abcdef";
    char *key = xmalloc(33);
    for (int i = 0; i < 16; i++) {
        key[2 * i] = hex[md[i] >> 4];
        key[2 * i + 1] = hex[md[i] & 15];
    }
    key[32] = '\0';
    return key;
}
