/*
 * load_params.c - parameters and their distributions: W&B's parameter
 * schema (which keys each distribution takes and needs, what is inferred
 * when 'distribution' is absent, nested 'parameters') and the checks the
 * sweep: form shares (names, value lists, duplicates). See load.c for the
 * rules followed and load_internal.h for the shared loader state.
 */
#include "spec/load_internal.h"

#include <ctype.h>
#include <math.h>

/* The keys of a W&B parameter, as bits. */
enum {
    PK_VALUE,
    PK_VALUES,
    PK_PROBABILITIES,
    PK_DISTRIBUTION,
    PK_MIN,
    PK_MAX,
    PK_MU,
    PK_SIGMA,
    PK_Q,
    PK_A,
    PK_B,
    PK_PARAMETERS,
    PK_COUNT
};

static const char *const param_keys[] = {"value",
                                         "values",
                                         "probabilities",
                                         "distribution",
                                         "min",
                                         "max",
                                         "mu",
                                         "sigma",
                                         "q",
                                         "a",
                                         "b",
                                         "parameters",
                                         NULL};

#define B(k) (1u << (k))
#define RANGE (B(PK_MIN) | B(PK_MAX) | B(PK_DISTRIBUTION))
#define GAUSS (B(PK_MU) | B(PK_SIGMA) | B(PK_DISTRIBUTION))

/* Each W&B distribution: the keys it takes and the keys it needs. */
static const struct dist_rule {
    const char *name;
    spec_dist dist;
    unsigned allowed, required;
} dist_rules[] = {
    {"constant", SPEC_DIST_CONSTANT, B(PK_VALUE) | B(PK_DISTRIBUTION), B(PK_VALUE)},
    /* W&B's schema: probabilities make it categorical_w_probabilities */
    {"categorical", SPEC_DIST_CATEGORICAL, B(PK_VALUES) | B(PK_DISTRIBUTION), B(PK_VALUES)},
    {"categorical_w_probabilities", SPEC_DIST_CATEGORICAL,
     B(PK_VALUES) | B(PK_PROBABILITIES) | B(PK_DISTRIBUTION), B(PK_VALUES) | B(PK_PROBABILITIES)},
    {"int_uniform", SPEC_DIST_INT_UNIFORM, RANGE, B(PK_MIN) | B(PK_MAX)},
    {"uniform", SPEC_DIST_UNIFORM, RANGE, B(PK_MIN) | B(PK_MAX)},
    {"q_uniform", SPEC_DIST_Q_UNIFORM, RANGE | B(PK_Q), B(PK_MIN) | B(PK_MAX)},
    {"log_uniform", SPEC_DIST_LOG_UNIFORM, RANGE, B(PK_MIN) | B(PK_MAX)},
    {"log_uniform_values", SPEC_DIST_LOG_UNIFORM_VALUES, RANGE, B(PK_MIN) | B(PK_MAX)},
    {"q_log_uniform", SPEC_DIST_Q_LOG_UNIFORM, RANGE | B(PK_Q), B(PK_MIN) | B(PK_MAX)},
    {"q_log_uniform_values", SPEC_DIST_Q_LOG_UNIFORM_VALUES, RANGE | B(PK_Q),
     B(PK_MIN) | B(PK_MAX)},
    {"inv_log_uniform", SPEC_DIST_INV_LOG_UNIFORM, RANGE, B(PK_MIN) | B(PK_MAX)},
    {"inv_log_uniform_values", SPEC_DIST_INV_LOG_UNIFORM_VALUES, RANGE, B(PK_MIN) | B(PK_MAX)},
    {"normal", SPEC_DIST_NORMAL, GAUSS, 0},
    {"q_normal", SPEC_DIST_Q_NORMAL, GAUSS | B(PK_Q), 0},
    {"log_normal", SPEC_DIST_LOG_NORMAL, GAUSS, 0},
    {"q_log_normal", SPEC_DIST_Q_LOG_NORMAL, GAUSS | B(PK_Q), 0},
    {"beta", SPEC_DIST_BETA, B(PK_A) | B(PK_B) | B(PK_DISTRIBUTION), 0},
    {"q_beta", SPEC_DIST_Q_BETA, B(PK_A) | B(PK_B) | B(PK_Q) | B(PK_DISTRIBUTION), 0},
};

