/*
 * command.c - the exact command of one trial: argv (without a shell, or
 * /bin/sh -c STRING for a command given as one string), its environment
 * additions, its working directory, and a shell-quoted line for humans.
 *
 * Macros (docs/spec.md, "Macros"):
 *   ${env} ${interpreter} ${program}            one value each
 *   ${args} ${args_no_hyphens}                  one value per parameter
 *   ${args_no_boolean_flags} ${args_no_equals}  (two per parameter)
 *   ${args_json} ${args_json_file}              one value
 *   ${param.NAME} ${trial_dir} ${trial} ${sweep} ${envvar:NAME}
 * As in W&B's agent, a list item that is exactly one macro becomes as many
 * argv items as the macro has values. Elsewhere (inside an item, an env
 * value, workdir, a shell string) the values are joined with spaces into the
 * text; in a shell string each value is first quoted for the place where it
 * stands, so no value can run as shell code:
 *   bare (also inside a longer word)   'value', ' written '\''
 *   inside '...'                       the quote closed, 'value', reopened
 *   inside "..."                       \ before each $ ` " and \
 *   after a backslash, inside `...`    refused (SQ_EINVAL): no quoting is safe
 * The place is found by following /bin/sh's quoting through the text around
 * the macros (sh_scan): '...', "...", `...`, $( ) and $(( )) nested in any
 * order, and backslash escapes.
 *
 * Invariants:
 *   - argv[0..argc) are one block of NUL-separated strings starting at
 *     argv[0] (likewise env), so a command costs three allocations and
 *     spec_command_release frees exactly those.
 *   - Nothing here runs a shell or touches the file system.
 */
#include "util/common.h"

#include "spec/format.h"
#include "spec/spec.h"

typedef enum {
    SINK_ITEMS, /* each value becomes its own argv item */
    SINK_TEXT,  /* values joined by spaces into the current text */
    SINK_SHELL, /* like SINK_TEXT, each value quoted for its place */
} sink_mode;

/* Where a macro stands in a one-string command, as /bin/sh reads it. */
typedef enum {
    SH_BARE,      /* outside any quotes (also inside a longer word, or $( )) */
    SH_SINGLE,    /* inside '...' */
    SH_DOUBLE,    /* inside "..." */
    SH_UNSAFE_BQ, /* inside `...`: its text is unquoted once more, then run */
    SH_UNSAFE_BS, /* right after a backslash, which would take the quote */
} sh_place;

/* Where a macro's values go. */
typedef struct sink {
    sink_mode mode;
    strbuf *out;   /* the text or the items block */
    strbuf *tmp;   /* SINK_SHELL: the value before quoting */
    size_t nvals;  /* values written by this macro so far */
    size_t **offs; /* SINK_ITEMS: where each item starts in out */
    size_t *noffs, *capoffs;
    sh_place place; /* SINK_SHELL: how to quote */
} sink;

/* ---- following /bin/sh's quoting -------------------------------------- */

#define SH_DEPTH 32

/* The constructs open where the text read so far ends: a stack of '"'
 * (double quotes), '`' (backquotes) and '(' ($( ) or $(( ))), the plain
 * parentheses open inside each $(, and whether single quotes are open
 * (only ever in the innermost unquoted context). */
typedef struct sh_scan {
    char stack[SH_DEPTH];
    int parens[SH_DEPTH];
    size_t depth;
    bool single, escaped, overflow;
} sh_scan;

static void sh_push(sh_scan *sc, char c)
{
    if (sc->depth == SH_DEPTH) {
        sc->overflow = true;
        return;
    }
    sc->parens[sc->depth] = 0;
    sc->stack[sc->depth++] = c;
}

/* Follows the quoting through text[0..len) (text around macros only: what a
 * macro writes is balanced by construction). */
