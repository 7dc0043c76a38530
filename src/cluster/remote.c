/*
 * remote.c - the `remotes:` of .sweepq/config.yaml: read through
 * cluster/config.h, written by splicing the text. See remote.h.
 *
 * How a write finds its place: the file is parsed once more with the YAML
 * tree builder (which keeps each node's line and column), and the byte
 * offsets of the lines give the spans:
 *   - the `remotes:` block runs from its key's line to the line of the next
 *     top-level key (or the end of the file);
 *   - an entry runs from its key's line to the next entry's key line (or
 *     the end of the block);
 *   - a span's tail of blank lines and comments indented no deeper than the
 *     entries' keys is left out of it: those lines introduce what follows.
 * Only the one span is replaced (or text is inserted at a span's end), so
 * the rest of the file is copied byte for byte. A `remotes:` written in flow
 * style ({...}) or as a null is rewritten whole in block style.
 *
 * Invariant: the text written is parsed back and must list the remotes
 * expected, or the old file is left in place (SQ_EINVAL): a splice can never
 * corrupt a configuration silently.
 */
#include "util/common.h"

#include "cluster/remote.h"

#include "cluster/config.h"
#include "spec/yaml_tree.h"
#include "util/file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define REMOTE_NAME_MAX 64
#define CONFIG_TEXT_MAX ((size_t)4 << 20)

int remote_check_name(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > REMOTE_NAME_MAX)
        return sq_error_set(SQ_EINVAL, "a remote's name must be 1 to %d characters, not '%s'",
                            REMOTE_NAME_MAX, name);
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return sq_error_set(
                SQ_EINVAL, "bad remote name '%s': use letters, digits, '_' and '-' only", name);
    if (name[0] == '-')
        return sq_error_set(SQ_EINVAL, "bad remote name '%s': it must not start with '-'", name);
    return 0;
}

ssh_target remote_target(const remote *r)
{
    return (ssh_target){r->host, r->user, r->port, r->key, r->known_hosts};
}

const char *remote_program(const remote *r)
{
    return r->sweepq ? r->sweepq : "sweepq";
}

int remote_run(run_result *res, const remote *r, const char *script, const char *input,
               double timeout, const char *what)
{
    ssh_target t = remote_target(r);
    ssh_argv argv = SSH_ARGV_INIT;
    ssh_build(&argv, &t, NULL, script);
    int rc = what ? ssh_run_checked(res, argv.v, input, timeout, what)
                  : run_command(res, argv.v, NULL, input, timeout);
    ssh_argv_release(&argv);
    return rc;
}

int remote_check(const remote *r)
{
    int rc = remote_check_name(r->name);
    if (rc)
        return rc;
    ssh_target t = remote_target(r);
    rc = ssh_target_check(&t);
    if (rc)
        return sq_error_set(rc, "remote '%s': %s", r->name, sq_error_msg());
    if (r->slots < 0 || r->slots > 100000)
        return sq_error_set(SQ_EINVAL, "remote '%s': slots must be between 1 and 100000, not %d",
                            r->name, r->slots);
    const char *paths[] = {r->workdir, r->sweepq};
    const char *what[] = {"workdir", "sweepq"};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        if (!paths[i])
            continue;
        if (!*paths[i])
            return sq_error_set(SQ_EINVAL, "remote '%s': the %s is empty", r->name, what[i]);
        for (const unsigned char *p = (const unsigned char *)paths[i]; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                return sq_error_set(SQ_EINVAL, "remote '%s': the %s holds a control character",
                                    r->name, what[i]);
    }
    return 0;
}

char *remote_default_workdir(const char *project_root)
{
    const char *base = strrchr(project_root, '/');
    base = base && base[1] ? base + 1 : "project";
    return xasprintf("sweepq/%s", base);
}

void remote_release(remote *r)
{
    free(r->name);
    free(r->host);
    free(r->user);
    free(r->key);
    free(r->workdir);
    free(r->sweepq);
    free(r->known_hosts);
    memset(r, 0, sizeof *r);
}

void remote_list_release(remote_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        remote_release(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

const remote *remote_find(const remote_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].name, name))
            return &l->items[i];
    return NULL;
}

/* The fields a remote may have, in the order they are written. */
static const char *const fields[] = {"host",    "user",  "port",   "key",
                                     "workdir", "slots", "sweepq", "known_hosts"};