static bool dist_is_log_values(spec_dist d)
{
    return d == SPEC_DIST_LOG_UNIFORM_VALUES || d == SPEC_DIST_Q_LOG_UNIFORM_VALUES ||
           d == SPEC_DIST_INV_LOG_UNIFORM_VALUES;
}

bool dist_has_q(spec_dist d)
{
    return d == SPEC_DIST_Q_UNIFORM || d == SPEC_DIST_Q_LOG_UNIFORM ||
           d == SPEC_DIST_Q_LOG_UNIFORM_VALUES || d == SPEC_DIST_Q_NORMAL ||
           d == SPEC_DIST_Q_LOG_NORMAL || d == SPEC_DIST_Q_BETA;
}

bool dist_is_beta(spec_dist d)
{
    return d == SPEC_DIST_BETA || d == SPEC_DIST_Q_BETA;
}

bool dist_is_gauss(spec_dist d)
{
    return d == SPEC_DIST_NORMAL || d == SPEC_DIST_Q_NORMAL || d == SPEC_DIST_LOG_NORMAL ||
           d == SPEC_DIST_Q_LOG_NORMAL;
}

bool dist_is_range(spec_dist d)
{
    return d != SPEC_DIST_CONSTANT && d != SPEC_DIST_CATEGORICAL && !dist_is_gauss(d) &&
           !dist_is_beta(d);
}

static const struct dist_rule *find_dist_rule(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(dist_rules); i++)
        if (!strcmp(dist_rules[i].name, name))
            return &dist_rules[i];
    return NULL;
}

/* The rule a parameter without 'distribution' gets: the first of d's, or with
 * probabilities the one that requires them. Looked up by value, not by a
 * constant name (gcc -O3 folds strcmp of constants and warns). */
static const struct dist_rule *implied_dist_rule(spec_dist d, bool probabilities)
{
    for (size_t i = 0; i < ARRAY_SIZE(dist_rules); i++)
        if (dist_rules[i].dist == d &&
            (!probabilities || (dist_rules[i].required & B(PK_PROBABILITIES))))
            return &dist_rules[i];
    SQ_BUG("no distribution rule for %d", (int)d);
}

/* W&B's pattern for parameter names, widened for Hydra overrides in the
 * sweep: form (+name, ++name, ~name, group/option). */
bool valid_param_name(const char *name, bool hydra)
{
    const char *p = name;
    if (hydra) {
        if (!strncmp(p, "++", 2))
            p += 2;
        else if (*p == '+' || *p == '~')
            p++;
    }
    if (!(isalpha((unsigned char)*p) || *p == '_'))
        return false;
    for (p++; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr(hydra ? "_.-/@" : "_.-", *p)))
            return false;
    return true;
}

/* Appends a parameter named name (at key), or reports it as defined twice. */
spec_param *add_param(loader *L, const char *name, const char *leaf, const ytree_node *at)
{
    spec *s = L->s;
    char *copy = xstrdup(name);
    const ytree_node *first = name_index_add(&L->params_ix, copy, at);
    if (first) {
        diag(L, at, "parameter '%s' is defined twice (first at line %d:%d); keep one", name,
             first->line, first->col);
        free(copy);
        return NULL;
    }
    XGROW(s->params, L->params_cap, s->nparams + 1);
    XGROW(L->info, L->info_cap, s->nparams + 1);
    spec_param *p = &s->params[s->nparams];
    memset(p, 0, sizeof *p);
    p->name = copy;
    p->npath = L->nnest + 1;
    p->path = xcalloc(p->npath, sizeof *p->path);
    for (size_t i = 0; i < L->nnest; i++)
        p->path[i] = xstrdup(L->nest[i]);
    p->path[L->nnest] = xstrdup(leaf);
    p->group = -1;
    p->sigma = 1;
    p->q = 1;
    memset(&L->info[s->nparams], 0, sizeof L->info[s->nparams]);
    L->info[s->nparams].at = at;
    s->nparams++;
    return p;
}