static void sh_feed(sh_scan *sc, const char *text, size_t len)
{
    for (size_t i = 0; i < len && !sc->overflow; i++) {
        char c = text[i], top = sc->depth ? sc->stack[sc->depth - 1] : 0;
        bool subst = c == '$' && i + 1 < len && text[i + 1] == '(';
        if (sc->escaped) {
            sc->escaped = false;
        } else if (sc->single) {
            sc->single = c != '\'';
        } else if (top == '`') {
            if (c == '\\')
                sc->escaped = true;
            else if (c == '`')
                sc->depth--;
        } else if (top == '"') {
            if (c == '\\')
                sc->escaped = true;
            else if (c == '"')
                sc->depth--;
            else if (c == '`')
                sh_push(sc, '`');
            else if (subst)
                sh_push(sc, '('), i++;
        } else if (c == '\\') {
            sc->escaped = true;
        } else if (c == '\'') {
            sc->single = true;
        } else if (c == '"' || c == '`') {
            sh_push(sc, c);
        } else if (subst) {
            sh_push(sc, '('), i++;
        } else if (top == '(' && c == '(') {
            sc->parens[sc->depth - 1]++;
        } else if (top == '(' && c == ')') {
            if (sc->parens[sc->depth - 1]-- == 0)
                sc->depth--;
        }
    }
}

static sh_place sh_place_now(const sh_scan *sc)
{
    for (size_t i = 0; i < sc->depth; i++) {
        if (sc->stack[i] == '`')
            return SH_UNSAFE_BQ;
    }
    if (sc->escaped || sc->overflow)
        return SH_UNSAFE_BS;
    if (sc->single)
        return SH_SINGLE;
    return sc->depth && sc->stack[sc->depth - 1] == '"' ? SH_DOUBLE : SH_BARE;
}

/* Appends value s quoted for place (SH_BARE, SH_SINGLE or SH_DOUBLE). */
static int add_quoted(strbuf *out, const char *s, sh_place place)
{
    int rc = 0;
    switch (place) {
    case SH_SINGLE: /* close the quote, the value as a bare word, reopen */
        rc = sb_addc(out, '\'');
        if (!rc)
            rc = sb_add_shell_quoted(out, s);
        return rc ? rc : sb_addc(out, '\'');
    case SH_DOUBLE: /* inside "...", only $ ` " \ mean something */
        for (; !rc && *s; s++)
            rc = strchr("$`\"\\", *s) ? sb_addf(out, "\\%c", *s) : sb_addc(out, *s);
        return rc;
    default: return sb_add_shell_quoted(out, s);
    }
}

typedef struct builder {
    const spec *s;
    const json_t *params;
    const spec_command_ctx *ctx;
    strbuf tmp;
} builder;

/* Starts the next value: returns the buffer to write it into. */
static strbuf *val_begin(sink *k)
{
    if (k->mode == SINK_ITEMS) {
        XGROW(*k->offs, *k->capoffs, *k->noffs + 1);
        (*k->offs)[(*k->noffs)++] = k->out->len;
        return k->out;
    }
    if (k->nvals)
        sb_addc(k->out, ' ');
    if (k->mode == SINK_SHELL) {
        sb_reset(k->tmp);
        return k->tmp;
    }
    return k->out;
}

static int val_end(sink *k)
{
    k->nvals++;
    if (k->mode == SINK_ITEMS)
        return sb_addc(k->out, '\0');
    if (k->mode == SINK_SHELL)
        return add_quoted(k->out, sb_str(k->tmp), k->place);
    return 0;
}

static int add_string_value(sink *k, const char *s)
{
    int rc = sb_adds(val_begin(k), s);
    return rc ? rc : val_end(k);
}

typedef enum {
    ARGS_PLAIN,         /* --name=value */
    ARGS_NO_HYPHENS,    /* name=value */
    ARGS_NO_BOOL_FLAGS, /* --name=value; true -> --name; false -> nothing */
    ARGS_NO_EQUALS,     /* --name value */
} args_style;

/*
 * The parameters of a trial in the order of the spec (the order that numbers
 * trials), whatever the key order of the object: params read back from the
 * store are canonical JSON, with sorted keys, and must give the same command
 * as the dry run. Keys the spec does not name come last, in object order.
 */
typedef struct param_iter {
    const spec *s;
    const json_t *params;
    size_t i;     /* next spec parameter */
    size_t found; /* spec parameters present in params */
    void *extra;  /* jansson iterator over params for the keys left over */
    bool extras_started;
    const spec_param *cur; /* the spec's parameter just returned; NULL for a key left over */
} param_iter;

static bool spec_names(const spec *s, const char *name)
{
    for (size_t i = 0; i < s->nparams; i++)
        if (!strcmp(s->params[i].name, name))
            return true;
    return false;
}

