/*
 * load.c - YAML spec -> struct spec, with every problem reported as a
 * file:line:col diagnostic; see spec.h for the contract and docs/spec.md
 * for the reference.
 *
 * The text goes through three stages:
 *   1. check_utf8      bytes -> known-good UTF-8 (a bad byte is reported
 *                      at its own line:col, before libyaml sees it);
 *   2. ytree_parse     UTF-8 -> a tree of marked nodes (yaml_tree.h);
 *   3. the key tables  tree -> spec fields, one handler per key, each
 *                      reporting what it finds wrong and going on, so one
 *                      run shows every error; finalize() then does the
 *                      checks that need the whole spec (method, grid size,
 *                      program, macros, default name and command).
 *
 * What W&B's own validator decides (wandb/sweeps: config/schema.json,
 * params.py, grid_search.py; docs.wandb.ai "Sweep configuration options"),
 * we decide the same way, noted where it matters:
 *   - method is required (grid, random, bayes); metric.goal defaults to
 *     minimize; every top-level key is known or refused;
 *   - the distribution, when absent, is inferred in W&B's schema order:
 *     values -> categorical (with probabilities: categorical_w_probabilities),
 *     value -> constant, min and max both integers -> int_uniform, else
 *     uniform; mu defaults to 0, sigma to 1 (sigma >= 0), q to 1.0 (q > 0);
 *   - each distribution takes only its own keys (additionalProperties false);
 *   - min must be less than max (W&B refuses min >= max); the *_values log
 *     distributions need min > 0;
 *   - a grid takes only constant, categorical without probabilities,
 *     int_uniform (min..max, both ends) and q_uniform (numpy.arange(min, max,
 *     q): max itself excluded) - grid_search.py refuses the rest;
 *   - run_cap > 0; early_terminate is hyperband with min_iter >= 1, or
 *     max_iter with s; eta > 1 (default 3); strict is a boolean;
 *   - parameter names match ^[A-Za-z_][A-Za-z0-9_.-]*$ (hpc-sweep-manager's
 *     grid also takes Hydra's +name, ++name, ~name and group/option).
 *
 * sweepq's own choices: the `sweep:` form is a grid and its default command
 * is [${env}, ${interpreter}, ${program}, ${args_no_hyphens}] (Hydra
 * overrides), W&B's is [${env}, ${interpreter}, ${program}, ${args}]; the
 * sweep's name is `name` when it is a valid name ([A-Za-z0-9_] then
 * [A-Za-z0-9._-], 64 at most: it names a directory), else the file's stem
 * made valid (W&B display names may hold spaces); max_attempts 3, lease_ttl
 * 60s (at least 2s), timeout none, cpus 1, seed 0, grid_cap 10,000,000.
 *
 * Invariants: a diagnostic about a key names its dotted path ("parameters.lr.min",
 * "command[2]"); a load that added any diagnostic returns SQ_EINVAL and no
 * spec; at most MAX_DIAGS diagnostics per load.
 */
#include "util/common.h"

#include "spec/spec.h"
#include "spec/yaml_tree.h"
#include "util/units.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <strings.h>

#define DEFAULT_GRID_CAP 10000000ULL
#define DEFAULT_MAX_ATTEMPTS 3
#define DEFAULT_LEASE_TTL 60.0
#define MIN_LEASE_TTL 2.0
#define MAX_SPEC_BYTES ((size_t)8 << 20)
#define MAX_DIAGS 200
#define PROB_TOLERANCE 1e-6
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: doubles hold every integer up to here */
#define NAME_MAX_LEN 64

/* ------------------------------------------------------------- name index */

/* A set of names, each with a node, so that finding a duplicate among n
 * keys costs O(n) and not O(n^2) (a mapping may hold 50,000 keys). */
typedef struct name_index {
    const char **names; /* borrowed */
    const ytree_node **nodes;
    size_t cap, n;
} name_index;

#define NAME_INDEX_INIT                                                                            \
    {                                                                                              \
        NULL, NULL, 0, 0                                                                           \
    }

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Adds name (with node) unless present; returns the node already there, or NULL. */
static const ytree_node *name_index_add(name_index *ix, const char *name, const ytree_node *node)
{
    if (2 * (ix->n + 1) > ix->cap) {
        name_index bigger = {NULL, NULL, ix->cap ? 2 * ix->cap : 64, 0};
        bigger.names = xcalloc(bigger.cap, sizeof *bigger.names);
        bigger.nodes = xcalloc(bigger.cap, sizeof *bigger.nodes);
        for (size_t i = 0; i < ix->cap; i++)
            if (ix->names[i])
                name_index_add(&bigger, ix->names[i], ix->nodes[i]);
        free(ix->names);
        free(ix->nodes);
        *ix = bigger;
    }
    size_t i = (size_t)(hash_name(name) & (ix->cap - 1));
    for (; ix->names[i]; i = (i + 1) & (ix->cap - 1))
        if (!strcmp(ix->names[i], name))
            return ix->nodes[i];
    ix->names[i] = name;
    ix->nodes[i] = node;
    ix->n++;
    return NULL;
}

static bool name_index_has(const name_index *ix, const char *name)
{
    if (!ix->cap)
        return false;
    for (size_t i = (size_t)(hash_name(name) & (ix->cap - 1)); ix->names[i];
         i = (i + 1) & (ix->cap - 1))
        if (!strcmp(ix->names[i], name))
            return true;
    return false;
}

static void name_index_release(name_index *ix)
{
    free(ix->names);
    free(ix->nodes);
    *ix = (name_index)NAME_INDEX_INIT;
}

/* What the loader remembers of each parameter beyond struct spec_param. */
typedef struct param_info {
    const ytree_node *at; /* where it was named */
    bool q_int;           /* q written as an integer */
    bool ends_int;        /* min and max written as integers */
} param_info;

/* A text that may hold ${macros}, checked once every parameter is known. */
typedef struct macro_use {
    const ytree_node *at;
    char *path;
    const char *text; /* borrowed from the tree */
    bool shell;       /* the command's /bin/sh form */
} macro_use;

typedef struct loader {
    const char *file;
    spec_diags *diags;
    size_t first_diag;
    size_t ndiags;
    bool truncated;
    const spec_load_options *opts;
    spec *s;
    const ytree_node *root;

    /* nodes the whole-spec checks point at */
    const ytree_node *program_key, *method_key, *method_val, *parameters_key, *sweep_key,
        *command_key, *name_val, *grid_cap_key;
    bool have_method, sweep_form;
    uint64_t own_grid_cap; /* from the spec's grid_cap key, or the default */

    param_info *info;     /* parallel to s->params */
    name_index params_ix; /* the parameters' names, each with where it was named */
    bool suggested_method, suggested_program; /* a typo's did-you-mean named them */
    size_t params_cap, info_cap, groups_cap, tags_cap, env_cap;
    macro_use *macros;
    size_t nmacros, macros_cap;
    json_t *kept;        /* W&B keys kept as written: controller, apiVersion, kind */
    json_t *kept_metric; /* metric.impute and metric.impute_while_running */
} loader;

/* ---------------------------------------------------------------- diagnostics */

static void diag(loader *L, const ytree_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void diag(loader *L, const ytree_node *at, const char *fmt, ...)
{
    if (L->ndiags >= MAX_DIAGS) {
        L->truncated = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *raw = xvasprintf(fmt, ap);
    va_end(ap);
    /* One line each: control characters from the spec's text are escaped. */
    strbuf msg = SB_INIT;
    for (const unsigned char *c = (const unsigned char *)raw; *c; c++) {
        if (*c == '\n')
            sb_adds(&msg, "\\n");
        else if (*c == '\t')
            sb_adds(&msg, "\\t");
        else if (*c < 0x20 || *c == 0x7f)
            sb_addf(&msg, "\\x%02x", *c);
        else
            sb_addc(&msg, (char)*c);
    }
    free(raw);
    if (spec_diags_add(L->diags, L->file, at ? at->line : 0, at ? at->col : 0, sb_str(&msg)))
        L->ndiags++;
    sb_release(&msg);
}

/* The first bytes of text, at most max, cut at a character boundary and
 * marked "..." when cut; caller frees. */
static char *shorten(const char *text, size_t max)
{
    size_t n = strlen(text);
    if (n <= max)
        return xstrdup(text);
    while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80)
        max--;
    return xasprintf("%.*s...", (int)max, text);
}

/* True (and the load marked truncated) once no more diagnostics fit:
 * callers skip work that would only feed a diagnostic. */
static bool diags_full(loader *L)
{
    if (L->ndiags < MAX_DIAGS)
        return false;
    L->truncated = true;
    return true;
}

static char *child_path(const char *parent, const char *key)
{
    return parent ? xasprintf("%s.%s", parent, key) : xstrdup(key);
}

static char *index_path(const char *parent, size_t i)
{
    return xasprintf("%s[%zu]", parent, i);
}

/* "a string 'abc'", "an integer '5'", "a list": the value as written, short. */
static char *describe(const ytree_node *n)
{
    if (n->kind != YTREE_SCALAR || n->type == YTREE_NULL)
        return xstrdup(ytree_describe(n));
    char *text = shorten(n->text, 40);
    char *out = xasprintf("%s '%s'", ytree_describe(n), text);
    free(text);
    return out;
}

static void diag_type(loader *L, const ytree_node *n, const char *path, const char *expected,
                      const char *hint)
{
    char *got = describe(n);
    diag(L, n, "key '%s': expected %s, got %s%s%s", path, expected, got, hint ? "; " : "",
         hint ? hint : "");
    free(got);
}

/* ----------------------------------------------------------- did you mean */

/* Optimal string alignment distance (Levenshtein plus transpositions). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return SIZE_MAX;
    size_t d[65][65];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/* The closest of candidates[0..n) to word, or NULL when none is close. */
static const char *closest(const char *word, const char *const *candidates, size_t n)
{
    size_t len = strlen(word), limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!strcasecmp(word, candidates[i]))
            return candidates[i];
        size_t d = edit_distance(word, candidates[i]);
        if (d <= limit && d < best_d) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}