static const char *get_field(const sq_config *c, const char *name, const char *field)
{
    char *path = xasprintf("remotes.%s.%s", name, field);
    const char *v = config_get(c, path);
    free(path);
    return v;
}

static int get_int(int *out, const sq_config *c, const char *name, const char *field)
{
    const char *v = get_field(c, name, field);
    *out = 0;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 0 || n > INT_MAX)
        return sq_error_set(SQ_EINVAL, "%s: remote '%s': %s '%s' is not a whole number",
                            config_path(c), name, field, v);
    *out = (int)n;
    return 0;
}

static int load_one(remote *r, const sq_config *c, const char *name)
{
    int rc = remote_check_name(name);
    if (rc)
        return sq_error_set(rc, "%s: %s", config_path(c), sq_error_msg());
    r->name = xstrdup(name);
    r->host = xstrdup(get_field(c, name, "host"));
    r->user = xstrdup(get_field(c, name, "user"));
    r->key = xstrdup(get_field(c, name, "key"));
    r->workdir = xstrdup(get_field(c, name, "workdir"));
    r->sweepq = xstrdup(get_field(c, name, "sweepq"));
    r->known_hosts = xstrdup(get_field(c, name, "known_hosts"));
    if (!r->host)
        return sq_error_set(
            SQ_EINVAL,
            "%s: remote '%s' has no host; add one with 'sweepq remote add %s --host HOST'",
            config_path(c), name, name);
    rc = get_int(&r->port, c, name, "port");
    if (!rc)
        rc = get_int(&r->slots, c, name, "slots");
    if (!rc && remote_check(r))
        rc = sq_error_set(SQ_EINVAL, "%s: %s", config_path(c), sq_error_msg());
    return rc;
}

int remote_list_load(remote_list *out, const char *config_path)
{
    sq_config *c = NULL;
    const char **names = NULL;
    size_t n = 0;
    *out = (remote_list)REMOTE_LIST_INIT;
    int rc = config_load(&c, config_path);
    if (!rc)
        rc = config_mapping_keys(&names, &n, c, "remotes");
    if (!rc && n)
        out->items = xcalloc(n, sizeof *out->items);
    for (size_t i = 0; !rc && i < n; i++) {
        if (remote_find(out, names[i]))
            rc = sq_error_set(SQ_EINVAL, "%s: remote '%s' is written twice; keep one", config_path,
                              names[i]);
        else
            rc = load_one(&out->items[out->n++], c, names[i]);
    }
    if (rc)
        remote_list_release(out);
    free(names);
    config_free(c);
    return rc;
}

int remote_lookup(remote *out, const char *config_path, const char *name)
{
    remote_list l = REMOTE_LIST_INIT;
    memset(out, 0, sizeof *out);
    int rc = remote_list_load(&l, config_path);
    if (rc)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        if (strcmp(l.items[i].name, name))
            continue;
        *out = l.items[i];
        l.items[i] = l.items[--l.n];
        remote_list_release(&l);
        return 0;
    }
    remote_list_release(&l);
    return sq_error_set(SQ_ENOTFOUND,
                        "no remote named '%s'; add it with 'sweepq remote add %s --host HOST' "
                        "(see 'sweepq remote list')",
                        name, name);
}

int remote_open(remote *out, const workspace *ws, const char *name)
{
    char *config = workspace_config_path(ws);
    int rc = remote_lookup(out, config, name);
    free(config);
    if (!rc && !out->workdir)
        out->workdir = remote_default_workdir(ws->root);
    return rc;
}

/* ---- writing ---------------------------------------------------------- */

/* Appends s as a YAML scalar: plain when it plainly reads back as the same
 * string, else double-quoted with escapes. */
static void add_scalar(strbuf *sb, const char *s)
{
    static const char *const special[] = {"yes",   "no",   "on", "off", "true",
                                          "false", "null", "y",  "n"};
    bool plain = isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '~' || s[0] == '_';
    for (const char *p = s; plain && *p; p++)
        plain = isalnum((unsigned char)*p) || strchr("_./~@+-", *p);
    for (size_t i = 0; plain && i < ARRAY_SIZE(special); i++)
        plain = strcasecmp(s, special[i]) != 0;
    if (plain && strcmp(s, "~")) {
        sb_adds(sb, s);
        return;
    }
    sb_addc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_addf(sb, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            sb_addf(sb, "\\x%02x", *p);
        else
            sb_addc(sb, (char)*p);
    }
    sb_addc(sb, '"');
}