static bool param_next(param_iter *it, const char **name, json_t **v)
{
    while (it->i < it->s->nparams) {
        const char *n = it->s->params[it->i++].name;
        json_t *x = json_object_get(it->params, n);
        if (x) {
            it->cur = &it->s->params[it->i - 1];
            it->found++;
            *name = n;
            *v = x;
            return true;
        }
    }
    if (it->found == json_object_size(it->params))
        return false; /* the usual case: nothing but the spec's parameters */
    if (!it->extras_started) {
        it->extra = json_object_iter((json_t *)it->params);
        it->extras_started = true;
    }
    for (; it->extra; it->extra = json_object_iter_next((json_t *)it->params, it->extra)) {
        const char *n = json_object_iter_key(it->extra);
        if (spec_names(it->s, n))
            continue;
        it->cur = NULL;
        *name = n;
        *v = json_object_iter_value(it->extra);
        it->extra = json_object_iter_next((json_t *)it->params, it->extra);
        return true;
    }
    return false;
}

/* Sets value v at path[from..n) under object o, making the mappings on
 * the way (W&B's _renest); parameters come sorted, so keys are inserted in
 * order at every level. */
static void set_nested(json_t *o, char *const *path, size_t n, json_t *v)
{
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *child = json_object_get(o, path[i]);
        if (!json_is_object(child)) {
            child = json_object();
            json_object_set_new(o, path[i], child);
        }
        o = child;
    }
    json_object_set(o, path[n - 1], v);
}

static int cmp_strs(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* v with every mapping's keys in sorted order, at any depth: W&B's server
 * hands the agent each run's config as JSON with sorted keys (a Go map),
 * so a dict value reaches the program sorted. New reference. */
static json_t *sorted_value(json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array(), *item;
        size_t i;
        json_array_foreach(v, i, item) json_array_append_new(a, sorted_value(item));
        return a;
    }
    if (!json_is_object(v))
        return json_incref(v);
    size_t n = json_object_size(v), k = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof *keys), *key;
    json_t *item;
    json_object_foreach(v, key, item) keys[k++] = key;
    qsort(keys, n, sizeof *keys, cmp_strs);
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, keys[i], sorted_value(json_object_get(v, keys[i])));
    free(keys);
    return o;
}

/*
 * What W&B's agent receives as the run's config, one entry per top-level
 * key in the spec's order: a nested parameter's keys are gathered into one
 * mapping under its outermost key ({"optimizer": {"lr": 0.001, "name":
 * "adam"}}), as W&B's to_config nests them, and every dict value's keys
 * sorted, as W&B's server serves them. The sweep: form stays flat (Hydra
 * takes dotted names). New reference.
 */
json_t *spec_args_view(const spec *s, const json_t *params)
{
    param_iter it = {s, params, 0, 0, NULL, false, NULL};
    json_t *view = json_object();
    const char *name;
    json_t *v;
    while (param_next(&it, &name, &v)) {
        bool wandb = s->dialect == SPEC_DIALECT_WANDB;
        json_t *x =
            wandb && (json_is_object(v) || json_is_array(v)) ? sorted_value(v) : json_incref(v);
        if (wandb && it.cur && it.cur->npath > 1)
            set_nested(view, it.cur->path, it.cur->npath, x);
        else
            json_object_set_nocheck(view, name, x);
        json_decref(x);
    }
    return view;
}

char *spec_wandb_config(const spec *s, const json_t *params)
{
    json_t *view = spec_args_view(s, params), *file = json_object(), *v;
    const char *name;
    json_object_set_new(file, "wandb_version", json_integer(1));
    json_object_foreach(view, name, v)
        json_object_set_new(file, name, json_pack("{sO}", "value", v));
    char *text = spec_yaml_flow(file);
    json_decref(file);
    json_decref(view);
    return text;
}

/* A value in the sweep: form's arguments, as hpc-sweep-manager writes them
 * (create_command_line_args): null, true and false in Hydra's spelling;
 * everything else as W&B's agent writes it (Python's str()). */
static int add_value(const builder *b, strbuf *o, const json_t *v)
{
    if (b->s->dialect == SPEC_DIALECT_HSM) {
        if (json_is_null(v))
            return sb_adds(o, "null");
        if (json_is_boolean(v))
            return sb_adds(o, json_is_true(v) ? "true" : "false");
    }
    return spec_format_value_into(o, v);
}