static bool is_one_of(const char *word, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(word, *words))
            return true;
    return false;
}

static size_t count_words(const char *const *words)
{
    size_t n = 0;
    while (words[n])
        n++;
    return n;
}

/* "a, b or c" (conj "or") */
static char *join_words(const char *const *words, size_t n, const char *quote, const char *conj)
{
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_addf(&sb, i + 1 == n ? " %s " : ", ", conj);
        sb_addf(&sb, "%s%s%s", quote, words[i], quote);
    }
    return sb_detach(&sb);
}

/* ------------------------------------------------------------- node access */

static bool node_ok(loader *L, const ytree_node *n, const char *path)
{
    if (n->kind == YTREE_SCALAR && n->err) {
        diag(L, n, "key '%s': %s", path, n->err);
        return false;
    }
    return true;
}

/* A string scalar; quote-less numbers and booleans are refused, as W&B's
 * schema refuses them for its string keys. */
static bool get_string(loader *L, const ytree_node *n, const char *path, const char **out)
{
    if (!node_ok(L, n, path))
        return false;
    if (n->kind != YTREE_SCALAR || n->type != YTREE_STR) {
        char *text = n->kind == YTREE_SCALAR ? shorten(n->text, 40) : NULL;
        char *hint = text ? xasprintf("quote it to make it a string: \"%s\"", text) : NULL;
        diag_type(L, n, path, "a string",
                  n->kind == YTREE_SCALAR && n->type != YTREE_NULL ? hint : NULL);
        free(hint);
        free(text);
        return false;
    }
    *out = n->text;
    return true;
}

/* A non-empty string. */
static bool get_nonempty(loader *L, const ytree_node *n, const char *path, const char *what,
                         const char **out)
{
    if (!get_string(L, n, path, out))
        return false;
    if (!**out) {
        diag(L, n, "key '%s': empty; give %s", path, what);
        return false;
    }
    return true;
}

/* Any scalar but null, as the text written (command items, env values). */
static bool get_text(loader *L, const ytree_node *n, const char *path, const char **out)
{
    if (!node_ok(L, n, path))
        return false;
    if (n->kind != YTREE_SCALAR || n->type == YTREE_NULL) {
        diag_type(L, n, path, "a string", NULL);
        return false;
    }
    *out = n->text;
    return true;
}

static bool get_int(loader *L, const ytree_node *n, const char *path, int64_t min, int64_t max,
                    int64_t *out)
{
    if (!node_ok(L, n, path))
        return false;
    if (n->kind != YTREE_SCALAR || n->type != YTREE_INT) {
        diag_type(L, n, path, "an integer", NULL);
        return false;
    }
    if (n->integer < min) {
        diag(L, n, "key '%s': must be at least %" PRId64 ", got %s", path, min, n->text);
        return false;
    }
    if (n->integer > max) {
        diag(L, n, "key '%s': must be at most %" PRId64 ", got %s", path, max, n->text);
        return false;
    }
    *out = n->integer;
    return true;
}

/* A finite number, integer or not. */
static bool get_number(loader *L, const ytree_node *n, const char *path, double *out)
{
    if (!node_ok(L, n, path))
        return false;
    if (n->kind != YTREE_SCALAR || (n->type != YTREE_INT && n->type != YTREE_REAL)) {
        diag_type(L, n, path, "a number", NULL);
        return false;
    }
    double v = n->type == YTREE_INT ? (double)n->integer : n->real;
    if (!isfinite(v)) {
        diag(L, n, "key '%s': expected a finite number, got '%s'", path, n->text);
        return false;
    }
    *out = v;
    return true;
}

static bool get_bool(loader *L, const ytree_node *n, const char *path, bool *out)
{
    if (!node_ok(L, n, path))
        return false;
    if (n->kind != YTREE_SCALAR || n->type != YTREE_BOOL) {
        diag_type(L, n, path, "true or false", NULL);
        return false;
    }
    *out = n->boolean;
    return true;
}

static bool is_map(loader *L, const ytree_node *n, const char *path, const char *hint)
{
    if (n->kind == YTREE_MAP)
        return true;
    diag_type(L, n, path, "a mapping", hint);
    return false;
}

/* A duration: a number of seconds or units_parse_duration's text. */
static bool get_duration(loader *L, const ytree_node *n, const char *path, double *out)
{
    if (!node_ok(L, n, path))
        return false;
    if (n->kind == YTREE_SCALAR && (n->type == YTREE_INT || n->type == YTREE_REAL)) {
        double v = n->type == YTREE_INT ? (double)n->integer : n->real;
        if (!isfinite(v) || v < 0) {
            diag(L, n, "key '%s': a duration cannot be negative or infinite, got %s", path,
                 n->text);
            return false;
        }
        *out = v;
        return true;
    }
    if (n->kind != YTREE_SCALAR || n->type != YTREE_STR) {
        diag_type(L, n, path, "a duration such as 90s, 30m, 4h or 1d2h", NULL);
        return false;
    }
    if (units_parse_duration(n->text, out)) {
        diag(L, n, "key '%s': %s", path, sq_error_msg());
        return false;
    }
    return true;
}

/* A size: a number of bytes or units_parse_size's text. */
static bool get_size(loader *L, const ytree_node *n, const char *path, uint64_t *out)
{
    if (!node_ok(L, n, path))
        return false;
    if (n->kind == YTREE_SCALAR && n->type == YTREE_INT) {
        if (n->integer < 0) {
            diag(L, n, "key '%s': a size cannot be negative, got %s", path, n->text);
            return false;
        }
        *out = (uint64_t)n->integer;
        return true;
    }
    if (n->kind != YTREE_SCALAR || n->type != YTREE_STR) {
        diag_type(L, n, path, "a size such as 4GiB or 500MB", NULL);
        return false;
    }
    if (units_parse_size(n->text, out)) {
        diag(L, n, "key '%s': %s", path, sq_error_msg());
        return false;
    }
    return true;
}

/*
 * Checks a mapping's keys: each a scalar, none written twice (when dups;
 * parameter maps leave that to add_param), and (when known is not NULL)
 * each one of known. Unknown keys get a did-you-mean, else the list of
 * known keys (or, for big lists, a pointer to the docs).
 */
static void check_keys(loader *L, const ytree_node *map, const char *path, const char *const *known,
                       bool dups)
{
    size_t nknown = known ? count_words(known) : 0;
    name_index seen = NAME_INDEX_INIT;
    for (size_t i = 0; i < map->n && !diags_full(L); i += 2) {
        const ytree_node *k = map->items[i];
        if (k->kind != YTREE_SCALAR || k->type == YTREE_NULL) {
            char *got = describe(k);
            if (path)
                diag(L, k, "a key in '%s': expected a name, got %s", path, got);
            else
                diag(L, k, "a top-level key: expected a name, got %s", got);
            free(got);
            continue;
        }
        const ytree_node *o = dups ? name_index_add(&seen, k->text, k) : NULL;
        if (o) {
            char *p = child_path(path, k->text);
            diag(L, k, "key '%s': defined twice in this mapping (first at line %d:%d); keep one", p,
                 o->line, o->col);
            free(p);
            continue;
        }
        if (!known || is_one_of(k->text, known))
            continue;
        char *p = child_path(path, k->text);
        const char *near = closest(k->text, known, nknown);
        if (near) {
            diag(L, k, "key '%s': unknown key; did you mean '%s'?", p, near);
            if (!path) {
                L->suggested_method |= !strcmp(near, "method");
                L->suggested_program |= !strcmp(near, "program");
            }
        } else if (nknown <= 12) {
            char *list = join_words(known, nknown, "'", "or");
            diag(L, k, "key '%s': unknown key; expected %s", p, list);
            free(list);
        } else {
            diag(L, k, "key '%s': unknown key; docs/spec.md lists the keys a spec may have", p);
        }
        free(p);
    }
    name_index_release(&seen);
}