/* A non-empty list of values as a JSON array; NULL after a diag. */
json_t *value_list(loader *L, const ytree_node *n, const char *path, const char *hint)
{
    if (n->kind != YTREE_SEQ) {
        diag_type(L, n, path, "a list of values", hint);
        return NULL;
    }
    if (n->n == 0) {
        diag(L, n, "key '%s': the list is empty; give at least one value", path);
        return NULL;
    }
    return to_json(L, n, path);
}

static void load_probabilities(loader *L, spec_param *p, const ytree_node *n, const char *path)
{
    if (n->kind != YTREE_SEQ) {
        diag_type(L, n, path, "a list of numbers", NULL);
        return;
    }
    size_t nvalues = json_array_size(p->values);
    if (n->n != nvalues) {
        diag(L, n, "key '%s': has %zu probabilit%s but 'values' has %zu; give one per value", path,
             n->n, n->n == 1 ? "y" : "ies", nvalues);
        return;
    }
    double *probs = xcalloc(n->n ? n->n : 1, sizeof *probs), sum = 0;
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        char *ip = index_path(path, i);
        if (get_number(L, n->items[i], ip, &probs[i])) {
            if (probs[i] < 0) {
                diag(L, n->items[i], "key '%s': a probability cannot be negative, got %s", ip,
                     n->items[i]->text);
                ok = false;
            }
            sum += probs[i];
        } else {
            ok = false;
        }
        free(ip);
    }
    if (ok && fabs(sum - 1.0) > PROB_TOLERANCE) {
        diag(L, n, "key '%s': the probabilities sum to %.10g, not 1; make them add up to 1", path,
             sum);
        ok = false;
    }
    if (!ok) {
        free(probs);
        return;
    }
    p->probabilities = probs;
}

/* min and max of a range distribution. */
static void load_range(loader *L, spec_param *p, const ytree_node *nmin, const ytree_node *nmax,
                       const char *path)
{
    char *pmin = child_path(path, "min"), *pmax = child_path(path, "max");
    bool ok = get_number(L, nmin, pmin, &p->min);
    ok &= get_number(L, nmax, pmax, &p->max);
    if (ok && p->dist == SPEC_DIST_INT_UNIFORM) {
        const ytree_node *ends[2] = {nmin, nmax};
        const char *paths[2] = {pmin, pmax};
        for (int i = 0; i < 2; i++) {
            if (ends[i]->type != YTREE_INT) {
                diag(L, ends[i],
                     "key '%s': int_uniform needs an integer, got %s; use "
                     "'distribution: uniform' for real numbers",
                     paths[i], ends[i]->text);
                ok = false;
            } else if (fabs((double)ends[i]->integer) > MAX_EXACT_INT) {
                diag(L, ends[i], "key '%s': int_uniform bounds must lie within +-2^53, got %s",
                     paths[i], ends[i]->text);
                ok = false;
            }
        }
    }
    if (ok && !(p->min < p->max)) {
        diag(L, nmin, "key '%s': min %s is not less than max %s; swap them or widen the range",
             path, nmin->text, nmax->text);
        ok = false;
    }
    if (ok && dist_is_log_values(p->dist) && p->min <= 0) {
        diag(L, nmin,
             "key '%s': %s takes the values themselves, so min must be above 0, got %s; "
             "use '%s' to give natural-log exponents instead",
             pmin, spec_dist_name(p->dist), nmin->text,
             p->dist == SPEC_DIST_LOG_UNIFORM_VALUES     ? "log_uniform"
             : p->dist == SPEC_DIST_Q_LOG_UNIFORM_VALUES ? "q_log_uniform"
                                                         : "inv_log_uniform");
    }
    p->int_valued = p->dist == SPEC_DIST_INT_UNIFORM;
    L->info[p - L->s->params].ends_int = nmin->type == YTREE_INT && nmax->type == YTREE_INT;
    free(pmin);
    free(pmax);
}

/* beta's shapes a and b: W&B's schema takes any number >= 0, default 1.
 * Both 0 gives no distribution at all. */