/* The ${args...} family, as W&B's create_sweep_command_args makes them. */
static int add_args(builder *b, sink *k, args_style style)
{
    json_t *view = spec_args_view(b->s, b->params);
    const char *name;
    json_t *v;
    int rc = 0;
    json_object_foreach(view, name, v)
    {
        if (style == ARGS_NO_BOOL_FLAGS && json_is_false(v))
            continue;
        strbuf *o = val_begin(k);
        if (style != ARGS_NO_HYPHENS)
            rc = sb_adds(o, "--");
        if (!rc)
            rc = sb_adds(o, name);
        if (!rc && style == ARGS_NO_EQUALS) {
            rc = val_end(k);
            o = rc ? o : val_begin(k);
        } else if (!rc && !(style == ARGS_NO_BOOL_FLAGS && json_is_true(v))) {
            rc = sb_addc(o, '=');
        }
        if (!rc && !(style == ARGS_NO_BOOL_FLAGS && json_is_true(v)))
            rc = add_value(b, o, v);
        if (!rc)
            rc = val_end(k);
        if (rc)
            break;
    }
    json_decref(view);
    return rc;
}

/* ${args_json}: json.dumps of the run's config values, in the spec's order. */
static int add_args_json(builder *b, sink *k)
{
    json_t *view = spec_args_view(b->s, b->params);
    int rc = spec_args_json_into(val_begin(k), view);
    json_decref(view);
    return rc ? rc : val_end(k);
}

static int unknown_param(builder *b, const char *name, size_t len)
{
    strbuf known = SB_INIT;
    const char *key;
    json_t *v;
    size_t n = 0;
    json_object_foreach((json_t *)b->params, key, v)
    {
        if (n++ == 12) {
            sb_adds(&known, ", ...");
            break;
        }
        sb_addf(&known, "%s%s", n > 1 ? ", " : "", key);
    }
    int rc = sq_error_set(SQ_EINVAL,
                          "unknown parameter '%.*s' in '${param.%.*s}': the parameters are %s",
                          (int)len, name, (int)len, name, n ? sb_str(&known) : "(none)");
    sb_release(&known);
    return rc;
}

static int need(const char *value, const char *macro, const char *why)
{
    if (value)
        return 0;
    return sq_error_set(SQ_EINVAL, "the command uses '${%s}' but %s", macro, why);
}

static bool is(const char *name, size_t len, const char *word)
{
    return strlen(word) == len && !memcmp(name, word, len);
}

/* Writes the values of macro ${name} (len bytes, without ${ }) to k. */
static int add_macro(builder *b, const char *name, size_t len, sink *k)
{
    const spec *s = b->s;
    const spec_command_ctx *c = b->ctx;
    int rc;
    if (len > 6 && !memcmp(name, "param.", 6)) {
        json_t *v = json_object_getn(b->params, name + 6, len - 6);
        if (!v)
            return unknown_param(b, name + 6, len - 6);
        rc = add_value(b, val_begin(k), v);
        return rc ? rc : val_end(k);
    }
    if (len > 7 && !memcmp(name, "envvar:", 7)) {
        /* W&B: the variable's value where the agent runs, else its name. */
        char *var = xstrndup(name + 7, len - 7);
        const char *val = getenv(var);
        rc = add_string_value(k, val ? val : var);
        free(var);
        return rc;
    }
    if (is(name, len, "args"))
        return add_args(b, k, ARGS_PLAIN);
    if (is(name, len, "args_no_hyphens"))
        return add_args(b, k, ARGS_NO_HYPHENS);
    if (is(name, len, "args_no_boolean_flags"))
        return add_args(b, k, ARGS_NO_BOOL_FLAGS);
    if (is(name, len, "args_no_equals"))
        return add_args(b, k, ARGS_NO_EQUALS);
    if (is(name, len, "args_json"))
        return add_args_json(b, k);
    if (is(name, len, "env"))
        return add_string_value(k, c->env_program ? c->env_program : "/usr/bin/env");
    if (is(name, len, "interpreter"))
        return add_string_value(k, s->interpreter   ? s->interpreter
                                   : c->interpreter ? c->interpreter
                                                    : "python3");
    if (is(name, len, "program")) {
        rc = need(s->program, "program", "the spec has no 'program'; add 'program: train.py'");
        return rc ? rc : add_string_value(k, s->program);
    }
    if (is(name, len, "trial_dir") || is(name, len, "args_json_file")) {
        rc = need(c->trial_dir, is(name, len, "trial_dir") ? "trial_dir" : "args_json_file",
                  "no trial directory is known");
        if (rc)
            return rc;
        strbuf *o = val_begin(k);
        rc = sb_adds(o, c->trial_dir);
        if (!rc && is(name, len, "args_json_file"))
            rc = sb_adds(o, "/params.json");
        return rc ? rc : val_end(k);
    }
    if (is(name, len, "trial")) {
        rc = sb_addf(val_begin(k), "%llu", (unsigned long long)c->trial_number);
        return rc ? rc : val_end(k);
    }
    if (is(name, len, "sweep")) {
        const char *sweep = c->sweep_name ? c->sweep_name : s->name;
        rc = need(sweep, "sweep", "the sweep has no name");
        return rc ? rc : add_string_value(k, sweep);
    }
    return sq_error_set(SQ_EINVAL,
                        "unknown macro '${%.*s}'; see docs/spec.md for the macros, or write a "
                        "shell variable as $NAME",
                        (int)len, name);
}

