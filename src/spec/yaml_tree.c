/*
 * yaml_tree.c - YAML text -> ytree, with marks, bounded alias expansion and
 * PyYAML's scalar resolution; see yaml_tree.h for the rules.
 *
 * Invariants:
 *   - Every node is in t->nodes and nowhere else owned; items hold borrowed
 *     pointers, so a node may be the child of several parents (aliases).
 *   - An anchor names a node from its start; an alias to a node that is still
 *     open would make a cycle and is refused.
 *   - The count of expanded nodes (fresh nodes plus, for each alias, the
 *     weight of its target) never passes YTREE_MAX_NODES, and no path from
 *     the root is deeper than YTREE_MAX_DEPTH: the builder refuses first.
 */
#include "util/common.h"

#include "spec/yaml_tree.h"

#include <ctype.h>
#include <math.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct anchor {
    char *name;
    ytree_node *node;
} anchor;

typedef struct builder {
    ytree *t;
    const char *text;
    size_t len;
    ytree_node **stack; /* open collections, innermost last */
    size_t depth, stack_cap;
    anchor *anchors;
    size_t nanchors, anchors_cap;
    size_t expanded; /* nodes an expansion of everything so far would visit */
    int documents;
    char *err;
    int err_line, err_col;
} builder;

static int fail(builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(builder *b, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(b->err);
    b->err = xvasprintf(fmt, ap);
    va_end(ap);
    b->err_line = line;
    b->err_col = col;
    return SQ_EINVAL;
}

static ytree_node *new_node(builder *b, ytree_kind kind, const yaml_mark_t *mark)
{
    ytree_node *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    n->weight = 1;
    n->height = 1;
    XGROW(b->t->nodes, b->t->cap, b->t->nnodes + 1);
    b->t->nodes[b->t->nnodes++] = n;
    return n;
}

static void add_item(ytree_node *parent, ytree_node *child)
{
    XGROW(parent->items, parent->cap, parent->n + 1);
    parent->items[parent->n++] = child;
}

/* Places a finished (or just started) node in its parent, or as the root. */
static void attach(builder *b, ytree_node *n)
{
    if (b->depth)
        add_item(b->stack[b->depth - 1], n);
    else if (!b->t->root)
        b->t->root = n;
}

static int count_expanded(builder *b, size_t weight, const yaml_mark_t *mark)
{
    b->expanded += weight;
    if (b->expanded > YTREE_MAX_NODES)
        return fail(b, (int)mark->line + 1, (int)mark->column + 1,
                    "the YAML holds more than %d values, counting each alias as a copy of its "
                    "anchor; a spec this large is refused (use ranges such as int_uniform, or "
                    "fewer aliases)",
                    YTREE_MAX_NODES);
    return 0;
}

static void set_anchor(builder *b, const yaml_char_t *name, ytree_node *n)
{
    if (!name)
        return;
    XGROW(b->anchors, b->anchors_cap, b->nanchors + 1);
    b->anchors[b->nanchors].name = xstrdup((const char *)name);
    b->anchors[b->nanchors].node = n;
    b->nanchors++;
}

static ytree_node *find_anchor(builder *b, const char *name)
{
    for (size_t i = b->nanchors; i > 0; i--)
        if (!strcmp(b->anchors[i - 1].name, name))
            return b->anchors[i - 1].node;
    return NULL;
}

/* ---- scalar resolution (YAML 1.1 as PyYAML, see yaml_tree.h) ---- */

static bool is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words))
            return true;
    return false;
}

/* Copies s without its underscores (PyYAML ignores them in numbers). */
static char *strip_underscores(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;
    for (; *s; s++)
        if (*s != '_')
            *o++ = *s;
    *o = '\0';
    return out;
}

static bool all_in(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

/* Matches [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+ and, with fraction, a trailing
 * \.[0-9_]* (PyYAML's base-60 forms). Returns the value's magnitude. */
static bool parse_base60(const char *s, bool fraction, double *out)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p) || (!fraction && *p == '0'))
        return false;
    double v = 0;
    while (isdigit((unsigned char)*p) || *p == '_') {
        if (*p != '_')
            v = v * 10 + (*p - '0');
        p++;
    }
    int groups = 0;
    while (*p == ':') {
        p++;
        int digits = 0, g = 0;
        while (isdigit((unsigned char)*p) && digits < 2) {
            g = g * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (!digits || g > 59 || (digits == 2 && p[-2] > '5'))
            return false;
        v = v * 60 + g;
        groups++;
    }
    if (!groups)
        return false;
    if (fraction) {
        if (*p != '.')
            return false;
        p++;
        double scale = 0.1;
        for (; isdigit((unsigned char)*p) || *p == '_'; p++) {
            if (*p != '_') {
                v += (*p - '0') * scale;
                scale /= 10;
            }
        }
    }
    if (*p)
        return false;
    *out = v;
    return true;
}