static void load_beta(loader *L, spec_param *p, const ytree_node *na, const ytree_node *nb,
                      const char *path)
{
    const ytree_node *nodes[2] = {na, nb};
    double *vals[2] = {&p->a, &p->b};
    const char *names[2] = {"a", "b"};
    bool ok = true;
    for (int i = 0; i < 2; i++) {
        *vals[i] = 1;
        if (!nodes[i])
            continue;
        char *kp = child_path(path, names[i]);
        if (get_number(L, nodes[i], kp, vals[i]) && *vals[i] < 0) {
            diag(L, nodes[i], "key '%s': a beta shape cannot be negative, got %s", kp,
                 nodes[i]->text);
            ok = false;
        }
        free(kp);
    }
    if (ok && p->a == 0 && p->b == 0)
        diag(L, na, "key '%s': a and b cannot both be 0; give either a positive shape", path);
}

/* One W&B parameter: key names it, m holds its search constraints. */
static void load_wandb_param(loader *L, const ytree_node *key, const ytree_node *m,
                             const char *name, const char *path)
{
    const ytree_node *kv[PK_COUNT] = {0}, *kk[PK_COUNT] = {0};
    unsigned present = 0;
    check_keys(L, m, path, param_keys, true);
    for (int i = 0; i < PK_COUNT; i++) {
        kv[i] = map_get(m, param_keys[i], &kk[i]);
        if (kv[i])
            present |= B(i);
    }

    const struct dist_rule *rule = NULL;
    if (kv[PK_DISTRIBUTION]) {
        const char *dname;
        char *dp = child_path(path, "distribution");
        bool ok = get_string(L, kv[PK_DISTRIBUTION], dp, &dname);
        if (ok && !(rule = find_dist_rule(dname))) {
            const char *names[ARRAY_SIZE(dist_rules)];
            for (size_t i = 0; i < ARRAY_SIZE(dist_rules); i++)
                names[i] = dist_rules[i].name;
            const char *near = closest(dname, names, ARRAY_SIZE(dist_rules));
            if (near)
                diag(L, kv[PK_DISTRIBUTION],
                     "key '%s': unknown distribution '%s'; did you mean '%s'?", dp, dname, near);
            else
                diag(L, kv[PK_DISTRIBUTION],
                     "key '%s': unknown distribution '%s'; docs/spec.md lists the %zu W&B "
                     "distributions",
                     dp, dname, ARRAY_SIZE(dist_rules) - 1);
        }
        free(dp);
        if (!rule)
            return;
    } else if (kv[PK_VALUES]) {
        rule = implied_dist_rule(SPEC_DIST_CATEGORICAL, kv[PK_PROBABILITIES] != NULL);
    } else if (kv[PK_VALUE]) {
        rule = implied_dist_rule(SPEC_DIST_CONSTANT, false);
    } else if (kv[PK_MIN] && kv[PK_MAX]) {
        bool ints = kv[PK_MIN]->kind == YTREE_SCALAR && kv[PK_MIN]->type == YTREE_INT &&
                    kv[PK_MAX]->kind == YTREE_SCALAR && kv[PK_MAX]->type == YTREE_INT;
        rule = implied_dist_rule(ints ? SPEC_DIST_INT_UNIFORM : SPEC_DIST_UNIFORM, false);
    } else if (kv[PK_MIN] || kv[PK_MAX]) {
        diag(L, m, "key '%s': has '%s' but no '%s'; a range needs both min and max", path,
             kv[PK_MIN] ? "min" : "max", kv[PK_MIN] ? "max" : "min");
        return;
    } else if (kv[PK_MU] || kv[PK_SIGMA] || kv[PK_Q] || kv[PK_PROBABILITIES]) {
        const char *k = kv[PK_MU]      ? "mu"
                        : kv[PK_SIGMA] ? "sigma"
                        : kv[PK_Q]     ? "q"
                                       : "probabilities";
        diag(L, m, "key '%s': '%s' alone does not say what to sample; add %s", path, k,
             kv[PK_PROBABILITIES] ? "'values'" : "a distribution, such as 'distribution: normal'");
        return;
    } else {
        if (m->n == 0)
            diag(L, m,
                 "key '%s': the parameter is empty; give 'value', 'values', or 'min' and "
                 "'max'",
                 path);
        return;
    }

    if (kv[PK_VALUE] && kv[PK_VALUES]) {
        diag(L, kk[PK_VALUES],
             "key '%s': give either 'value' (one constant) or 'values' (a list "
             "to choose from), not both",
             path);
        return;
    }
    bool bad = false;
    for (int i = 0; i < PK_COUNT; i++) {
        if (!(present & B(i)) || (rule->allowed & B(i)))
            continue;
        char *kp = child_path(path, param_keys[i]);
        if (i == PK_PARAMETERS)
            diag(L, kk[i],
                 "key '%s': a parameter with nested 'parameters' takes no other keys; "
                 "move the others inside it",
                 kp);
        else if (i == PK_PROBABILITIES && rule->dist == SPEC_DIST_CATEGORICAL)
            diag(L, kk[i],
                 "key '%s': W&B's 'categorical' takes no probabilities; write "
                 "'distribution: categorical_w_probabilities', or leave 'distribution' out",
                 kp);
        else
            diag(L, kk[i], "key '%s': not used by distribution '%s'; remove it", kp, rule->name);
        free(kp);
        bad = true;
    }
    const char *missing[PK_COUNT];
    size_t nmissing = 0;
    for (int i = 0; i < PK_COUNT; i++)
        if ((rule->required & B(i)) && !(present & B(i)))
            missing[nmissing++] = param_keys[i];
    if (nmissing) {
        char *list = join_words(missing, nmissing, "'", "and");
        diag(L, m, "key '%s': distribution '%s' needs %s; add %s", path, rule->name, list,
             nmissing > 1 ? "them" : "it");
        free(list);
        bad = true;
    }
    if (bad)
        return;

    spec_param *p = add_param(L, name, key->text, key);
    if (!p)
        return;
    p->dist = rule->dist;
    char *kp = NULL;
    switch (p->dist) {
    case SPEC_DIST_CONSTANT: {
        kp = child_path(path, "value");
        json_t *v = to_json(L, kv[PK_VALUE], kp);
        if (v) {
            p->values = json_array();
            json_array_append_new(p->values, v);
        }
        break;
    }
    case SPEC_DIST_CATEGORICAL:
        kp = child_path(path, "values");
        p->values = value_list(L, kv[PK_VALUES], kp, NULL);
        if (p->values && kv[PK_PROBABILITIES]) {
            char *pp = child_path(path, "probabilities");
            load_probabilities(L, p, kv[PK_PROBABILITIES], pp);
            free(pp);
        }
        break;
    default:
        if (dist_is_range(p->dist))
            load_range(L, p, kv[PK_MIN], kv[PK_MAX], path);
        if (dist_is_gauss(p->dist)) {
            p->mu = 0;
            p->sigma = 1;
            if (kv[PK_MU]) {
                char *mp = child_path(path, "mu");
                get_number(L, kv[PK_MU], mp, &p->mu);
                free(mp);
            }
            if (kv[PK_SIGMA]) {
                char *sp = child_path(path, "sigma");
                if (get_number(L, kv[PK_SIGMA], sp, &p->sigma) && p->sigma < 0)
                    diag(L, kv[PK_SIGMA], "key '%s': sigma cannot be negative, got %s", sp,
                         kv[PK_SIGMA]->text);
                free(sp);
            }
        }
        if (dist_is_beta(p->dist))
            load_beta(L, p, kv[PK_A], kv[PK_B], path);
        if (dist_has_q(p->dist) && kv[PK_Q]) {
            kp = child_path(path, "q");
            if (get_number(L, kv[PK_Q], kp, &p->q) && !(p->q > 0))
                diag(L, kv[PK_Q], "key '%s': q must be above 0, got %s", kp, kv[PK_Q]->text);
            L->info[p - L->s->params].q_int = kv[PK_Q]->type == YTREE_INT;
        }
        break;
    }
    free(kp);
}