/* If text is exactly one macro "${NAME}", its name and length. */
static bool whole_macro(const char *text, const char **name, size_t *len)
{
    size_t n = strlen(text);
    if (n < 4 || text[0] != '$' || text[1] != '{' || text[n - 1] != '}')
        return false;
    if (memchr(text + 2, '}', n - 3))
        return false;
    *name = text + 2;
    *len = n - 3;
    return true;
}

/* SQ_EINVAL for a macro at a place of a shell string where no quoting is
 * safe. */
static int unsafe_place(sh_place place, const char *m, size_t len)
{
    return sq_error_set(SQ_EINVAL,
                        place == SH_UNSAFE_BQ
                            ? "macro '%.*s' inside backquotes in a one-string command cannot be "
                              "quoted safely: write $(...) instead of `...`"
                            : "macro '%.*s' right after a backslash in a one-string command "
                              "cannot be quoted safely: remove the backslash",
                        (int)len, m);
}

int spec_shell_macros_check(const char *text)
{
    sh_scan sc = {0};
    const char *p = text, *m;
    while ((m = strstr(p, "${"))) {
        const char *end = strchr(m + 2, '}');
        if (!end)
            return 0; /* the loader reports the unclosed macro itself */
        sh_feed(&sc, p, (size_t)(m - p));
        sh_place place = sh_place_now(&sc);
        if (place == SH_UNSAFE_BQ || place == SH_UNSAFE_BS)
            return unsafe_place(place, m, (size_t)(end - m + 1));
        p = end + 1;
    }
    return 0;
}

/* Appends text to out with every macro replaced (quoted for its place when
 * shell: text is a whole one-string command). */
static int substitute(builder *b, const char *text, strbuf *out, bool shell)
{
    const char *p = text;
    sh_scan sc = {0};
    int rc = 0;
    while (!rc && *p) {
        const char *m = strstr(p, "${");
        if (!m)
            return sb_adds(out, p);
        rc = sb_add(out, p, (size_t)(m - p));
        const char *end = strchr(m + 2, '}');
        if (!rc && !end)
            return sq_error_set(SQ_EINVAL, "'${' without a closing '}' in '%s'", text);
        if (rc)
            break;
        sink k = {shell ? SINK_SHELL : SINK_TEXT, out, &b->tmp, 0, NULL, NULL, NULL, SH_BARE};
        if (shell) {
            sh_feed(&sc, p, (size_t)(m - p));
            k.place = sh_place_now(&sc);
            if (k.place == SH_UNSAFE_BQ || k.place == SH_UNSAFE_BS)
                return unsafe_place(k.place, m, (size_t)(end - m + 1));
        }
        rc = add_macro(b, m + 2, (size_t)(end - m - 2), &k);
        p = end + 1;
    }
    return rc;
}

/* A word for the display line: bare when it is safe for sh as it is. */
static int add_display_word(strbuf *sb, const char *w, bool first)
{
    bool safe = *w != '\0';
    for (const char *p = w; safe && *p; p++)
        safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               strchr("_@%+=:,./-", *p) != NULL;
    /* A first word with '=' would read as an assignment. */
    if (safe && !(first && strchr(w, '=')))
        return sb_adds(sb, w);
    return sb_add_shell_quoted(sb, w);
}