/* r's entry, its key at indent columns. */
static void add_entry(strbuf *sb, const remote *r, int indent)
{
    sb_addf(sb, "%*s%s:\n", indent, "", r->name);
    const char *values[] = {r->host,    r->user, NULL,      r->key,
                            r->workdir, NULL,    r->sweepq, r->known_hosts};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (!strcmp(fields[i], "port") && r->port)
            sb_addf(sb, "%*sport: %d\n", indent + 2, "", r->port);
        else if (!strcmp(fields[i], "slots") && r->slots)
            sb_addf(sb, "%*sslots: %d\n", indent + 2, "", r->slots);
        if (!values[i])
            continue;
        sb_addf(sb, "%*s%s: ", indent + 2, "", fields[i]);
        add_scalar(sb, values[i]);
        sb_addc(sb, '\n');
    }
}

/* The text of a config file and where its lines start. */
typedef struct cfg_text {
    char *text;
    size_t len;
    size_t *line_at; /* line_at[k]: offset of line k+1; line_at[nlines] == len */
    size_t nlines;
    ytree tree;
} cfg_text;

static void cfg_text_release(cfg_text *t)
{
    free(t->text);
    free(t->line_at);
    ytree_release(&t->tree);
}

/* Offset of the start of 1-based line (len past the last). */
static size_t line_start(const cfg_text *t, int line)
{
    if (line < 1)
        return 0;
    return (size_t)line - 1 <= t->nlines ? t->line_at[line - 1] : t->len;
}

static int cfg_text_read(cfg_text *t, const char *path)
{
    strbuf sb = SB_INIT;
    char *err = NULL;
    int line = 0, col = 0;
    sb_init(&sb, CONFIG_TEXT_MAX);
    int rc = sb_read_file(&sb, path);
    if (rc == SQ_ENOTFOUND) {
        sq_error_clear();
        rc = 0;
    }
    t->len = sb.len;
    t->text = sb_detach(&sb);
    if (rc)
        return rc;
    size_t cap = 0;
    XGROW(t->line_at, cap, 1);
    t->line_at[0] = 0;
    for (size_t i = 0; i < t->len; i++) {
        if (t->text[i] != '\n' || i + 1 == t->len)
            continue;
        XGROW(t->line_at, cap, t->nlines + 2);
        t->line_at[++t->nlines] = i + 1;
    }
    XGROW(t->line_at, cap, t->nlines + 2);
    t->line_at[++t->nlines] = t->len;
    if (memchr(t->text, '\0', t->len))
        return sq_error_set(SQ_EINVAL, "cannot read config '%s': it holds a NUL byte", path);
    if (ytree_parse(&t->tree, t->text, t->len, &err, &line, &col)) {
        rc = sq_error_set(SQ_EINVAL, "%s:%d:%d: %s; fix the file, then try again", path, line, col,
                          err ? err : "not YAML");
        free(err);
    }
    return rc;
}

/* True when the line at offset off is blank or a comment indented at most
 * indent columns. */
static bool is_lead_in(const cfg_text *t, size_t off, int indent)
{
    size_t i = off;
    while (i < t->len && (t->text[i] == ' ' || t->text[i] == '\t'))
        i++;
    if (i >= t->len || t->text[i] == '\n' || t->text[i] == '\r')
        return true;
    return t->text[i] == '#' && (int)(i - off) <= indent;
}

/* The end of the span [from, to) without its tail of lead-in lines. */
static size_t trim_tail(const cfg_text *t, size_t from, size_t to, int indent)
{
    while (to > from) {
        size_t prev = to - 1; /* the '\n' ending the previous line, or its last byte */
        size_t start = prev;
        while (start > from && t->text[start - 1] != '\n')
            start--;
        if (start == from || !is_lead_in(t, start, indent))
            break;
        to = start;
    }
    return to;
}

/* The key node and value of `remotes` at the top, or NULLs. */
static void find_remotes(const cfg_text *t, const ytree_node **key, const ytree_node **value,
                         int *next_line)
{
    const ytree_node *root = t->tree.root;
    *key = *value = NULL;
    *next_line = 0;
    if (!root || root->kind != YTREE_MAP)
        return;
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const ytree_node *k = root->items[i];
        if (k->kind == YTREE_SCALAR && !strcmp(k->text, "remotes")) {
            *key = k;
            *value = root->items[i + 1];
        }
    }
    if (!*key)
        return;
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        int l = root->items[i]->line;
        if (l > (*key)->line && (!*next_line || l < *next_line))
            *next_line = l;
    }
}