/* The value of key in map (its first occurrence), and the key node. */
static const ytree_node *map_get(const ytree_node *map, const char *key, const ytree_node **at)
{
    for (size_t i = 0; i < map->n; i += 2) {
        const ytree_node *k = map->items[i];
        if (k->kind == YTREE_SCALAR && !strcmp(k->text, key)) {
            if (at)
                *at = k;
            return map->items[i + 1];
        }
    }
    return NULL;
}

/* A value (of value:, values:, early_terminate...) as JSON; NULL after a diag. */
static json_t *to_json(loader *L, const ytree_node *n, const char *path)
{
    if (!node_ok(L, n, path))
        return NULL;
    if (n->kind == YTREE_SCALAR) {
        switch (n->type) {
        case YTREE_NULL: return json_null();
        case YTREE_BOOL: return json_boolean(n->boolean);
        case YTREE_INT: return json_integer(n->integer);
        case YTREE_REAL:
            if (!isfinite(n->real)) {
                diag(L, n,
                     "key '%s': '%s' is not a finite number, which JSON cannot hold; quote "
                     "it to pass it as a string",
                     path, n->text);
                return NULL;
            }
            return json_real(n->real);
        case YTREE_STR: break;
        }
        json_t *s = json_stringn(n->text, n->len);
        if (!s)
            diag(L, n, "key '%s': the string is not valid UTF-8", path);
        return s;
    }
    bool ok = true;
    if (n->kind == YTREE_SEQ) {
        json_t *a = json_array();
        for (size_t i = 0; i < n->n; i++) {
            char *p = index_path(path, i);
            json_t *v = to_json(L, n->items[i], p);
            free(p);
            if (v)
                json_array_append_new(a, v);
            ok &= v != NULL;
        }
        if (!ok)
            json_decref(a);
        return ok ? a : NULL;
    }
    json_t *o = json_object();
    size_t before = L->ndiags;
    check_keys(L, n, path, NULL, true);
    ok = L->ndiags == before;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const ytree_node *k = n->items[i];
        if (k->kind != YTREE_SCALAR || k->type == YTREE_NULL)
            continue;
        char *p = child_path(path, k->text);
        json_t *v = to_json(L, n->items[i + 1], p);
        free(p);
        if (v)
            json_object_setn_new(o, k->text, k->len, v);
        ok &= v != NULL;
    }
    if (!ok)
        json_decref(o);
    return ok ? o : NULL;
}

/* ------------------------------------------------------------- parameters */

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
};

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
    PK_PARAMETERS,
    PK_COUNT
};

static const char *const param_keys[] = {
    "value",      "values", "probabilities", "distribution", "min", "max", "mu", "sigma", "q",
    "parameters", NULL};

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
    {"categorical", SPEC_DIST_CATEGORICAL, B(PK_VALUES) | B(PK_PROBABILITIES) | B(PK_DISTRIBUTION),
     B(PK_VALUES)},
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
};

static bool dist_is_log_values(spec_dist d)
{
    return d == SPEC_DIST_LOG_UNIFORM_VALUES || d == SPEC_DIST_Q_LOG_UNIFORM_VALUES ||
           d == SPEC_DIST_INV_LOG_UNIFORM_VALUES;
}

static bool dist_has_q(spec_dist d)
{
    return d == SPEC_DIST_Q_UNIFORM || d == SPEC_DIST_Q_LOG_UNIFORM ||
           d == SPEC_DIST_Q_LOG_UNIFORM_VALUES || d == SPEC_DIST_Q_NORMAL ||
           d == SPEC_DIST_Q_LOG_NORMAL;
}

static bool dist_is_gauss(spec_dist d)
{
    return d == SPEC_DIST_NORMAL || d == SPEC_DIST_Q_NORMAL || d == SPEC_DIST_LOG_NORMAL ||
           d == SPEC_DIST_Q_LOG_NORMAL;
}

static bool dist_is_range(spec_dist d)
{
    return d != SPEC_DIST_CONSTANT && d != SPEC_DIST_CATEGORICAL && !dist_is_gauss(d);
}

static const struct dist_rule *find_dist_rule(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(dist_rules); i++)
        if (!strcmp(dist_rules[i].name, name))
            return &dist_rules[i];
    return NULL;
}

/* W&B's pattern for parameter names, widened for Hydra overrides in the
 * sweep: form (+name, ++name, ~name, group/option). */
static bool valid_param_name(const char *name, bool hydra)
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
static spec_param *add_param(loader *L, const char *name, const ytree_node *at)
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
    p->group = -1;
    p->sigma = 1;
    p->q = 1;
    memset(&L->info[s->nparams], 0, sizeof L->info[s->nparams]);
    L->info[s->nparams].at = at;
    s->nparams++;
    return p;
}