/* Turns a block of NUL-separated strings into a NULL-terminated vector
 * whose first pointer owns the block. Takes the buffer's contents. */
static char **make_vector(strbuf *block, const size_t *offs, size_t n)
{
    char **v = xmalloc((n + 1) * sizeof *v);
    char *base = n ? sb_detach(block) : NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = base + offs[i];
    v[n] = NULL;
    return v;
}

int spec_build_command(const spec *s, const json_t *params, const spec_command_ctx *ctx,
                       spec_command *out)
{
    memset(out, 0, sizeof *out);
    builder b = {s, params, ctx, SB_INIT};
    strbuf items = SB_INIT, envs = SB_INIT, display = SB_INIT, work = SB_INIT;
    size_t *offs = NULL, noffs = 0, capoffs = 0;
    size_t *eoffs = NULL, neoffs = 0, capeoffs = 0;
    int rc = 0;

    if (s->command_shell) {
        /* /bin/sh -c STRING: the string as written, values quoted. */
        static const char *const sh[] = {"/bin/sh", "-c"};
        for (size_t i = 0; i < 2; i++) {
            XGROW(offs, capoffs, noffs + 1);
            offs[noffs++] = items.len;
            sb_add(&items, sh[i], strlen(sh[i]) + 1);
        }
        XGROW(offs, capoffs, noffs + 1);
        offs[noffs++] = items.len;
        rc = substitute(&b, s->command_shell, &items, true);
        if (!rc)
            rc = sb_adds(&display, items.buf + offs[2]);
        if (!rc)
            rc = sb_addc(&items, '\0');
    } else {
        static const char *const dflt[] = {"${env}", "${interpreter}", "${program}", "${args}"};
        const char *const *cmd = s->command ? (const char *const *)s->command : dflt;
        size_t ncmd = s->command ? s->ncommand : ARRAY_SIZE(dflt);
        for (size_t i = 0; !rc && i < ncmd; i++) {
            const char *name;
            size_t len;
            if (whole_macro(cmd[i], &name, &len)) {
                sink k = {SINK_ITEMS, &items, NULL, 0, &offs, &noffs, &capoffs, SH_BARE};
                rc = add_macro(&b, name, len, &k);
                continue;
            }
            XGROW(offs, capoffs, noffs + 1);
            offs[noffs++] = items.len;
            rc = substitute(&b, cmd[i], &items, false);
            if (!rc)
                rc = sb_addc(&items, '\0');
        }
        if (!rc && noffs == 0)
            rc = sq_error_set(SQ_EINVAL, "the command of sweep '%s' is empty for trial %llu",
                              s->name ? s->name : "?", (unsigned long long)ctx->trial_number);
        for (size_t i = 0; !rc && i < noffs; i++) {
            if (i)
                rc = sb_addc(&display, ' ');
            if (!rc)
                rc = add_display_word(&display, items.buf + offs[i], i == 0);
        }
    }

    for (size_t i = 0; !rc && i < s->nenv; i++) {
        XGROW(eoffs, capeoffs, neoffs + 1);
        eoffs[neoffs++] = envs.len;
        rc = sb_addf(&envs, "%s=", s->env[i].name);
        if (!rc)
            rc = substitute(&b, s->env[i].value ? s->env[i].value : "", &envs, false);
        if (!rc)
            rc = sb_addc(&envs, '\0');
    }
    if (!rc && s->workdir)
        rc = substitute(&b, s->workdir, &work, false);
    if (rc)
        goto done;

    out->argc = noffs;
    out->argv = make_vector(&items, offs, noffs);
    out->nenv = neoffs;
    out->env = make_vector(&envs, eoffs, neoffs);
    out->workdir = s->workdir ? sb_detach(&work) : NULL;
    out->display = sb_detach(&display);
done:
    sb_release(&b.tmp);
    sb_release(&items);
    sb_release(&envs);
    sb_release(&display);
    sb_release(&work);
    free(offs);
    free(eoffs);
    return rc;
}

void spec_command_release(spec_command *c)
{
    if (c->argv && c->argc)
        free(c->argv[0]);
    free(c->argv);
    if (c->env && c->nenv)
        free(c->env[0]);
    free(c->env);
    free(c->workdir);
    free(c->display);
    memset(c, 0, sizeof *c);
}