/* The root must be a mapping written in block style, or nothing. */
static int check_root(const cfg_text *t, const char *path)
{
    const ytree_node *root = t->tree.root;
    if (root && root->kind == YTREE_MAP &&
        t->text[line_start(t, root->line) + root->col - 1] == '{')
        return sq_error_set(SQ_EINVAL,
                            "%s is one {...} mapping; write it in block style (one key a line) "
                            "so that remotes can be added to it",
                            path);
    if (root && root->kind != YTREE_MAP)
        return sq_error_set(SQ_EINVAL, "%s:%d:%d: the config must be a mapping of settings", path,
                            root->line, root->col);
    return 0;
}

static int no_remote(const char *gone, const char *path)
{
    return sq_error_set(SQ_ENOTFOUND, "no remote named '%s' in %s", gone, path);
}

/* No `remotes:` yet: the file as it is, then a new block holding r. */
static int append_block(strbuf *sb, const cfg_text *t, const remote *r, const char *gone,
                        const char *path)
{
    if (gone)
        return no_remote(gone, path);
    sb_add(sb, t->text, t->len);
    if (t->len && t->text[t->len - 1] != '\n')
        sb_addc(sb, '\n');
    sb_adds(sb, "remotes:\n");
    add_entry(sb, r, 2);
    return 0;
}

/* A `remotes:` that is {...}, ~ or empty, spanning [from, to): rewritten
 * in block style, listing want. */
static void rewrite_block(strbuf *sb, const cfg_text *t, const remote_list *want, size_t from,
                          size_t to)
{
    to = trim_tail(t, from, to, 0);
    sb_add(sb, t->text, from);
    sb_adds(sb, "remotes:\n");
    for (size_t i = 0; i < want->n; i++)
        add_entry(sb, &want->items[i], 2);
    sb_add(sb, t->text + to, t->len - to);
}

/* A block-style `remotes:` mapping value, ending at block_to: the entry
 * named r's name or gone is replaced by r, or removed; a new r goes after
 * the last entry. */
static int splice_entry(strbuf *sb, const cfg_text *t, const ytree_node *value, const remote *r,
                        const char *gone, size_t block_from, size_t block_to, const char *path)
{
    int indent = value->items[0]->col - 1;
    const char *name = r ? r->name : gone;
    size_t entry_from = 0, entry_to = 0;
    bool found = false;
    for (size_t i = 0; i + 1 < value->n; i += 2) {
        const ytree_node *k = value->items[i];
        if (k->kind != YTREE_SCALAR || strcmp(k->text, name))
            continue;
        found = true;
        entry_from = line_start(t, k->line);
        entry_to = i + 2 < value->n ? line_start(t, value->items[i + 2]->line) : block_to;
        entry_to = trim_tail(t, entry_from, entry_to, indent);
    }
    if (!found && gone)
        return no_remote(gone, path);
    if (!found)
        entry_from = entry_to = trim_tail(t, block_from, block_to, indent);
    sb_add(sb, t->text, entry_from);
    if (entry_from && t->text[entry_from - 1] != '\n')
        sb_addc(sb, '\n');
    if (r)
        add_entry(sb, r, indent);
    sb_add(sb, t->text + entry_to, t->len - entry_to);
    return 0;
}

/*
 * The new text of the file: with r (when not NULL) saved, or the remote
 * named gone removed. *out (caller frees) and *out_len. list holds the
 * remotes as loaded, want those the file must list afterwards (for the
 * rewrite of a block that is not in block style).
 */