/* A non-empty list of values as a JSON array; NULL after a diag. */
static json_t *value_list(loader *L, const ytree_node *n, const char *path, const char *hint)
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
             pmin, dist_names[p->dist], nmin->text,
             p->dist == SPEC_DIST_LOG_UNIFORM_VALUES     ? "log_uniform"
             : p->dist == SPEC_DIST_Q_LOG_UNIFORM_VALUES ? "q_log_uniform"
                                                         : "inv_log_uniform");
    }
    p->int_valued = p->dist == SPEC_DIST_INT_UNIFORM;
    L->info[p - L->s->params].ends_int = nmin->type == YTREE_INT && nmax->type == YTREE_INT;
    free(pmin);
    free(pmax);
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
            if (!strcmp(dname, "beta") || !strcmp(dname, "q_beta"))
                diag(L, kv[PK_DISTRIBUTION],
                     "key '%s': distribution '%s' is not supported yet; use uniform or "
                     "q_uniform on [0, 1], or give 'values'",
                     dp, dname);
            else if (near)
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
        rule = find_dist_rule(kv[PK_PROBABILITIES] ? "categorical_w_probabilities" : "categorical");
    } else if (kv[PK_VALUE]) {
        rule = find_dist_rule("constant");
    } else if (kv[PK_MIN] && kv[PK_MAX]) {
        bool ints = kv[PK_MIN]->kind == YTREE_SCALAR && kv[PK_MIN]->type == YTREE_INT &&
                    kv[PK_MAX]->kind == YTREE_SCALAR && kv[PK_MAX]->type == YTREE_INT;
        rule = find_dist_rule(ints ? "int_uniform" : "uniform");
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

    spec_param *p = add_param(L, name, key);
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
static void load_wandb_params(loader *L, const ytree_node *map, const char *prefix,
                              const char *path)
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
                    load_wandb_params(L, nested, name, np);
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

/* hpc-sweep-manager: one grid entry (a list, one value, or nested names). */
static void load_hsm_entry(loader *L, const ytree_node *k, const ytree_node *v, const char *name,
                           const char *path, int group, size_t *len, const char **first)
{
    if (!valid_param_name(k->text, true)) {
        diag(L, k,
             "key '%s': '%s' is not a parameter name; use letters, digits and '_.-/@', "
             "optionally after '+', '++' or '~'",
             path, k->text);
        return;
    }
    if (!node_ok(L, v, path))
        return;
    if (v->kind == YTREE_MAP && group < 0) {
        check_keys(L, v, path, NULL, false);
        for (size_t i = 0; i + 1 < v->n; i += 2) {
            const ytree_node *ck = v->items[i];
            if (ck->kind != YTREE_SCALAR || ck->type == YTREE_NULL)
                continue;
            char *cn = child_path(name, ck->text), *cp = child_path(path, ck->text);
            load_hsm_entry(L, ck, v->items[i + 1], cn, cp, group, len, first);
            free(cn);
            free(cp);
        }
        return;
    }
    json_t *values;
    if (v->kind == YTREE_SEQ) {
        values = value_list(L, v, path, NULL);
    } else if (v->kind == YTREE_SCALAR && group < 0) {
        json_t *one = to_json(L, v, path);
        values = one ? json_array() : NULL;
        if (values)
            json_array_append_new(values, one);
    } else {
        diag_type(L, v, path, "a list of values",
                  group >= 0 ? "paired parameters are zipped, so each needs a list" : NULL);
        return;
    }
    if (!values)
        return;
    if (group >= 0) {
        if (*first && json_array_size(values) != *len) {
            diag(L, v,
                 "key '%s': has %zu values but '%s' has %zu; paired lists are zipped, so "
                 "give each the same number of values",
                 path, json_array_size(values), *first, *len);
            json_decref(values);
            return;
        }
        if (!*first) {
            *first = path;
            *len = json_array_size(values);
        }
    }
    spec_param *p = add_param(L, name, k);
    if (!p) {
        json_decref(values);
        return;
    }
    p->dist = SPEC_DIST_CATEGORICAL;
    p->values = values;
    p->group = group;
}

static void load_hsm_paired(loader *L, const ytree_node *list, const char *path)
{
    if (list->kind != YTREE_SEQ) {
        diag_type(L, list, path, "a list of groups",
                  "write '- GROUP: {name: [values], ...}' for each group");
        return;
    }
    spec *s = L->s;
    for (size_t i = 0; i < list->n; i++) {
        const ytree_node *item = list->items[i];
        char *ip = index_path(path, i);
        if (!node_ok(L, item, ip)) {
            /* reported */
        } else if (item->kind != YTREE_MAP || item->n != 2) {
            diag(L, item,
                 "key '%s': expected a mapping with one group name, such as "
                 "'- model_and_data: {model.name: [a, b], data.aug: [x, y]}'",
                 ip);
        } else {
            const ytree_node *gk = item->items[0], *gv = item->items[1];
            const char *gname;
            bool ok = get_nonempty(L, gk, ip, "a group name", &gname);
            char *gp = ok ? child_path(path, gname) : NULL;
            for (size_t g = 0; ok && g < s->ngroups; g++) {
                if (!strcmp(s->groups[g].name, gname)) {
                    diag(L, gk,
                         "key '%s': the paired group '%s' is defined twice; give each "
                         "group its own name",
                         gp, gname);
                    ok = false;
                }
            }
            if (ok && !node_ok(L, gv, gp))
                ok = false;
            if (ok && (gv->kind != YTREE_MAP || gv->n == 0)) {
                diag_type(L, gv, gp, "a mapping of parameter lists",
                          "write 'GROUP: {name: [values], ...}'");
                ok = false;
            }
            if (ok) {
                check_keys(L, gv, gp, NULL, false);
                int group = (int)s->ngroups;
                XGROW(s->groups, L->groups_cap, s->ngroups + 1);
                s->groups[group].name = xstrdup(gname);
                s->groups[group].length = 0;
                s->ngroups++;
                size_t len = 0;
                const char *first = NULL;
                char **paths = xcalloc(gv->n / 2, sizeof *paths);
                for (size_t j = 0; j + 1 < gv->n; j += 2) {
                    const ytree_node *pk = gv->items[j];
                    if (pk->kind != YTREE_SCALAR || pk->type == YTREE_NULL)
                        continue;
                    paths[j / 2] = child_path(gp, pk->text);
                    load_hsm_entry(L, pk, gv->items[j + 1], pk->text, paths[j / 2], group, &len,
                                   &first);
                }
                s->groups[group].length = len;
                for (size_t j = 0; j < gv->n / 2; j++)
                    free(paths[j]);
                free(paths);
            }
            free(gp);
        }
        free(ip);
    }
}

/* ------------------------------------------------------------ the top keys */

static void add_macro_use(loader *L, const ytree_node *at, const char *path, const char *text,
                          bool shell)
{
    XGROW(L->macros, L->macros_cap, L->nmacros + 1);
    L->macros[L->nmacros].at = at;
    L->macros[L->nmacros].path = xstrdup(path);
    L->macros[L->nmacros].text = text;
    L->macros[L->nmacros].shell = shell;
    L->nmacros++;
}

typedef void (*key_fn)(loader *L, const ytree_node *key, const ytree_node *val, const char *path);

static void key_program(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    L->program_key = k;
    if (get_nonempty(L, v, path, "the script to run, such as train.py", &s))
        L->s->program = xstrdup(s);
}

static void key_command(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    spec *s = L->s;
    L->command_key = k;
    if (!node_ok(L, v, path))
        return;
    if (v->kind == YTREE_SCALAR && v->type == YTREE_STR) {
        if (!*v->text) {
            diag(L, v,
                 "key '%s': empty; give the command as a list, such as "
                 "[\"${env}\", python3, \"${program}\", \"${args}\"]",
                 path);
            return;
        }
        s->command_shell = xstrdup(v->text);
        add_macro_use(L, v, path, v->text, true);
        return;
    }
    if (v->kind != YTREE_SEQ) {
        diag_type(L, v, path, "a list of strings (or one string to run with /bin/sh)", NULL);
        return;
    }
    if (v->n == 0) {
        diag(L, v, "key '%s': the list is empty; give at least the program to run", path);
        return;
    }
    s->command = xcalloc(v->n, sizeof *s->command);
    s->ncommand = v->n;
    for (size_t i = 0; i < v->n; i++) {
        char *ip = index_path(path, i);
        const char *text;
        if (get_text(L, v->items[i], ip, &text)) {
            s->command[i] = xstrdup(text);
            add_macro_use(L, v->items[i], ip, text, false);
        }
        free(ip);
    }
}

static void key_method(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const methods[] = {"grid", "random", "bayes", NULL};
    const char *m;
    L->method_key = k;
    L->method_val = v;
    if (!get_string(L, v, path, &m))
        return;
    for (int i = 0; methods[i]; i++) {
        if (!strcmp(m, methods[i])) {
            L->s->method = i == 0   ? SPEC_METHOD_GRID
                           : i == 1 ? SPEC_METHOD_RANDOM
                                    : SPEC_METHOD_BAYES;
            L->have_method = true;
            return;
        }
    }
    const char *near = closest(m, methods, 3);
    if (near)
        diag(L, v, "key '%s': unknown method '%s'; did you mean '%s'?", path, m, near);
    else
        diag(L, v,
             "key '%s': unknown method '%s'; use grid (every combination), random or "
             "bayes",
             path, m);
}

static void key_metric(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const keys[] = {"name", "goal", "target", "impute", "impute_while_running",
                                       NULL};
    spec *s = L->s;
    if (!is_map(L, v, path, "write 'metric: {name: val_loss, goal: minimize}'"))
        return;
    check_keys(L, v, path, keys, true);
    const ytree_node *at, *n = map_get(v, "name", &at);
    char *p;
    const char *text;
    if (!n) {
        diag(L, v,
             "key '%s': missing 'name'; name the metric to optimize, such as 'name: "
             "val_loss'",
             path);
    } else {
        p = child_path(path, "name");
        if (get_nonempty(L, n, p, "the metric's name", &text))
            s->metric.name = xstrdup(text);
        free(p);
    }
    if ((n = map_get(v, "goal", NULL))) {
        p = child_path(path, "goal");
        if (get_string(L, n, p, &text)) {
            if (!strcmp(text, "minimize"))
                s->metric.goal = SPEC_GOAL_MINIMIZE;
            else if (!strcmp(text, "maximize"))
                s->metric.goal = SPEC_GOAL_MAXIMIZE;
            else
                diag(L, n, "key '%s': expected minimize or maximize, got '%s'", p, text);
        }
        free(p);
    }
    if ((n = map_get(v, "target", NULL))) {
        p = child_path(path, "target");
        s->metric.has_target = get_number(L, n, p, &s->metric.target);
        free(p);
    }
    /* impute and impute_while_running steer W&B's bayes search: checked
     * against W&B's enums, kept in the canonical JSON. */
    static const char *const impute[] = {"latest", "best", "worst", NULL};
    for (int which = 0; which < 2; which++) {
        const char *key = which ? "impute_while_running" : "impute";
        if (!(n = map_get(v, key, NULL)))
            continue;
        if (which && n->kind == YTREE_SCALAR && n->type == YTREE_BOOL && !n->boolean) {
            json_object_set_new(L->kept_metric, key, json_string("false"));
            continue;
        }
        p = child_path(path, key);
        if (get_string(L, n, p, &text)) {
            bool ok = is_one_of(text, impute) || (which && !strcmp(text, "false"));
            if (!ok)
                diag(L, n, "key '%s': expected latest, best or worst%s, got '%s'", p,
                     which ? " (or false)" : "", text);
            else
                json_object_set_new(L->kept_metric, key, json_string(text));
        }
        free(p);
    }
}

static void key_parameters(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    L->parameters_key = k;
    if (!node_ok(L, v, path))
        return;
    if (v->kind == YTREE_MAP && v->n == 0) {
        diag(L, k, "key '%s': empty; give at least one parameter, or remove the key", path);
        return;
    }
    if (v->kind == YTREE_SCALAR && v->type == YTREE_NULL) {
        diag(L, k, "key '%s': empty; give at least one parameter, or remove the key", path);
        return;
    }
    if (!is_map(L, v, path, "write 'parameters: {lr: {values: [0.1, 0.01]}}'"))
        return;
    load_wandb_params(L, v, NULL, path);
}

static void key_run_cap(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    int64_t n;
    if (get_int(L, v, path, 1, INT64_MAX, &n))
        L->s->run_cap = (uint64_t)n;
}

static void key_early_terminate(loader *L, const ytree_node *k, const ytree_node *v,
                                const char *path)
{
    static const char *const keys[] = {"type", "min_iter", "max_iter", "s", "eta", "strict", NULL};
    if (!is_map(L, v, path, "write 'early_terminate: {type: hyperband, min_iter: 3}'"))
        return;
    size_t before = L->ndiags;
    check_keys(L, v, path, keys, true);
    const ytree_node *n;
    const char *type;
    char *p = child_path(path, "type");
    if (!(n = map_get(v, "type", NULL)))
        diag(L, v, "key '%s': missing 'type'; W&B knows 'type: hyperband'", path);
    else if (get_string(L, n, p, &type) && strcmp(type, "hyperband"))
        diag(L, n, "key '%s': unknown type '%s'; W&B knows only hyperband", p, type);
    free(p);
    int64_t iv;
    double dv;
    bool bv;
    const ytree_node *min_iter = map_get(v, "min_iter", NULL);
    const ytree_node *max_iter = map_get(v, "max_iter", NULL);
    const ytree_node *s_node = map_get(v, "s", NULL);
    if (min_iter) {
        p = child_path(path, "min_iter");
        get_int(L, min_iter, p, 1, INT64_MAX, &iv);
        free(p);
    }
    if (max_iter) {
        p = child_path(path, "max_iter");
        get_int(L, max_iter, p, 1, INT64_MAX, &iv);
        free(p);
    }
    if (s_node) {
        p = child_path(path, "s");
        get_number(L, s_node, p, &dv);
        free(p);
    }
    if ((n = map_get(v, "eta", NULL))) {
        p = child_path(path, "eta");
        if (get_number(L, n, p, &dv) && !(dv > 1))
            diag(L, n, "key '%s': eta must be above 1, got %s", p, n->text);
        free(p);
    }
    if ((n = map_get(v, "strict", NULL))) {
        p = child_path(path, "strict");
        get_bool(L, n, p, &bv);
        free(p);
    }
    if (!min_iter && !(max_iter && s_node))
        diag(L, v, "key '%s': hyperband needs 'min_iter', or 'max_iter' with 's'; add one", path);
    if (L->ndiags == before)
        L->s->early_terminate = to_json(L, v, path);
}

static void key_meta(loader *L, const ytree_node *v, const char *path, char **out)
{
    const char *s;
    if (get_string(L, v, path, &s))
        *out = xstrdup(s);
}

static void key_name(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (get_nonempty(L, v, path, "a sweep name such as lr-sweep", &s))
        L->name_val = v;
}

static void key_description(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    key_meta(L, v, path, &L->s->description);
}

static void key_entity(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    key_meta(L, v, path, &L->s->entity);
}

static void key_project(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    key_meta(L, v, path, &L->s->project);
}

/* W&B keys with no effect here, checked and kept in the canonical JSON. */
static void key_controller(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const keys[] = {"type", NULL};
    if (!is_map(L, v, path, "write 'controller: {type: local}'"))
        return;
    check_keys(L, v, path, keys, true);
    const ytree_node *t = map_get(v, "type", NULL);
    const char *type;
    char *p = child_path(path, "type");
    if (!t)
        diag(L, v, "key '%s': missing 'type'; W&B knows local and cloud", path);
    else if (get_string(L, t, p, &type) && strcmp(type, "local") && strcmp(type, "cloud"))
        diag(L, t, "key '%s': expected local or cloud, got '%s'", p, type);
    free(p);
    json_t *j = to_json(L, v, path);
    if (j)
        json_object_set_new(L->kept, "controller", j);
}

static void key_api_version(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (get_string(L, v, path, &s))
        json_object_set_new(L->kept, "apiVersion", json_string(s));
}

static void key_kind(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (!get_string(L, v, path, &s))
        return;
    if (strcmp(s, "sweep"))
        diag(L, v, "key '%s': expected 'sweep', got '%s'", path, s);
    else
        json_object_set_new(L->kept, "kind", json_string(s));
}

static void key_launch(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    diag(L, k,
         "key '%s': W&B Launch jobs and schedulers are not supported; give 'program' "
         "(and 'command') to run the script directly",
         path);
}

static void key_sweep(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const keys[] = {"grid", "paired", NULL};
    L->sweep_key = k;
    L->sweep_form = true;
    if (!is_map(L, v, path, "write 'sweep: {grid: {name: [values]}, paired: [...]}'"))
        return;
    check_keys(L, v, path, keys, true);
    const ytree_node *g = map_get(v, "grid", NULL), *pl = map_get(v, "paired", NULL);
    if (!g && !pl)
        diag(L, v, "key '%s': give 'grid' (every combination) and/or 'paired' (zipped lists)",
             path);
    if (g) {
        char *gp = child_path(path, "grid");
        if (node_ok(L, g, gp) && is_map(L, g, gp, "write 'grid: {name: [values], ...}'")) {
            check_keys(L, g, gp, NULL, false);
            for (size_t i = 0; i + 1 < g->n; i += 2) {
                const ytree_node *pk = g->items[i];
                if (pk->kind != YTREE_SCALAR || pk->type == YTREE_NULL)
                    continue;
                char *pp = child_path(gp, pk->text);
                load_hsm_entry(L, pk, g->items[i + 1], pk->text, pp, -1, NULL, NULL);
                free(pp);
            }
        }
        free(gp);
    }
    if (pl) {
        char *pp = child_path(path, "paired");
        if (node_ok(L, pl, pp))
            load_hsm_paired(L, pl, pp);
        free(pp);
    }
}

static bool valid_tag(const char *t)
{
    if (!*t || strlen(t) > 128)
        return false;
    for (; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return false;
    return true;
}

static void add_tag(loader *L, const ytree_node *n, const char *path)
{
    spec *s = L->s;
    const char *t;
    if (!get_string(L, n, path, &t))
        return;
    if (!valid_tag(t)) {
        diag(L, n, "key '%s': a tag is 1 to 128 characters with no control characters, got '%s'",
             path, t);
        return;
    }
    for (size_t i = 0; i < s->ntags; i++)
        if (!strcmp(s->tags[i], t))
            return;
    XGROW(s->tags, L->tags_cap, s->ntags + 1);
    s->tags[s->ntags++] = xstrdup(t);
}

static void key_tags(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    if (v->kind != YTREE_SEQ) {
        add_tag(L, v, path);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        char *ip = index_path(path, i);
        add_tag(L, v->items[i], ip);
        free(ip);
    }
}

static void key_seed(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    int64_t n;
    if (get_int(L, v, path, 0, INT64_MAX, &n))
        L->s->seed = (uint64_t)n;
}

static void key_resources(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    static const char *const keys[] = {"gpus", "gpu_memory", "min_free_gpu_memory", "cpus", NULL};
    spec_resources *r = &L->s->resources;
    if (!is_map(L, v, path, "write 'resources: {gpus: 1, cpus: 4}'"))
        return;
    check_keys(L, v, path, keys, true);
    const ytree_node *n;
    int64_t iv;
    char *p;
    if ((n = map_get(v, "gpus", NULL))) {
        p = child_path(path, "gpus");
        if (get_int(L, n, p, 0, 4096, &iv))
            r->gpus = (int)iv;
        free(p);
    }
    if ((n = map_get(v, "cpus", NULL))) {
        p = child_path(path, "cpus");
        if (get_int(L, n, p, 1, 1 << 20, &iv))
            r->cpus = (int)iv;
        free(p);
    }
    if ((n = map_get(v, "gpu_memory", NULL))) {
        p = child_path(path, "gpu_memory");
        get_size(L, n, p, &r->gpu_memory);
        free(p);
    }
    if ((n = map_get(v, "min_free_gpu_memory", NULL))) {
        p = child_path(path, "min_free_gpu_memory");
        get_size(L, n, p, &r->min_free_gpu_memory);
        free(p);
    }
}

static void key_max_attempts(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    int64_t n;
    if (get_int(L, v, path, 1, INT_MAX, &n))
        L->s->max_attempts = (int)n;
}

static void key_timeout(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    get_duration(L, v, path, &L->s->timeout);
}

static void key_lease_ttl(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    double ttl;
    if (!get_duration(L, v, path, &ttl))
        return;
    if (ttl < MIN_LEASE_TTL) {
        diag(L, v, "key '%s': must be at least 2s, got %s; agents renew leases every ttl/4", path,
             v->text);
        return;
    }
    L->s->lease_ttl = ttl;
}

static bool valid_env_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static void key_env(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    spec *s = L->s;
    if (!is_map(L, v, path, "write 'env: {OMP_NUM_THREADS: 4}'"))
        return;
    check_keys(L, v, path, NULL, true);
    name_index seen = NAME_INDEX_INIT;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const ytree_node *nk = v->items[i], *nv = v->items[i + 1];
        if (nk->kind != YTREE_SCALAR || nk->type == YTREE_NULL)
            continue;
        char *p = child_path(path, nk->text);
        const char *text;
        if (name_index_add(&seen, nk->text, nk)) {
            /* check_keys reported it */
        } else if (!valid_env_name(nk->text)) {
            diag(L, nk,
                 "key '%s': '%s' is not an environment variable name; use letters, "
                 "digits and '_', not starting with a digit",
                 p, nk->text);
        } else if (!strncmp(nk->text, "SWEEPQ_", 7)) {
            diag(L, nk,
                 "key '%s': names starting with SWEEPQ_ are set by sweepq for each trial; "
                 "choose another name",
                 p);
        } else if (get_text(L, nv, p, &text)) {
            XGROW(s->env, L->env_cap, s->nenv + 1);
            s->env[s->nenv].name = xstrdup(nk->text);
            s->env[s->nenv].value = xstrdup(text);
            s->nenv++;
            add_macro_use(L, nv, p, text, false);
        }
        free(p);
    }
    name_index_release(&seen);
}

static void key_workdir(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (!get_nonempty(L, v, path, "a directory, or remove the key to run in the trial directory",
                      &s))
        return;
    L->s->workdir = xstrdup(s);
    add_macro_use(L, v, path, s, false);
}

static void key_on_complete(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (get_nonempty(L, v, path, "a shell command", &s))
        L->s->on_complete = xstrdup(s);
}

static void key_metrics(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (v->kind == YTREE_SEQ) {
        diag(L, k,
             "key '%s': W&B's multi-objective 'metrics' list is not supported; here "
             "'metrics' is a pattern for metrics printed on stdout, and 'metric' names the "
             "one to optimize",
             path);
        return;
    }
    if (!get_nonempty(L, v, path, "a POSIX extended regex with two groups: name and value", &s))
        return;
    regex_t re;
    int rc = regcomp(&re, s, REG_EXTENDED);
    if (rc) {
        char msg[256];
        regerror(rc, &re, msg, sizeof msg);
        diag(L, v,
             "key '%s': invalid regular expression: %s; write a POSIX extended regex such "
             "as '([a-z_]+)=([-0-9.e]+)'",
             path, msg);
        return;
    }
    size_t groups = re.re_nsub;
    regfree(&re);
    if (groups < 2) {
        diag(L, v,
             "key '%s': the pattern has %zu capture group%s; it needs two, the metric's name "
             "then its value, such as '([a-z_]+)=([-0-9.e]+)'",
             path, groups, groups == 1 ? "" : "s");
        return;
    }
    L->s->metrics_pattern = xstrdup(s);
}

static void key_grid_cap(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    int64_t n;
    L->grid_cap_key = k;
    if (get_int(L, v, path, 1, INT64_MAX, &n))
        L->own_grid_cap = (uint64_t)n;
}

static void key_interpreter(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (get_nonempty(L, v, path, "the interpreter's name or path, such as python3", &s))
        L->s->interpreter = xstrdup(s);
}

/* Every top-level key: W&B's, hpc-sweep-manager's and sweepq's own. */
static const struct top_key {
    const char *name;
    key_fn fn;
} top_keys[] = {
    {"program", key_program},
    {"command", key_command},
    {"method", key_method},
    {"metric", key_metric},
    {"parameters", key_parameters},
    {"run_cap", key_run_cap},
    {"early_terminate", key_early_terminate},
    {"name", key_name},
    {"description", key_description},
    {"entity", key_entity},
    {"project", key_project},
    {"controller", key_controller},
    {"apiVersion", key_api_version},
    {"kind", key_kind},
    {"job", key_launch},
    {"image_uri", key_launch},
    {"scheduler", key_launch},
    {"sweep", key_sweep},
    {"tags", key_tags},
    {"seed", key_seed},
    {"resources", key_resources},
    {"max_attempts", key_max_attempts},
    {"timeout", key_timeout},
    {"lease_ttl", key_lease_ttl},
    {"env", key_env},
    {"workdir", key_workdir},
    {"on_complete", key_on_complete},
    {"metrics", key_metrics},
    {"grid_cap", key_grid_cap},
    {"interpreter", key_interpreter},
};

/* ----------------------------------------------------- whole-spec checks */

/* Grid checks with a position for each parameter; the count itself is
 * spec_grid_size's, so the cap and the expansion can never disagree. */
static void check_grid(loader *L)
{
    spec *s = L->s;
    bool ok = true;
    for (size_t i = 0; i < s->nparams; i++) {
        spec_param *p = &s->params[i];
        if (p->group >= 0)
            continue;
        if (p->probabilities) {
            diag(L, L->info[i].at,
                 "parameter '%s': method grid tries every value once, so 'probabilities' have "
                 "no use; remove them or use method random",
                 p->name);
            ok = false;
        } else if (p->dist != SPEC_DIST_CONSTANT && p->dist != SPEC_DIST_CATEGORICAL &&
                   p->dist != SPEC_DIST_INT_UNIFORM && p->dist != SPEC_DIST_Q_UNIFORM) {
            diag(L, L->info[i].at,
                 "parameter '%s': method grid cannot enumerate distribution '%s'; give "
                 "'values', use int_uniform or q_uniform, or use method random",
                 p->name, dist_names[p->dist]);
            ok = false;
        } else if (!p->values &&
                   (p->dist == SPEC_DIST_CONSTANT || p->dist == SPEC_DIST_CATEGORICAL)) {
            ok = false; /* its values were refused above */
        } else if (p->dist != SPEC_DIST_CONSTANT && p->dist != SPEC_DIST_CATEGORICAL &&
                   !(p->min < p->max && p->q > 0)) {
            ok = false; /* its range was refused above */
        }
    }
    for (size_t g = 0; g < s->ngroups; g++)
        ok &= s->groups[g].length > 0;
    if (!ok)
        return;
    const ytree_node *at = L->parameters_key ? L->parameters_key : L->sweep_key;
    uint64_t total;
    if (spec_grid_size(s, &total)) {
        diag(L, at,
             "the grid has more than 2^64 trials; use fewer values, or method random "
             "with run_cap");
    } else if (total > s->grid_cap) {
        diag(L, at,
             "the grid has %" PRIu64 " trials, more than the cap of %" PRIu64
             "; use fewer values, method random with run_cap, or raise 'grid_cap'",
             total, s->grid_cap);
    }
}

/* The macros command.c substitutes, besides ${param.NAME} and ${envvar:NAME}. */
static const char *const macro_words[] = {"env",
                                          "interpreter",
                                          "program",
                                          "args",
                                          "args_no_hyphens",
                                          "args_no_boolean_flags",
                                          "args_no_equals",
                                          "args_json",
                                          "args_json_file",
                                          "trial_dir",
                                          "trial",
                                          "sweep",
                                          NULL};

static bool valid_env_name(const char *s);

static void check_macro_text(loader *L, const macro_use *m)
{
    spec *s = L->s;
    const char *p = m->text;
    while ((p = strstr(p, "${")) && !diags_full(L)) {
        const char *name = p + 2, *end = strchr(name, '}');
        if (!end) {
            diag(L, m->at, "key '%s': '${' is not closed; write ${name}, such as ${args}", m->path);
            return;
        }
        size_t len = (size_t)(end - name);
        char *word = xstrndup(name, len);
        if (!strncmp(word, "param.", 6)) {
            const char *pname = word + 6;
            if (!name_index_has(&L->params_ix, pname) && !diags_full(L)) {
                const char **names = xcalloc(s->nparams + 1, sizeof *names);
                for (size_t i = 0; i < s->nparams; i++)
                    names[i] = s->params[i].name;
                const char *near = closest(pname, names, s->nparams);
                if (near)
                    diag(L, m->at,
                         "key '%s': '${%s}' names no parameter; did you mean "
                         "'${param.%s}'?",
                         m->path, word, near);
                else if (s->nparams)
                    diag(L, m->at,
                         "key '%s': '${%s}' names no parameter; ${param.NAME} takes "
                         "the full dotted name of a parameter of this spec",
                         m->path, word);
                else
                    diag(L, m->at, "key '%s': '${%s}' names no parameter, and this spec has none",
                         m->path, word);
                free(names);
            }
        } else if (!strncmp(word, "envvar:", 7)) {
            if (!valid_env_name(word + 7))
                diag(L, m->at,
                     "key '%s': '${%s}' needs an environment variable name after 'envvar:', "
                     "such as ${envvar:HOME}",
                     m->path, word);
        } else if (!is_one_of(word, macro_words)) {
            const char *near = closest(word, macro_words, count_words(macro_words));
            if (near)
                diag(L, m->at, "key '%s': unknown macro '${%s}'; did you mean '${%s}'?", m->path,
                     word, near);
            else if (m->shell)
                diag(L, m->at,
                     "key '%s': unknown macro '${%s}'; for a shell variable write "
                     "$%s without braces",
                     m->path, word, word);
            else
                diag(L, m->at, "key '%s': unknown macro '${%s}'; docs/spec.md lists the macros",
                     m->path, word);
        }
        free(word);
        p = end + 1;
    }
}

static bool uses_macro(const spec *s, const char *macro)
{
    for (size_t i = 0; i < s->ncommand; i++)
        if (s->command[i] && strstr(s->command[i], macro))
            return true;
    return s->command_shell && strstr(s->command_shell, macro);
}

/* W&B's default command; for hpc-sweep-manager's form the arguments are
 * Hydra overrides (name=value) instead of --name=value. */
static void default_command(spec *s, bool hydra)
{
    s->ncommand = 4;
    s->command = xcalloc(4, sizeof *s->command);
    s->command[0] = xstrdup("${env}");
    s->command[1] = xstrdup("${interpreter}");
    s->command[2] = xstrdup("${program}");
    s->command[3] = xstrdup(hydra ? "${args_no_hyphens}" : "${args}");
}

static bool valid_sweep_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || strchr("._-", s[i])))
            return false;
    return true;
}

