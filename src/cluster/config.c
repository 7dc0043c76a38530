/*
 * config.c - .sweepq/config.yaml: read once into a ytree, looked up by
 * dotted path. See config.h.
 *
 * Invariants:
 *   - c->tree.root is NULL (empty file or no file) or a mapping.
 *   - Lookups only walk the tree; they never copy or allocate strings.
 */
#include "util/common.h"

#include "cluster/config.h"
#include "spec/yaml_tree.h"

#include <string.h>

/* A config file is a few hundred bytes; this bound only stops a mistake
 * (a path to a huge file) from being read whole. */
#define CONFIG_MAX_BYTES ((size_t)4 << 20)

struct sq_config {
    char *path;
    char *text;
    ytree tree;
};

int config_load(sq_config **out, const char *path)
{
    sq_config *c = xcalloc(1, sizeof *c);
    strbuf sb = SB_INIT;
    char *err = NULL;
    int line = 0, col = 0;
    int rc;

    *out = NULL;
    c->path = xstrdup(path);
    c->tree = (ytree)YTREE_INIT;
    sb_init(&sb, CONFIG_MAX_BYTES);
    rc = sb_read_file(&sb, path);
    if (rc == SQ_ENOTFOUND) {
        sq_error_clear();
        rc = 0;
        goto done;
    }
    if (rc)
        goto cleanup;
    size_t len = sb.len;
    c->text = sb_detach(&sb);
    if (memchr(c->text, '\0', len)) {
        rc = sq_error_set(SQ_EINVAL, "cannot read config '%s': it holds a NUL byte", path);
        goto cleanup;
    }
    if (ytree_parse(&c->tree, c->text, len, &err, &line, &col)) {
        rc = sq_error_set(SQ_EINVAL, "%s:%d:%d: %s", path, line, col, err ? err : "not YAML");
        goto cleanup;
    }
    if (c->tree.root && c->tree.root->kind != YTREE_MAP &&
        !(c->tree.root->kind == YTREE_SCALAR && c->tree.root->type == YTREE_NULL)) {
        rc =
            sq_error_set(SQ_EINVAL, "%s:%d:%d: the config must be a mapping of settings, not %s",
                         path, c->tree.root->line, c->tree.root->col, ytree_describe(c->tree.root));
        goto cleanup;
    }
    if (c->tree.root && c->tree.root->kind != YTREE_MAP)
        c->tree.root = NULL;
done:
    *out = c;
    c = NULL;
cleanup:
    free(err);
    sb_release(&sb);
    config_free(c);
    return rc;
}

void config_free(sq_config *c)
{
    if (!c)
        return;
    ytree_release(&c->tree);
    free(c->text);
    free(c->path);
    free(c);
}

/* The value of key in mapping m (the last one when written twice, as
 * PyYAML keeps it), or NULL. key is key_len bytes, not NUL-terminated. */
static const ytree_node *map_find(const ytree_node *m, const char *key, size_t key_len)
{
    const ytree_node *found = NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const ytree_node *k = m->items[i];
        if (k->kind == YTREE_SCALAR && k->len == key_len && !memcmp(k->text, key, key_len))
            found = m->items[i + 1];
    }
    return found;
}

static const ytree_node *lookup(const sq_config *c, const char *dotted_path)
{
    const ytree_node *n = c ? c->tree.root : NULL;
    const char *p = dotted_path;
    while (n && *p) {
        if (n->kind != YTREE_MAP)
            return NULL;
        size_t part = strcspn(p, ".");
        n = map_find(n, p, part);
        p += part;
        if (*p == '.')
            p++;
    }
    return n;
}

const char *config_get(const sq_config *c, const char *dotted_path)
{
    const ytree_node *n = lookup(c, dotted_path);
    if (!n || n->kind != YTREE_SCALAR || n->type == YTREE_NULL)
        return NULL;
    return n->text;
}

int config_mapping_keys(const char ***out, size_t *n, const sq_config *c, const char *dotted_path)
{
    *out = NULL;
    *n = 0;
    const ytree_node *m = lookup(c, dotted_path);
    if (!m || (m->kind == YTREE_SCALAR && m->type == YTREE_NULL))
        return 0;
    if (m->kind != YTREE_MAP)
        return sq_error_set(SQ_EINVAL, "%s:%d:%d: '%s' must be a mapping, not %s", c->path, m->line,
                            m->col, dotted_path, ytree_describe(m));
    size_t count = ytree_map_size(m);
    if (!count)
        return 0;
    const char **keys = xcalloc(count, sizeof *keys);
    for (size_t i = 0; i < count; i++)
        keys[i] = m->items[2 * i]->kind == YTREE_SCALAR ? m->items[2 * i]->text : "";
    *out = keys;
    *n = count;
    return 0;
}

const char *config_path(const sq_config *c)
{
    return c && c->path ? c->path : "";
}