/* 1: not an integer; 0: *out set; -1: an integer past int64. */
static int parse_int(const char *text, int64_t *out)
{
    const char *p = text;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    int base = 10;
    const char *digits = p;
    if (p[0] == '0' && p[1] == 'b') {
        base = 2;
        digits = p + 2;
        if (!all_in(digits, "01_"))
            return 1;
    } else if (p[0] == '0' && p[1] == 'x') {
        base = 16;
        digits = p + 2;
        if (!all_in(digits, "0123456789abcdefABCDEF_"))
            return 1;
    } else if (p[0] == '0' && p[1]) {
        base = 8;
        digits = p + 1;
        if (!all_in(digits, "01234567_"))
            return 1;
    } else if (strchr(p, ':')) {
        double v;
        if (!parse_base60(p, false, &v))
            return 1;
        if (v >= 9223372036854775808.0)
            return -1;
        *out = neg ? -(int64_t)v : (int64_t)v;
        return 0;
    } else if (!(p[0] == '0' && !p[1]) &&
               !(p[0] >= '1' && p[0] <= '9' && (p[1] == '\0' || all_in(p + 1, "0123456789_")))) {
        return 1;
    }
    uint64_t v = 0;
    int ndigits = 0;
    for (const char *d = digits; *d; d++) {
        if (*d == '_')
            continue;
        int x = isdigit((unsigned char)*d) ? *d - '0' : (tolower((unsigned char)*d) - 'a' + 10);
        if (v > (UINT64_MAX - (uint64_t)x) / (uint64_t)base)
            return -1;
        v = v * (uint64_t)base + (uint64_t)x;
        ndigits++;
    }
    if (!ndigits)
        return base == 8 ? (*out = 0, 0) : 1; /* "0_" is 0 to PyYAML; "0x_" is nothing */
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* [-+]?(D[.D*]|.D)([eE][-+]?[0-9]+)? with D = [0-9][0-9_]*, needing a dot or
 * an exponent; base-60 with a fraction; .inf/.nan. */
static bool parse_real(const char *text, double *out)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};
    const char *p = text;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (is_one_of(p, inf)) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (p == text && is_one_of(p, nan_words)) {
        *out = NAN;
        return true;
    }
    if (strchr(p, ':')) {
        double v;
        if (!parse_base60(p, true, &v))
            return false;
        *out = neg ? -v : v;
        return true;
    }
    const char *q = p;
    int int_digits = 0, frac_digits = 0;
    bool dot = false, exp = false;
    if (isdigit((unsigned char)*q)) {
        for (; isdigit((unsigned char)*q) || *q == '_'; q++)
            int_digits++;
    }
    if (*q == '.') {
        dot = true;
        q++;
        if (int_digits == 0 && !isdigit((unsigned char)*q))
            return false;
        for (; isdigit((unsigned char)*q) || *q == '_'; q++)
            frac_digits++;
    }
    if (!int_digits && !frac_digits)
        return false;
    if (*q == 'e' || *q == 'E') {
        exp = true;
        q++;
        if (*q == '-' || *q == '+')
            q++;
        if (!isdigit((unsigned char)*q))
            return false;
        while (isdigit((unsigned char)*q))
            q++;
    }
    if (*q || (!dot && !exp))
        return false;
    char *clean = strip_underscores(text);
    *out = strtod(clean, NULL);
    free(clean);
    return true;
}