/* The file's name without directories and extension, made a valid name. */
static char *stem_name(const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < n && sb.len < NAME_MAX_LEN; i++) {
        char c = base[i];
        if (isalnum((unsigned char)c) || strchr("._-", c))
            sb_addc(&sb, c);
        else if (sb.len && sb.buf[sb.len - 1] != '-')
            sb_addc(&sb, '-');
    }
    char *out = sb_detach(&sb);
    size_t skip = 0;
    while (out[skip] && !(isalnum((unsigned char)out[skip]) || out[skip] == '_'))
        skip++;
    memmove(out, out + skip, strlen(out + skip) + 1);
    size_t len = strlen(out);
    while (len && !(isalnum((unsigned char)out[len - 1]) || out[len - 1] == '_'))
        out[--len] = '\0';
    if (!*out) {
        free(out);
        return xstrdup("sweep");
    }
    return out;
}

/* Grid parameters first (in the order written), then each paired group. */
static void order_params(loader *L)
{
    spec *s = L->s;
    spec_param *ordered = xcalloc(s->nparams ? s->nparams : 1, sizeof *ordered);
    param_info *info = xcalloc(s->nparams ? s->nparams : 1, sizeof *info);
    size_t k = 0;
    for (int g = -1; g < (int)s->ngroups; g++) {
        for (size_t i = 0; i < s->nparams; i++) {
            if (s->params[i].group != g)
                continue;
            ordered[k] = s->params[i];
            info[k++] = L->info[i];
        }
    }
    SQ_ASSERT(k == s->nparams);
    free(s->params);
    free(L->info);
    s->params = ordered;
    L->info = info;
    L->params_cap = L->info_cap = s->nparams ? s->nparams : 1;
}

