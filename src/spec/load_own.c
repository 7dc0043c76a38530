/*
 * load_own.c - sweepq's own keys: tags, seed, resources, max_attempts,
 * timeout, lease_ttl, env, workdir, on_complete, metrics, grid_cap and
 * interpreter.
 */
#include "spec/load_internal.h"

#include <ctype.h>
#include <limits.h>
#include <regex.h>

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

bool valid_env_name(const char *s)
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
        /* A list of names: the metrics to record from output lines besides
         * the spec's metric. W&B's multi-objective list holds mappings. */
        for (size_t i = 0; i < v->n; i++) {
            const ytree_node *it = v->items[i];
            if (it->kind != YTREE_SCALAR || it->type != YTREE_STR || !it->len) {
                diag(L, it,
                     "key '%s': a 'metrics' list names the metrics to record from the "
                     "trial's output, e.g. [acc, val_loss] (W&B's multi-objective list is "
                     "not supported; 'metric' names the one to optimize)",
                     path);
                return;
            }
        }
        L->s->metric_names = xcalloc(v->n ? v->n : 1, sizeof *L->s->metric_names);
        for (size_t i = 0; i < v->n; i++)
            L->s->metric_names[L->s->nmetric_names++] = xstrdup(v->items[i]->text);
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

/* sweepq's own keys. */
const top_key spec_own_keys[] = {
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
const size_t spec_own_nkeys = ARRAY_SIZE(spec_own_keys);
