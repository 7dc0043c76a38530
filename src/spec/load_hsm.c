/*
 * load_hsm.c - hpc-sweep-manager's form: 'sweep: {grid: ..., paired: ...}',
 * a grid of Hydra overrides (nested names joined with '.') and zipped
 * groups of lists.
 */
#include "spec/load_internal.h"

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
    spec_param *p = add_param(L, name, name, k);
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

/* The grid: mapping, each entry one parameter (or nested names). */
static void load_hsm_grid(loader *L, const ytree_node *g, const char *gp)
{
    if (!node_ok(L, g, gp) || !is_map(L, g, gp, "write 'grid: {name: [values], ...}'"))
        return;
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
        load_hsm_grid(L, g, gp);
        free(gp);
    }
    if (pl) {
        char *pp = child_path(path, "paired");
        if (node_ok(L, pl, pp))
            load_hsm_paired(L, pl, pp);
        free(pp);
    }
}

/* hpc-sweep-manager also takes grid: and paired: at the top level
 * (SweepConfig.from_dict reads config.get("sweep", config)). */
static void key_grid(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    L->sweep_key = k;
    L->sweep_form = true;
    load_hsm_grid(L, v, path);
}

static void key_paired(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    L->sweep_key = k;
    L->sweep_form = true;
    if (node_ok(L, v, path))
        load_hsm_paired(L, v, path);
}

/* script: the training script (hpc-sweep-manager's name for program). */
static void key_script(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    const char *s;
    if (get_nonempty(L, v, path, "the training script, such as train.py", &s))
        L->hsm_script = v;
}

/* metadata: free-form; its description describes the sweep. */
static void key_metadata(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    if (!is_map(L, v, path, "write 'metadata: {description: ...}'"))
        return;
    json_t *j = to_json(L, v, path);
    if (j)
        json_object_set_new(L->kept, "metadata", j);
    const ytree_node *d = map_get(v, "description", NULL);
    const char *text;
    char *dp = child_path(path, "description");
    if (d && get_string(L, d, dp, &text) && !L->s->description)
        L->s->description = xstrdup(text);
    free(dp);
}

/* defaults: hpc-sweep-manager reads it and passes none of it to the
 * program (ParameterGenerator never uses it); kept, with no effect. */
static void key_defaults(loader *L, const ytree_node *k, const ytree_node *v, const char *path)
{
    if (!is_map(L, v, path, "write 'defaults: {name: value, ...}'"))
        return;
    json_t *j = to_json(L, v, path);
    if (j)
        json_object_set_new(L->kept, "defaults", j);
}

/* A string at paths.KEY of an hsm_config.yaml tree, or NULL. */
static const char *hsm_config_path(const ytree_node *root, const char *key)
{
    const ytree_node *paths = root && root->kind == YTREE_MAP ? map_get(root, "paths", NULL) : NULL;
    const ytree_node *v = paths && paths->kind == YTREE_MAP ? map_get(paths, key, NULL) : NULL;
    return v && v->kind == YTREE_SCALAR && v->type == YTREE_STR && *v->text ? v->text : NULL;
}

/*
 * The sweep: form's program and interpreter, as hpc-sweep-manager finds
 * them: the file's script:, else paths.train_script of hsm_config.yaml in
 * the sweep file's directory (where `hsm init` writes it), and that file's
 * paths.python_interpreter. A spec's own program and interpreter win.
 */
void hsm_finalize(loader *L)
{
    spec *s = L->s;
    if (!L->sweep_form)
        return;
    if (!s->program && !L->program_key && L->hsm_script)
        s->program = xstrdup(L->hsm_script->text);
    if ((s->program || L->program_key) && s->interpreter)
        return;
    const char *slash = strrchr(L->file, '/');
    char *cfg = slash ? xasprintf("%.*s/hsm_config.yaml", (int)(slash - L->file), L->file)
                      : xstrdup("hsm_config.yaml");
    FILE *f = fopen(cfg, "rb");
    if (f) {
        strbuf sb = SB_INIT;
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && sb.len < ((size_t)1 << 20))
            sb_add(&sb, chunk, n);
        fclose(f);
        ytree t = YTREE_INIT;
        char *err = NULL;
        int line, col;
        if (ytree_parse(&t, sb_str(&sb), sb.len, &err, &line, &col)) {
            diag(L, NULL, "%s:%d:%d: %s; fix it or remove it (it names the training script)", cfg,
                 line, col, err);
            free(err);
        } else {
            const char *script = hsm_config_path(t.root, "train_script");
            const char *python = hsm_config_path(t.root, "python_interpreter");
            if (!s->program && !L->program_key && script)
                s->program = xstrdup(script);
            if (!s->interpreter && python)
                s->interpreter = xstrdup(python);
        }
        ytree_release(&t);
        sb_release(&sb);
    }
    free(cfg);
}

/* hpc-sweep-manager's top-level key. */
const top_key spec_hsm_keys[] = {
    {"sweep", key_sweep},   {"grid", key_grid},         {"paired", key_paired},
    {"script", key_script}, {"metadata", key_metadata}, {"defaults", key_defaults},
};
const size_t spec_hsm_nkeys = ARRAY_SIZE(spec_hsm_keys);