static void finalize(loader *L)
{
    spec *s = L->s;

    /* method */
    if (L->sweep_form) {
        if (L->have_method && s->method != SPEC_METHOD_GRID)
            diag(L, L->method_val,
                 "key 'method': the 'sweep:' form is a grid; set 'method: "
                 "grid' or remove 'method'");
        s->method = SPEC_METHOD_GRID;
    } else if (!L->have_method && !L->method_key && !L->suggested_method) {
        diag(L, L->root,
             "key 'method': missing; add 'method: grid' (every combination) or "
             "'method: random'");
    }
    s->grid_cap = L->opts && L->opts->grid_cap ? L->opts->grid_cap : L->own_grid_cap;

    order_params(L);
    for (size_t i = 0; i < s->nparams; i++) {
        spec_param *p = &s->params[i];
        /* W&B: a q distribution yields integers when q is written as an
         * integer (random rounds to multiples of q); a grid uses
         * numpy.arange(min, max, q), which keeps integers only when all
         * three are. */
        if (dist_has_q(p->dist))
            p->int_valued =
                L->info[i].q_int && (s->method != SPEC_METHOD_GRID ||
                                     p->dist != SPEC_DIST_Q_UNIFORM || L->info[i].ends_int);
    }
    if (s->method == SPEC_METHOD_GRID && (L->have_method || L->sweep_form))
        check_grid(L);

    /* command */
    if (!s->command && !s->command_shell && !L->command_key) {
        default_command(s, L->sweep_form);
        if (!s->program && !L->program_key && !L->suggested_program)
            diag(L, L->root,
                 "key 'program': missing; the default command runs ${interpreter} "
                 "${program} %s, so add 'program: train.py' or give a 'command'",
                 s->command[3]);
    } else if (!s->program && !L->program_key && !L->suggested_program && L->command_key &&
               uses_macro(s, "${program}")) {
        diag(L, L->command_key,
             "key 'program': missing, but the command uses ${program}; add "
             "'program: train.py'");
    }
    for (size_t i = 0; i < L->nmacros; i++)
        check_macro_text(L, &L->macros[i]);

    /* name */
    if (L->name_val && valid_sweep_name(L->name_val->text))
        s->name = xstrdup(L->name_val->text);
    else
        s->name = stem_name(L->file);
}