/* The W&B parameters: map, under prefix (the enclosing nested names). */
void load_wandb_params(loader *L, const ytree_node *map, const char *prefix, const char *path)
{
    check_keys(L, map, path, NULL, false);
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const ytree_node *k = map->items[i], *v = map->items[i + 1];
        if (k->kind != YTREE_SCALAR || k->type == YTREE_NULL)
            continue;
        char *name = child_path(prefix, k->text), *p = child_path(path, k->text);
        if (!valid_param_name(k->text, false)) {
            diag(L, k,
                 "key '%s': '%s' is not a parameter name; use letters, digits, '_', '.' "
                 "and '-', starting with a letter or '_'",
                 p, k->text);
        } else if (!node_ok(L, v, p)) {
            /* reported */
        } else if (v->kind != YTREE_MAP) {
            char *kt = shorten(k->text, 40);
            char *vt = shorten(v->kind == YTREE_SCALAR ? v->text : "...", 40);
            char *hint = xasprintf("write '%s: {value: %s}' for a constant, or "
                                   "'{values: [...]}' to sweep",
                                   kt, vt);
            diag_type(L, v, p, "a mapping of search constraints", hint);
            free(hint);
            free(kt);
            free(vt);
        } else {
            const ytree_node *nk, *nested = map_get(v, "parameters", &nk);
            if (nested && v->n == 2) {
                char *np = child_path(p, "parameters");
                if (!node_ok(L, nested, np)) {
                    /* reported */
                } else if (nested->kind != YTREE_MAP) {
                    diag_type(L, nested, np, "a mapping of parameters", NULL);
                } else if (nested->n == 0) {
                    diag(L, nk, "key '%s': empty; give at least one parameter", np);
                } else {
                    XGROW(L->nest, L->nest_cap, L->nnest + 1);
                    L->nest[L->nnest++] = k->text;
                    load_wandb_params(L, nested, name, np);
                    L->nnest--;
                }
                free(np);
            } else {
                load_wandb_param(L, k, v, name, p);
            }
        }
        free(name);
        free(p);
    }
}

