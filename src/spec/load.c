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
 * The loader is split by what it reads (load_internal.h holds the shared
 * state and helpers):
 *   load.c         diagnostics, node access, the top-level dispatch, the
 *                  whole-spec checks, canonical JSON and the entry points;
 *   load_params.c  parameters and distributions (W&B's parameter schema,
 *                  shared with the sweep: form's lists);
 *   load_wandb.c   W&B's top-level keys;
 *   load_hsm.c     hpc-sweep-manager's `sweep:` form;
 *   load_own.c     sweepq's own keys (resources, env, timeout, ...).
 *
 * Invariants: a diagnostic about a key names its dotted path ("parameters.lr.min",
 * "command[2]"); a load that added any diagnostic returns SQ_EINVAL and no
 * spec; at most MAX_DIAGS diagnostics per load.
 */
#include "spec/load_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <strings.h>

/* ------------------------------------------------------------- name index */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Adds name (with node) unless present; returns the node already there, or NULL. */
const ytree_node *name_index_add(name_index *ix, const char *name, const ytree_node *node)
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

bool name_index_has(const name_index *ix, const char *name)
{
    if (!ix->cap)
        return false;
    for (size_t i = (size_t)(hash_name(name) & (ix->cap - 1)); ix->names[i];
         i = (i + 1) & (ix->cap - 1))
        if (!strcmp(ix->names[i], name))
            return true;
    return false;
}

void name_index_release(name_index *ix)
{
    free(ix->names);
    free(ix->nodes);
    *ix = (name_index)NAME_INDEX_INIT;
}
/* ---------------------------------------------------------------- diagnostics */

void diag(loader *L, const ytree_node *at, const char *fmt, ...)
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
char *shorten(const char *text, size_t max)
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
bool diags_full(loader *L)
{
    if (L->ndiags < MAX_DIAGS)
        return false;
    L->truncated = true;
    return true;
}

char *child_path(const char *parent, const char *key)
{
    return parent ? xasprintf("%s.%s", parent, key) : xstrdup(key);
}

char *index_path(const char *parent, size_t i)
{
    return xasprintf("%s[%zu]", parent, i);
}

/* "a string 'abc'", "an integer '5'", "a list": the value as written, short. */
char *describe(const ytree_node *n)
{
    if (n->kind != YTREE_SCALAR || n->type == YTREE_NULL)
        return xstrdup(ytree_describe(n));
    char *text = shorten(n->text, 40);
    char *out = xasprintf("%s '%s'", ytree_describe(n), text);
    free(text);
    return out;
}

void diag_type(loader *L, const ytree_node *n, const char *path, const char *expected,
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
const char *closest(const char *word, const char *const *candidates, size_t n)
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

bool is_one_of(const char *word, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(word, *words))
            return true;
    return false;
}

size_t count_words(const char *const *words)
{
    size_t n = 0;
    while (words[n])
        n++;
    return n;
}

/* "a, b or c" (conj "or") */
char *join_words(const char *const *words, size_t n, const char *quote, const char *conj)
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

bool node_ok(loader *L, const ytree_node *n, const char *path)
{
    if (n->kind == YTREE_SCALAR && n->err) {
        diag(L, n, "key '%s': %s", path, n->err);
        return false;
    }
    return true;
}

/* A string scalar; quote-less numbers and booleans are refused, as W&B's
 * schema refuses them for its string keys. */
bool get_string(loader *L, const ytree_node *n, const char *path, const char **out)
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
bool get_nonempty(loader *L, const ytree_node *n, const char *path, const char *what,
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
bool get_text(loader *L, const ytree_node *n, const char *path, const char **out)
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

bool get_int(loader *L, const ytree_node *n, const char *path, int64_t min, int64_t max,
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
bool get_number(loader *L, const ytree_node *n, const char *path, double *out)
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

bool get_bool(loader *L, const ytree_node *n, const char *path, bool *out)
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

bool is_map(loader *L, const ytree_node *n, const char *path, const char *hint)
{
    if (n->kind == YTREE_MAP)
        return true;
    diag_type(L, n, path, "a mapping", hint);
    return false;
}

/* A duration: a number of seconds or units_parse_duration's text. */
bool get_duration(loader *L, const ytree_node *n, const char *path, double *out)
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
bool get_size(loader *L, const ytree_node *n, const char *path, uint64_t *out)
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
void check_keys(loader *L, const ytree_node *map, const char *path, const char *const *known,
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
const ytree_node *map_get(const ytree_node *map, const char *key, const ytree_node **at)
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
json_t *to_json(loader *L, const ytree_node *n, const char *path)
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

/* ------------------------------------------------------------ the top keys */

void add_macro_use(loader *L, const ytree_node *at, const char *path, const char *text, bool shell)
{
    XGROW(L->macros, L->macros_cap, L->nmacros + 1);
    L->macros[L->nmacros].at = at;
    L->macros[L->nmacros].path = xstrdup(path);
    L->macros[L->nmacros].text = text;
    L->macros[L->nmacros].shell = shell;
    L->nmacros++;
}

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
                 p->name, spec_dist_name(p->dist));
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

static void check_macro_text(loader *L, const macro_use *m)
{
    spec *s = L->s;
    const char *p = m->text;
    if (m->shell && spec_shell_macros_check(m->text)) /* a place no quoting makes safe */
        diag(L, m->at, "key '%s': %s", m->path, sq_error_msg());
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

/* W&B's order (HyperParameterSet.from_config): the keys sorted at every
 * nesting level, so by path, key by key. Two paths never share a whole
 * prefix (a key holds either a parameter or nested ones). */
static int cmp_param_paths(const void *a, const void *b)
{
    const spec_param *p = *(const spec_param *const *)a, *q = *(const spec_param *const *)b;
    for (size_t i = 0; i < p->npath && i < q->npath; i++) {
        int c = strcmp(p->path[i], q->path[i]);
        if (c)
            return c;
    }
    return (p->npath > q->npath) - (p->npath < q->npath);
}

/* W&B's parameters sorted by path; the sweep: form's grid parameters first
 * (in the order written, as hpc-sweep-manager keeps them), then each paired
 * group. */
static void order_params(loader *L)
{
    spec *s = L->s;
    spec_param *ordered = xcalloc(s->nparams ? s->nparams : 1, sizeof *ordered);
    param_info *info = xcalloc(s->nparams ? s->nparams : 1, sizeof *info);
    const spec_param **by = xcalloc(s->nparams ? s->nparams : 1, sizeof *by);
    size_t k = 0;
    for (int g = -1; g < (int)s->ngroups; g++)
        for (size_t i = 0; i < s->nparams; i++)
            if (s->params[i].group == g)
                by[k++] = &s->params[i];
    SQ_ASSERT(k == s->nparams);
    if (s->dialect == SPEC_DIALECT_WANDB)
        qsort(by, k, sizeof *by, cmp_param_paths);
    for (size_t i = 0; i < k; i++) {
        ordered[i] = *by[i];
        info[i] = L->info[by[i] - s->params];
    }
    free(by);
    free(s->params);
    free(L->info);
    s->params = ordered;
    L->info = info;
    L->params_cap = L->info_cap = s->nparams ? s->nparams : 1;
}

static void finalize(loader *L)
{
    spec *s = L->s;

    s->dialect = L->sweep_form ? SPEC_DIALECT_HSM : SPEC_DIALECT_WANDB;

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
    dedupe_grid_values(L);
    if (s->method == SPEC_METHOD_GRID && (L->have_method || L->sweep_form))
        check_grid(L);
    /* W&B refuses a bayes sweep without a metric: the model needs something
     * to optimize. A metric key with errors was reported already. */
    if (s->method == SPEC_METHOD_BAYES && L->have_method && !L->metric_key)
        diag(L, L->method_val,
             "key 'method': bayes proposes each trial from the results so far, so it needs a "
             "metric to optimize; add 'metric: {name: val_loss, goal: minimize}' naming a "
             "metric your program prints, or use method random");

    hsm_finalize(L);

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
    if (s->early_terminate && !s->metric.name)
        diag(L, L->early_terminate_key,
             "key 'early_terminate': it judges trials by the sweep's metric, and there is "
             "none; add 'metric: {name: loss, goal: minimize}' naming the value the trials "
             "report");

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
    set_str(o, "distribution", spec_dist_name(p->dist));
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
    if (dist_is_beta(p->dist)) {
        json_object_set_new(o, "a", json_real(p->a));
        json_object_set_new(o, "b", json_real(p->b));
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
    if (s->nmetric_names) {
        json_t *names = json_array();
        for (size_t i = 0; i < s->nmetric_names; i++)
            json_array_append_new(names, json_string(s->metric_names[i]));
        json_object_set_new(o, "metrics", names);
    }
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
    free(L->nest);
    name_index_release(&L->params_ix);
    json_decref(L->kept);
    json_decref(L->kept_metric);
}

/* Every top-level key: W&B's, hpc-sweep-manager's and sweepq's own, in
 * this order (the order did-you-mean breaks ties in). */
static const struct key_table {
    const top_key *keys;
    const size_t *n;
} key_tables[] = {
    {spec_wandb_keys, &spec_wandb_nkeys},
    {spec_hsm_keys, &spec_hsm_nkeys},
    {spec_own_keys, &spec_own_nkeys},
};

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
        const char *names[MAX_TOP_KEYS + 1];
        size_t nnames = 0;
        for (size_t kt = 0; kt < ARRAY_SIZE(key_tables); kt++)
            for (size_t i = 0; i < *key_tables[kt].n; i++) {
                SQ_ASSERT(nnames < MAX_TOP_KEYS);
                names[nnames++] = key_tables[kt].keys[i].name;
            }
        names[nnames] = NULL;
        check_keys(L, root, NULL, names, true);
        name_index seen = NAME_INDEX_INIT;
        for (size_t i = 0; i + 1 < root->n; i += 2) {
            const ytree_node *k = root->items[i];
            /* only a key's first occurrence counts; check_keys reported the rest */
            if (k->kind != YTREE_SCALAR || name_index_add(&seen, k->text, k))
                continue;
            for (size_t kt = 0; kt < ARRAY_SIZE(key_tables); kt++)
                for (size_t j = 0; j < *key_tables[kt].n; j++)
                    if (!strcmp(key_tables[kt].keys[j].name, k->text))
                        key_tables[kt].keys[j].fn(L, k, root->items[i + 1], k->text);
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
    for (size_t i = 0; i < s->nmetric_names; i++)
        free(s->metric_names[i]);
    free(s->metric_names);
    free(s->metric.name);
    for (size_t i = 0; i < s->nparams; i++) {
        free(s->params[i].name);
        for (size_t k = 0; k < s->params[i].npath; k++)
            free(s->params[i].path[k]);
        free(s->params[i].path);
        json_decref(s->params[i].values);
        json_decref(s->params[i].grid_values);
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