/* ---------------------------------------------------------- canonical JSON */

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A deep copy of v with every object's keys inserted in sorted order. */
static json_t *sorted_copy(json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) json_array_append_new(a, sorted_copy(item));
        return a;
    }
    if (!json_is_object(v))
        return json_incref(v);
    size_t n = json_object_size(v), k = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof *keys);
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item) keys[k++] = key;
    qsort(keys, n, sizeof *keys, cmp_keys);
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, keys[i], sorted_copy(json_object_get(v, keys[i])));
    free(keys);
    return o;
}

static void set_str(json_t *o, const char *key, const char *value)
{
    if (value)
        json_object_set_new(o, key, json_string(value));
}

static json_t *param_json(const spec *s, const spec_param *p)
{
    json_t *o = json_object();
    set_str(o, "name", p->name);
    set_str(o, "distribution", dist_names[p->dist]);
    json_object_set_new(o, "group",
                        p->group >= 0 ? json_string(s->groups[p->group].name) : json_null());
    json_object_set_new(o, "int_valued", json_boolean(p->int_valued));
    if (p->dist == SPEC_DIST_CONSTANT)
        json_object_set(o, "value", json_array_get(p->values, 0));
    if (p->dist == SPEC_DIST_CATEGORICAL)
        json_object_set(o, "values", p->values);
    if (p->probabilities) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(p->values); i++)
            json_array_append_new(a, json_real(p->probabilities[i]));
        json_object_set_new(o, "probabilities", a);
    }
    if (dist_is_range(p->dist)) {
        if (p->dist == SPEC_DIST_INT_UNIFORM) {
            json_object_set_new(o, "min", json_integer((json_int_t)p->min));
            json_object_set_new(o, "max", json_integer((json_int_t)p->max));
        } else {
            json_object_set_new(o, "min", json_real(p->min));
            json_object_set_new(o, "max", json_real(p->max));
        }
    }
    if (dist_is_gauss(p->dist)) {
        json_object_set_new(o, "mu", json_real(p->mu));
        json_object_set_new(o, "sigma", json_real(p->sigma));
    }
    if (dist_has_q(p->dist))
        json_object_set_new(o, "q", json_real(p->q));
    return o;
}

static const char *method_name(spec_method m)
{
    return m == SPEC_METHOD_GRID ? "grid" : m == SPEC_METHOD_RANDOM ? "random" : "bayes";
}

/*
 * The whole spec, resolved (distributions inferred, defaults filled, sizes
 * in bytes, durations in seconds, tags sorted), so that equivalent files
 * give equal JSON. Parameters stay a list: their order numbers the trials.
 */
static json_t *build_canonical(const spec *s, const loader *L)
{
    json_t *o = json_deep_copy(L->kept);
    set_str(o, "name", s->name);
    set_str(o, "description", s->description);
    set_str(o, "entity", s->entity);
    set_str(o, "project", s->project);
    if (s->ntags) {
        const char **tags = xcalloc(s->ntags, sizeof *tags);
        memcpy(tags, s->tags, s->ntags * sizeof *tags);
        qsort(tags, s->ntags, sizeof *tags, cmp_keys);
        json_t *a = json_array();
        for (size_t i = 0; i < s->ntags; i++)
            json_array_append_new(a, json_string(tags[i]));
        free(tags);
        json_object_set_new(o, "tags", a);
    }
    set_str(o, "program", s->program);
    set_str(o, "interpreter", s->interpreter);
    if (s->command_shell) {
        set_str(o, "command_shell", s->command_shell);
    } else {
        json_t *a = json_array();
        for (size_t i = 0; i < s->ncommand; i++)
            json_array_append_new(a, json_string(s->command[i]));
        json_object_set_new(o, "command", a);
    }
    if (s->nenv) {
        json_t *e = json_object();
        for (size_t i = 0; i < s->nenv; i++)
            json_object_set_new(e, s->env[i].name, json_string(s->env[i].value));
        json_object_set_new(o, "env", e);
    }
    set_str(o, "workdir", s->workdir);
    set_str(o, "on_complete", s->on_complete);
    set_str(o, "metrics", s->metrics_pattern);
    set_str(o, "method", method_name(s->method));
    if (s->metric.name) {
        json_t *m = json_deep_copy(L->kept_metric);
        set_str(m, "name", s->metric.name);
        set_str(m, "goal", s->metric.goal == SPEC_GOAL_MAXIMIZE ? "maximize" : "minimize");
        if (s->metric.has_target)
            json_object_set_new(m, "target", json_real(s->metric.target));
        json_object_set_new(o, "metric", m);
    }
    json_t *params = json_array();
    for (size_t i = 0; i < s->nparams; i++)
        json_array_append_new(params, param_json(s, &s->params[i]));
    json_object_set_new(o, "parameters", params);
    if (s->ngroups) {
        json_t *g = json_array();
        for (size_t i = 0; i < s->ngroups; i++) {
            json_t *x = json_object();
            set_str(x, "name", s->groups[i].name);
            json_object_set_new(x, "length", json_integer((json_int_t)s->groups[i].length));
            json_array_append_new(g, x);
        }
        json_object_set_new(o, "groups", g);
    }
    if (s->run_cap)
        json_object_set_new(o, "run_cap", json_integer((json_int_t)s->run_cap));
    if (s->early_terminate)
        json_object_set(o, "early_terminate", s->early_terminate);
    json_object_set_new(o, "seed", json_integer((json_int_t)s->seed));
    /* the spec's own cap, not a load option's, so the JSON is the file's */
    json_object_set_new(o, "grid_cap", json_integer((json_int_t)L->own_grid_cap));
    json_t *r = json_object();
    json_object_set_new(r, "gpus", json_integer(s->resources.gpus));
    json_object_set_new(r, "gpu_memory", json_integer((json_int_t)s->resources.gpu_memory));
    json_object_set_new(r, "min_free_gpu_memory",
                        json_integer((json_int_t)s->resources.min_free_gpu_memory));
    json_object_set_new(r, "cpus", json_integer(s->resources.cpus));
    json_object_set_new(o, "resources", r);
    json_object_set_new(o, "max_attempts", json_integer(s->max_attempts));
    json_object_set_new(o, "timeout", json_real(s->timeout));
    json_object_set_new(o, "lease_ttl", json_real(s->lease_ttl));
    json_t *sorted = sorted_copy(o);
    json_decref(o);
    return sorted;
}