/* The text by which W&B's grid tells values apart (grid_search.py,
 * yaml_hash): a float that is a whole number counts as that integer at the
 * top level (1 and 1.0 are one value, [1] and [1.0] are not), and mappings
 * compare with their keys sorted. Caller frees. */
static char *grid_value_key(const json_t *v)
{
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == trunc(d) && fabs(d) < 9223372036854775808.0) {
            json_t *i = json_integer((json_int_t)d);
            char *key = spec_json_compact(i, true);
            json_decref(i);
            return key;
        }
    }
    return spec_json_compact(v, true);
}

typedef struct keyed {
    char *key;
    size_t index;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* values with each repeat dropped, as W&B's grid runs them: a value keeps
 * the place of its first occurrence and takes its last occurrence's form
 * (W&B's dict(zip(hashes, values)) keeps the last). NULL when none repeats.
 * Sorting by key keeps this O(n log n) for long lists. */
static json_t *dedupe_values(const json_t *values)
{
    size_t n = json_array_size(values);
    if (n < 2)
        return NULL;
    keyed *k = xcalloc(n, sizeof *k);
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){grid_value_key(json_array_get(values, i)), i};
    qsort(k, n, sizeof *k, cmp_keyed);
    size_t *take = xcalloc(n, sizeof *take); /* first occurrence -> last + 1; else 0 */
    bool repeats = false;
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && !strcmp(k[a].key, k[b].key); b++)
            ;
        take[k[a].index] = k[b - 1].index + 1;
        repeats |= b - a > 1;
    }
    json_t *out = NULL;
    if (repeats) {
        out = json_array();
        for (size_t i = 0; i < n; i++)
            if (take[i])
                json_array_append(out, json_array_get(values, take[i] - 1));
    }
    for (size_t i = 0; i < n; i++)
        free(k[i].key);
    free(k);
    free(take);
    return out;
}

void dedupe_grid_values(loader *L)
{
    spec *s = L->s;
    if (s->dialect != SPEC_DIALECT_WANDB || s->method != SPEC_METHOD_GRID)
        return;
    for (size_t i = 0; i < s->nparams; i++) {
        spec_param *p = &s->params[i];
        if (p->dist == SPEC_DIST_CATEGORICAL && p->values && !p->probabilities)
            p->grid_values = dedupe_values(p->values);
    }
}