static void set_err(ytree_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(ytree_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(n->err);
    n->err = xvasprintf(fmt, ap);
    va_end(ap);
    n->type = YTREE_STR;
}

/* Resolves a plain scalar's text; returns false when it is a string. */
static bool resolve_plain(ytree_node *n)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes",
                                        "YES",  "on",   "On",   "ON",  NULL};
    static const char *const falses[] = {"false", "False", "FALSE", "no",  "No",
                                         "NO",    "off",   "Off",   "OFF", NULL};
    const char *s = n->text;
    if (n->len == 0 || is_one_of(s, nulls)) {
        n->type = YTREE_NULL;
        return true;
    }
    if (is_one_of(s, trues) || is_one_of(s, falses)) {
        n->type = YTREE_BOOL;
        n->boolean = is_one_of(s, trues);
        return true;
    }
    int rc = parse_int(s, &n->integer);
    if (rc == 0) {
        n->type = YTREE_INT;
        return true;
    }
    if (rc < 0) {
        set_err(n, "the integer %s does not fit in 64 bits; quote it to pass it as a string", s);
        return true;
    }
    if (parse_real(s, &n->real)) {
        n->type = YTREE_REAL;
        return true;
    }
    n->type = YTREE_STR;
    return false;
}

/* Applies a scalar's tag; returns 0 or fails the build. */
static int resolve_scalar(builder *b, ytree_node *n, const char *tag, bool plain)
{
    n->type = YTREE_STR;
    if (memchr(n->text, '\0', n->len)) {
        set_err(n, "the string holds a NUL character (\\0), which no argument or file name "
                   "can carry; remove it");
        return 0;
    }
    if (!tag)
        return plain ? (resolve_plain(n), 0) : 0;
    if (!strcmp(tag, "!") || !strcmp(tag, TAG_PREFIX "str"))
        return 0;
    static const struct {
        const char *tag;
        ytree_type type;
    } forced[] = {{TAG_PREFIX "int", YTREE_INT},
                  {TAG_PREFIX "float", YTREE_REAL},
                  {TAG_PREFIX "bool", YTREE_BOOL},
                  {TAG_PREFIX "null", YTREE_NULL}};
    for (size_t i = 0; i < ARRAY_SIZE(forced); i++) {
        if (strcmp(tag, forced[i].tag))
            continue;
        resolve_plain(n);
        if (n->err)
            return 0;
        if (forced[i].type == YTREE_REAL && n->type == YTREE_INT) {
            n->type = YTREE_REAL;
            n->real = (double)n->integer;
        }
        if (n->type != forced[i].type)
            return fail(b, n->line, n->col, "'%s' does not match its tag !!%s; remove the tag",
                        n->text, tag + strlen(TAG_PREFIX));
        return 0;
    }
    return fail(b, n->line, n->col, "unsupported YAML tag '%s'; remove it", tag);
}

/* ---- merge keys ---- */

static bool is_merge_key(const ytree_node *k)
{
    return k->kind == YTREE_SCALAR && k->type == YTREE_STR && !strcmp(k->text, "<<") && !k->err;
}

static bool same_key(const ytree_node *a, const ytree_node *b)
{
    if (a == b)
        return true;
    return a->kind == YTREE_SCALAR && b->kind == YTREE_SCALAR && a->len == b->len &&
           !memcmp(a->text, b->text, a->len);
}

/* Position of key in pairs[0..npairs) (pairs as key,value,...), or -1. */
static long find_pair(ytree_node **pairs, size_t npairs, const ytree_node *key)
{
    for (size_t i = 0; i < npairs; i++)
        if (same_key(pairs[2 * i], key))
            return (long)i;
    return -1;
}

/*
 * Rewrites mapping m so that its <<: merges are resolved (see yaml_tree.h).
 * Pairs taken from merged mappings are never reported as duplicates; keys
 * written twice in m itself stay twice, for the loader to report.
 */