static int splice_text(char **out, size_t *out_len, const cfg_text *t, const remote_list *list,
                       const remote_list *want, const remote *r, const char *gone, const char *path)
{
    *out = NULL;
    *out_len = 0;
    int rc = check_root(t, path);
    if (rc)
        return rc;
    const ytree_node *key, *value;
    int next_line;
    find_remotes(t, &key, &value, &next_line);
    strbuf sb = SB_INIT;
    sb_init(&sb, CONFIG_TEXT_MAX * 2);
    if (!key) {
        rc = append_block(&sb, t, r, gone, path);
    } else {
        size_t block_from = line_start(t, key->line);
        size_t block_to = next_line ? line_start(t, next_line) : t->len;
        bool block_map = value->kind == YTREE_MAP && value->n && value->line > key->line;
        if (block_map)
            rc = splice_entry(&sb, t, value, r, gone, block_from, block_to, path);
        else if (gone && !remote_find(list, gone))
            rc = no_remote(gone, path);
        else
            rewrite_block(&sb, t, want, block_from, block_to);
    }
    if (!rc && sb.len > CONFIG_TEXT_MAX)
        rc = sq_error_set(SQ_EINVAL, "%s would grow past %zu bytes", path, CONFIG_TEXT_MAX);
    *out_len = sb.len;
    *out = sb_detach(&sb);
    return rc;
}

/* Reads back what a splice made and checks it lists exactly `want`. */
static int verify(const char *text, size_t len, const remote_list *want, const char *path)
{
    char *tmp = xasprintf("%s.check.%ld", path, (long)getpid());
    remote_list got = REMOTE_LIST_INIT;
    int rc = file_replace(tmp, text, len);
    if (!rc)
        rc = remote_list_load(&got, tmp);
    unlink(tmp);
    if (rc) {
        rc = sq_error_set(SQ_EINVAL,
                          "cannot update %s: the edited text does not read back (%s); "
                          "the file was left as it was",
                          path, sq_error_msg());
        goto cleanup;
    }
    bool same = got.n == want->n;
    for (size_t i = 0; same && i < got.n; i++) {
        const remote *a = &got.items[i], *b = &want->items[i];
        same = !strcmp(a->name, b->name) && !strcmp(a->host, b->host) && a->port == b->port &&
               a->slots == b->slots;
    }
    if (!same)
        rc = sq_error_set(SQ_EINVAL,
                          "cannot update %s: its remotes: block is laid out in a way this edit "
                          "does not understand; the file was left as it was, edit it by hand",
                          path);
cleanup:
    remote_list_release(&got);
    free(tmp);
    return rc;
}

static void remote_copy(remote *dst, const remote *src)
{
    *dst = (remote){xstrdup(src->name), xstrdup(src->host),   xstrdup(src->user),
                    src->port,          xstrdup(src->key),    xstrdup(src->workdir),
                    src->slots,         xstrdup(src->sweepq), xstrdup(src->known_hosts)};
}

/* What the file must list after saving r or removing gone: list in the
 * same order, without gone, with r in its place or last. */
static void wanted(remote_list *want, const remote_list *list, const remote *r, const char *gone)
{
    want->items = xcalloc(list->n + 1, sizeof *want->items);
    bool placed = false;
    for (size_t i = 0; i < list->n; i++) {
        const remote *x = &list->items[i];
        if (gone && !strcmp(x->name, gone))
            continue;
        if (r && !strcmp(x->name, r->name)) {
            x = r;
            placed = true;
        }
        remote_copy(&want->items[want->n++], x);
    }
    if (r && !placed)
        remote_copy(&want->items[want->n++], r);
}

/* Saves r (or removes gone): load, splice, verify, write. */
static int update(const char *path, const remote *r, const char *gone)
{
    cfg_text t = {0};
    t.tree = (ytree)YTREE_INIT;
    remote_list list = REMOTE_LIST_INIT, want = REMOTE_LIST_INIT;
    char *text = NULL;
    size_t len = 0;
    int rc = r ? remote_check(r) : 0;
    if (!rc)
        rc = remote_list_load(&list, path);
    if (!rc)
        rc = cfg_text_read(&t, path);
    if (rc)
        goto cleanup;
    wanted(&want, &list, r, gone);
    rc = splice_text(&text, &len, &t, &list, &want, r, gone, path);
    if (!rc)
        rc = verify(text, len, &want, path);
    if (!rc)
        rc = file_replace(path, text, len);
cleanup:
    free(text);
    remote_list_release(&list);
    remote_list_release(&want);
    cfg_text_release(&t);
    return rc;
}

int remote_save(const char *config_path, const remote *r)
{
    return update(config_path, r, NULL);
}

int remote_delete(const char *config_path, const char *name)
{
    int rc = remote_check_name(name);
    return rc ? rc : update(config_path, NULL, name);
}