/* ------------------------------------------------------------ entry points */

/* Offset of the first byte that is not UTF-8 (or is a control character
 * YAML forbids), or len when the text is clean. */
static size_t check_utf8(const unsigned char *t, size_t len, const char **why)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = t[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
                *why = "is a control character, which YAML does not allow";
                return i;
            }
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07;
        } else {
            *why = "is not UTF-8";
            return i;
        }
        for (size_t k = 1; k < n; k++) {
            if (i + k >= len) {
                *why = "starts a UTF-8 sequence that the file cuts short";
                return i;
            }
            if ((t[i + k] & 0xC0) != 0x80) {
                *why = "is not UTF-8";
                return i;
            }
            cp = (cp << 6) | (t[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            *why = "is not UTF-8 (an overlong form or a surrogate)";
            return i;
        }
        i += n;
    }
    return len;
}

static void mark_of_offset(const char *text, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void loader_release(loader *L)
{
    for (size_t i = 0; i < L->nmacros; i++)
        free(L->macros[i].path);
    free(L->macros);
    free(L->info);
    name_index_release(&L->params_ix);
    json_decref(L->kept);
    json_decref(L->kept_metric);
}

/* Parses and checks text into L->s; diagnostics tell whether it worked. */
static void load_text(loader *L, const char *text, size_t len)
{
    const char *why = NULL;
    size_t bad = check_utf8((const unsigned char *)text, len, &why);
    if (bad < len) {
        int line, col;
        mark_of_offset(text, bad, &line, &col);
        ytree_node at = {.line = line, .col = col};
        diag(L, &at, "byte 0x%02x %s; save the file as UTF-8 text", (unsigned char)text[bad], why);
        return;
    }
    ytree t = YTREE_INIT;
    char *err = NULL;
    int line, col;
    if (ytree_parse(&t, text, len, &err, &line, &col)) {
        ytree_node at = {.line = line, .col = col};
        diag(L, line ? &at : NULL, "%s", err);
        free(err);
        ytree_release(&t);
        return;
    }
    const ytree_node *root = t.root;
    L->root = root;
    if (!root || (root->kind == YTREE_SCALAR && root->type == YTREE_NULL)) {
        ytree_node at = {.line = 1, .col = 1};
        diag(L, &at,
             "the spec is empty; write at least 'program', 'method' and 'parameters' "
             "(see docs/spec.md)");
    } else if (root->kind != YTREE_MAP) {
        char *got = describe(root);
        diag(L, root,
             "the spec must be a mapping of keys such as program, method and "
             "parameters; got %s",
             got);
        free(got);
    } else {
        const char *names[ARRAY_SIZE(top_keys) + 1];
        for (size_t i = 0; i < ARRAY_SIZE(top_keys); i++)
            names[i] = top_keys[i].name;
        names[ARRAY_SIZE(top_keys)] = NULL;
        check_keys(L, root, NULL, names, true);
        name_index seen = NAME_INDEX_INIT;
        for (size_t i = 0; i + 1 < root->n; i += 2) {
            const ytree_node *k = root->items[i];
            /* only a key's first occurrence counts; check_keys reported the rest */
            if (k->kind != YTREE_SCALAR || name_index_add(&seen, k->text, k))
                continue;
            for (size_t j = 0; j < ARRAY_SIZE(top_keys); j++)
                if (!strcmp(top_keys[j].name, k->text))
                    top_keys[j].fn(L, k, root->items[i + 1], k->text);
        }
        name_index_release(&seen);
        finalize(L);
    }
    ytree_release(&t);
}

int spec_load_string(spec **out, const char *text, size_t len, const char *name,
                     const spec_load_options *opts, spec_diags *diags)
{
    loader L = {.file = name ? name : "<string>", .diags = diags, .opts = opts};
    L.first_diag = diags->n;
    L.kept = json_object();
    L.kept_metric = json_object();
    L.own_grid_cap = DEFAULT_GRID_CAP;
    *out = NULL;

    spec *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(L.file);
    s->source = xstrndup(text, len);
    s->max_attempts = DEFAULT_MAX_ATTEMPTS;
    s->lease_ttl = DEFAULT_LEASE_TTL;
    s->resources.cpus = 1;
    s->grid_cap = DEFAULT_GRID_CAP;
    L.s = s;

    load_text(&L, text, len);
    spec_diags_sort(diags, L.first_diag);
    if (L.truncated)
        spec_diags_add(diags, L.file, 0, 0,
                       "too many errors; fix the ones above and run again to see the rest");
    int rc = 0;
    if (diags->n > L.first_diag) {
        spec_free(s);
        rc = SQ_EINVAL;
    } else {
        s->canonical = build_canonical(s, &L);
        *out = s;
    }
    loader_release(&L);
    return rc;
}

int spec_load_file(spec **out, const char *path, const spec_load_options *opts, spec_diags *diags)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        char *msg = xasprintf("cannot open spec: %s", strerror(err));
        spec_diags_add(diags, path, 0, 0, msg);
        free(msg);
        return sq_error_set(err == ENOENT ? SQ_ENOTFOUND : SQ_EIO, "cannot open spec '%s': %s",
                            path, strerror(err));
    }
    strbuf sb = SB_INIT;
    sb_init(&sb, MAX_SPEC_BYTES);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = sb_add(&sb, chunk, n);
    const char *problem = NULL;
    char *owned = NULL;
    if (rc)
        problem = "the spec is larger than 8 MiB; a spec describes a sweep, it does not list it";
    else if (ferror(f))
        problem = owned = xasprintf("cannot read spec: %s", strerror(errno));
    fclose(f);
    if (problem) {
        spec_diags_add(diags, path, 0, 0, problem);
        rc = sq_error_set(SQ_EIO, "cannot read spec '%s': %s", path, problem);
        free(owned);
        sb_release(&sb);
        return rc;
    }
    rc = spec_load_string(out, sb_str(&sb), sb.len, path, opts, diags);
    sb_release(&sb);
    if (rc)
        sq_error_set(rc, "spec '%s' is not valid", path);
    return rc;
}

void spec_free(spec *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->source);
    free(s->name);
    free(s->description);
    free(s->entity);
    free(s->project);
    for (size_t i = 0; i < s->ntags; i++)
        free(s->tags[i]);
    free(s->tags);
    free(s->program);
    free(s->interpreter);
    for (size_t i = 0; i < s->ncommand; i++)
        free(s->command[i]);
    free(s->command);
    free(s->command_shell);
    for (size_t i = 0; i < s->nenv; i++) {
        free(s->env[i].name);
        free(s->env[i].value);
    }
    free(s->env);
    free(s->workdir);
    free(s->on_complete);
    free(s->metrics_pattern);
    free(s->metric.name);
    for (size_t i = 0; i < s->nparams; i++) {
        free(s->params[i].name);
        json_decref(s->params[i].values);
        free(s->params[i].probabilities);
    }
    free(s->params);
    for (size_t i = 0; i < s->ngroups; i++)
        free(s->groups[i].name);
    free(s->groups);
    json_decref(s->early_terminate);
    json_decref(s->canonical);
    free(s);
}

int spec_check_runnable(const spec *s)
{
    if (s->method == SPEC_METHOD_BAYES)
        return sq_error_set(SQ_EINVAL,
                            "key 'method': bayes search is not supported yet (sweepq has no "
                            "model-based search); use method grid, or random with run_cap");
    return 0;
}