static int resolve_merges(builder *b, ytree_node *m)
{
    bool any = false;
    for (size_t i = 0; i < m->n; i += 2)
        any |= is_merge_key(m->items[i]);
    if (!any)
        return 0;

    ytree_node **out = NULL;
    size_t nout = 0, cap = 0; /* pairs */
    bool *written = NULL;     /* per pair of out: written in m (not merged) */
    size_t wcap = 0;
    int rc = 0;

    /* Merged pairs first: PyYAML reverses a merge list and lets later
     * pairs win, so an earlier mapping in the list has the last word. */
    for (size_t i = 0; i < m->n && !rc; i += 2) {
        if (!is_merge_key(m->items[i]))
            continue;
        ytree_node *v = m->items[i + 1];
        ytree_node **sources = &v;
        size_t nsources = 1;
        if (v->kind == YTREE_SEQ) {
            sources = v->items;
            nsources = v->n;
        }
        for (size_t s = nsources; s > 0 && !rc; s--) {
            ytree_node *src = sources[s - 1];
            if (src->kind != YTREE_MAP) {
                rc = fail(b, src->line, src->col,
                          "a merge key '<<' takes a mapping or a list of mappings, not %s",
                          ytree_describe(src));
                break;
            }
            for (size_t p = 0; p < src->n; p += 2) {
                long at = find_pair(out, nout, src->items[p]);
                if (at >= 0) {
                    out[2 * at + 1] = src->items[p + 1];
                    continue;
                }
                XGROW(out, cap, 2 * nout + 2);
                XGROW(written, wcap, nout + 1);
                out[2 * nout] = src->items[p];
                out[2 * nout + 1] = src->items[p + 1];
                written[nout++] = false;
            }
        }
    }
    for (size_t i = 0; i < m->n && !rc; i += 2) {
        if (is_merge_key(m->items[i]))
            continue;
        long at = find_pair(out, nout, m->items[i]);
        if (at >= 0 && !written[at]) {
            out[2 * at + 1] = m->items[i + 1];
            written[at] = true;
            continue;
        }
        XGROW(out, cap, 2 * nout + 2);
        XGROW(written, wcap, nout + 1);
        out[2 * nout] = m->items[i];
        out[2 * nout + 1] = m->items[i + 1];
        written[nout++] = true;
    }
    free(written);
    if (rc) {
        free(out);
        return rc;
    }
    free(m->items);
    m->items = out;
    m->n = 2 * nout;
    m->cap = cap;
    return 0;
}

/* ---- the event loop ---- */

static int start_collection(builder *b, ytree_kind kind, const yaml_event_t *ev,
                            const yaml_char_t *anchor_name, const yaml_char_t *tag)
{
    const yaml_mark_t *mark = &ev->start_mark;
    if (b->depth + 1 > YTREE_MAX_DEPTH)
        return fail(b, (int)mark->line + 1, (int)mark->column + 1,
                    "the YAML nests deeper than %d levels; flatten it", YTREE_MAX_DEPTH);
    if (tag) {
        const char *want = kind == YTREE_SEQ ? TAG_PREFIX "seq" : TAG_PREFIX "map";
        if (strcmp((const char *)tag, want) && strcmp((const char *)tag, "!"))
            return fail(b, (int)mark->line + 1, (int)mark->column + 1,
                        "unsupported YAML tag '%s'; remove it", (const char *)tag);
    }
    int rc = count_expanded(b, 1, mark);
    if (rc)
        return rc;
    ytree_node *n = new_node(b, kind, mark);
    n->open = true;
    attach(b, n);
    set_anchor(b, anchor_name, n);
    XGROW(b->stack, b->stack_cap, b->depth + 1);
    b->stack[b->depth++] = n;
    return 0;
}

static int end_collection(builder *b)
{
    ytree_node *n = b->stack[--b->depth];
    int rc = n->kind == YTREE_MAP ? resolve_merges(b, n) : 0;
    if (rc)
        return rc;
    n->open = false;
    n->weight = 1;
    n->height = 1;
    for (size_t i = 0; i < n->n; i++) {
        n->weight += n->items[i]->weight;
        if (n->items[i]->height + 1 > n->height)
            n->height = n->items[i]->height + 1;
    }
    return 0;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    int rc = count_expanded(b, 1, &ev->start_mark);
    if (rc)
        return rc;
    if (b->depth + 1 > YTREE_MAX_DEPTH)
        return fail(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                    "the YAML nests deeper than %d levels; flatten it", YTREE_MAX_DEPTH);
    ytree_node *n = new_node(b, YTREE_SCALAR, &ev->start_mark);
    n->len = ev->data.scalar.length;
    n->text = xmalloc(n->len + 1);
    memcpy(n->text, ev->data.scalar.value, n->len);
    n->text[n->len] = '\0';
    rc = resolve_scalar(b, n, (const char *)ev->data.scalar.tag,
                        ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
    if (rc)
        return rc;
    attach(b, n);
    set_anchor(b, ev->data.scalar.anchor, n);
    return 0;
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    ytree_node *n = find_anchor(b, name);
    if (!n)
        return fail(b, line, col, "alias '*%s' names no anchor; define '&%s' before using it", name,
                    name);
    if (n->open)
        return fail(b, line, col,
                    "alias '*%s' is used inside its own anchor, which would never end; "
                    "remove the recursion",
                    name);
    if (b->depth + (size_t)n->height > YTREE_MAX_DEPTH)
        return fail(b, line, col, "alias '*%s' nests the YAML deeper than %d levels", name,
                    YTREE_MAX_DEPTH);
    int rc = count_expanded(b, n->weight, &ev->start_mark);
    if (rc)
        return rc;
    attach(b, n);
    return 0;
}

/* 1-based line:col of byte offset off (columns count characters, as libyaml's). */
static void offset_to_mark(const char *text, size_t len, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
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

/* The source line (1-based) as a pointer and length, for hints. */
static const char *source_line(const char *text, size_t len, int line, size_t *out_len)
{
    const char *p = text, *end = text + len;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        p = nl + 1;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *out_len = (size_t)((nl ? nl : end) - p);
    return p;
}

static bool line_has(const char *line, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; line && i + k <= n; i++)
        if (!memcmp(line + i, needle, k))
            return true;
    return false;
}

static int parser_failure(builder *b, const yaml_parser_t *p)
{
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_to_mark(b->text, b->len, p->problem_offset, &line, &col);
    } else {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
    }
    if (p->error == YAML_MEMORY_ERROR)
        SQ_BUG("libyaml ran out of memory");
    const char *problem = p->problem ? p->problem : "unknown problem";
    size_t n = 0;
    const char *src = source_line(b->text, b->len, line, &n);
    const char *hint = "check the indentation, colons and quotes near here";
    if (line_has(src, n, "\t"))
        hint = "YAML does not allow tabs for indentation; use spaces";
    else if (line_has(src, n, "${") && (line_has(src, n, "[") || line_has(src, n, "{")))
        hint = "a ${macro} inside [...] or {...} must be quoted: [python3, \"${program}\"]";
    if (p->context && p->error != YAML_READER_ERROR && p->context_mark.line + 1 != (size_t)line)
        return fail(b, line, col, "invalid YAML: %s %s (started at line %d:%d); %s", problem,
                    p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1,
                    hint);
    if (p->context)
        return fail(b, line, col, "invalid YAML: %s %s; %s", problem, p->context, hint);
    return fail(b, line, col, "invalid YAML: %s; %s", problem, hint);
}

int ytree_parse(ytree *t, const char *text, size_t len, char **err_msg, int *err_line, int *err_col)
{
    builder b = {.t = t, .text = text, .len = len};
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0;
    bool done = false;

    *err_msg = NULL;
    *err_line = *err_col = 0;
    if (!yaml_parser_initialize(&parser))
        SQ_BUG("libyaml could not initialise a parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    while (!done && !rc) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_failure(&b, &parser);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++b.documents > 1)
                rc = fail(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                          "a second YAML document starts here; a spec file holds one document, "
                          "so split it into several files");
            break;
        case YAML_SCALAR_EVENT: rc = on_scalar(&b, &ev); break;
        case YAML_ALIAS_EVENT: rc = on_alias(&b, &ev); break;
        case YAML_SEQUENCE_START_EVENT:
            rc = start_collection(&b, YTREE_SEQ, &ev, ev.data.sequence_start.anchor,
                                  ev.data.sequence_start.tag);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = start_collection(&b, YTREE_MAP, &ev, ev.data.mapping_start.anchor,
                                  ev.data.mapping_start.tag);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: rc = end_collection(&b); break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < b.nanchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    free(b.stack);
    if (rc) {
        *err_msg = b.err;
        *err_line = b.err_line;
        *err_col = b.err_col;
    }
    return rc;
}

void ytree_release(ytree *t)
{
    for (size_t i = 0; i < t->nnodes; i++) {
        free(t->nodes[i]->text);
        free(t->nodes[i]->err);
        free(t->nodes[i]->items);
        free(t->nodes[i]);
    }
    free(t->nodes);
    t->nodes = NULL;
    t->nnodes = t->cap = 0;
    t->root = NULL;
}

const char *ytree_describe(const ytree_node *n)
{
    if (n->kind == YTREE_SEQ)
        return "a list";
    if (n->kind == YTREE_MAP)
        return "a mapping";
    switch (n->type) {
    case YTREE_NULL: return "nothing (null)";
    case YTREE_BOOL: return "a boolean";
    case YTREE_INT: return "an integer";
    case YTREE_REAL: return "a number";
    case YTREE_STR: break;
    }
    return "a string";
}
