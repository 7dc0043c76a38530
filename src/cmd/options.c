/*
 * options.c - parse a verb's argv against its option table and print the
 * help the same table describes. See options.h.
 */
#include "cmd/options.h"

#include "cmd/exitcodes.h"
#include "util/common.h"
#include "util/units.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>

static const sq_option *find_long(const sq_option *opts, const char *name, size_t len)
{
    for (const sq_option *o = opts; o->type != OPT_END; o++)
        if (o->long_name && strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
            return o;
    return NULL;
}

static const sq_option *find_short(const sq_option *opts, char c)
{
    for (const sq_option *o = opts; o->type != OPT_END; o++)
        if (o->short_name && o->short_name == c)
            return o;
    return NULL;
}

static bool takes_arg(const sq_option *o)
{
    return o->type != OPT_BOOL && o->type != OPT_COUNT;
}

bool options_takes_arg(const sq_option *o)
{
    return takes_arg(o);
}

/* Set only inside options_capture: the next --help fills it instead of printing. */
static sq_verb_doc *capture;

static void capture_doc(const sq_usage *usage, const sq_option *opts)
{
    size_t n = 0;
    while (opts && opts[n].type != OPT_END)
        n++;
    capture->usage = *usage;
    capture->opts = xcalloc(n + 1, sizeof *capture->opts);
    if (n)
        memcpy(capture->opts, opts, n * sizeof *opts);
    for (size_t i = 0; i < n; i++)
        capture->opts[i].value = NULL; /* it pointed into the verb's stack frame */
    capture->nopts = n;
    capture = NULL;
}

int options_capture(int (*fn)(int, char **), const char *verb, sq_verb_doc *doc)
{
    char name[64], help[] = "--help";
    snprintf(name, sizeof name, "%s", verb);
    char *args[] = {name, help, NULL};
    memset(doc, 0, sizeof *doc);
    capture = doc;
    fn(2, args);
    bool got = capture == NULL;
    capture = NULL;
    return got ? 0 : -1;
}

void options_doc_release(sq_verb_doc *doc)
{
    free(doc->opts);
    memset(doc, 0, sizeof *doc);
}

static const char *opt_label(const sq_option *o, char *buf, size_t n)
{
    if (o->long_name)
        snprintf(buf, n, "--%s", o->long_name);
    else
        snprintf(buf, n, "-%c", o->short_name);
    return buf;
}

int options_usage_error(const sq_usage *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sweepq: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: sweepq %s %s\nTry 'sweepq %s --help' for more.\n", usage->name,
            usage->synopsis, usage->name);
    return EXIT_USAGE;
}

static int store_value(const sq_usage *usage, const sq_option *o, const char *arg)
{
    char label[64];
    opt_label(o, label, sizeof label);
    switch (o->type) {
    case OPT_BOOL: *(bool *)o->value = true; return 0;
    case OPT_COUNT: (*(int *)o->value)++; return 0;
    case OPT_STRING: *(const char **)o->value = arg; return 0;
    case OPT_LIST: {
        sq_strlist *l = o->value;
        l->items = xrealloc(l->items, sizeof *l->items * (size_t)(l->n + 1));
        l->items[l->n++] = arg;
        return 0;
    }
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(arg, &end, 10);
        if (errno || end == arg || *end || v < INT_MIN || v > INT_MAX)
            return options_usage_error(usage, "option '%s' expects an integer, not '%s'", label,
                                       arg);
        *(int *)o->value = (int)v;
        return 0;
    }
    case OPT_SIZE:
        if (units_parse_size(arg, o->value))
            return options_usage_error(usage, "option '%s': %s", label, sq_error_msg());
        return 0;
    case OPT_DURATION:
        if (units_parse_duration(arg, o->value))
            return options_usage_error(usage, "option '%s': %s", label, sq_error_msg());
        return 0;
    case OPT_END: break;
    }
    SQ_BUG("unknown option type %d", o->type);
}

/* The options every verb takes, checked after the verb's own table. */
static bool builtin_long(const char *name, size_t len, const char *arg, const sq_usage *usage,
                         sq_globals *g, int *consumed_arg, int *help)
{
    if (len == 4 && !strncmp(name, "help", 4)) {
        *help = 1;
        return true;
    }
    if (len == 4 && !strncmp(name, "json", 4) && usage->reads) {
        g->json = true;
        return true;
    }
    if (len == 5 && !strncmp(name, "store", 5)) {
        g->store_url = arg;
        *consumed_arg = 1;
        return true;
    }
    if (len == 10 && !strncmp(name, "token-file", 10)) {
        /* The http store reads the token where every verb's library calls
         * can see it, as if the user had set the variable. */
        g->token_file = arg;
        setenv("SWEEPQ_TOKEN_FILE", arg, 1);
        *consumed_arg = 1;
        return true;
    }
    return false;
}

static int parse_long(char **argv, int argc, int *i, const sq_usage *usage, const sq_option *opts,
                      sq_globals *g, int *help)
{
    const char *name = argv[*i] + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const char *arg = eq ? eq + 1 : (*i + 1 < argc ? argv[*i + 1] : NULL);
    const sq_option *o = find_long(opts, name, len);
    int consumed = 0;
    if (!o) {
        if (len == 5 && !strncmp(name, "store", 5) && !arg)
            return options_usage_error(usage, "option '--store' needs a URL");
        if (len == 10 && !strncmp(name, "token-file", 10) && !arg)
            return options_usage_error(usage, "option '--token-file' needs a FILE");
        if (!builtin_long(name, len, arg, usage, g, &consumed, help))
            return options_usage_error(usage, "unknown option '--%.*s'", (int)len, name);
        if (consumed && !eq)
            (*i)++;
        return 0;
    }
    if (!takes_arg(o)) {
        if (eq)
            return options_usage_error(usage, "option '--%s' takes no value", o->long_name);
        return store_value(usage, o, NULL);
    }
    if (!arg)
        return options_usage_error(usage, "option '--%s' needs a value (%s)", o->long_name,
                                   o->arg_name ? o->arg_name : "ARG");
    if (!eq)
        (*i)++;
    return store_value(usage, o, arg);
}

static int parse_short(char **argv, int argc, int *i, const sq_usage *usage, const sq_option *opts,
                       int *help)
{
    for (const char *c = argv[*i] + 1; *c; c++) {
        if (*c == 'h') {
            *help = 1;
            return 0;
        }
        const sq_option *o = find_short(opts, *c);
        if (!o)
            return options_usage_error(usage, "unknown option '-%c'", *c);
        if (!takes_arg(o)) {
            int rc = store_value(usage, o, NULL);
            if (rc)
                return rc;
            continue;
        }
        const char *arg = c[1] ? c + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        if (!arg)
            return options_usage_error(usage, "option '-%c' needs a value (%s)", *c,
                                       o->arg_name ? o->arg_name : "ARG");
        return store_value(usage, o, arg);
    }
    return 0;
}

int options_parse(int argc, char **argv, const sq_usage *usage, const sq_option *opts,
                  sq_globals *g, int *out_nargs)
{
    int nargs = 0, help = 0, rc = 0;
    bool operands_only = false;
    if (!g->store_url)
        g->store_url = getenv("SWEEPQ_STORE");
    for (int i = 1; i < argc && !rc && !help; i++) {
        char *a = argv[i];
        if (operands_only || a[0] != '-' || a[1] == '\0')
            argv[nargs++] = a;
        else if (!strcmp(a, "--"))
            operands_only = true;
        else if (a[1] == '-')
            rc = parse_long(argv, argc, &i, usage, opts, g, &help);
        else
            rc = parse_short(argv, argc, &i, usage, opts, &help);
    }
    if (rc)
        return rc;
    if (help && capture) {
        capture_doc(usage, opts);
        return OPTIONS_HELP_SHOWN;
    }
    if (help) {
        options_print_help(stdout, usage, opts);
        return OPTIONS_HELP_SHOWN;
    }
    *out_nargs = nargs;
    return 0;
}

static void print_option(FILE *f, char s, const char *l, const char *arg, const char *help)
{
    char left[64];
    int n =
        snprintf(left, sizeof left, "  %s%c%s%s%s%s%s", s ? "-" : "  ", s ? s : ' ',
                 s && l ? "," : " ", l ? " --" : "", l ? l : "", arg ? " " : "", arg ? arg : "");
    if (n < 28)
        fprintf(f, "%-28s %s\n", left, help);
    else
        fprintf(f, "%s\n%-28s %s\n", left, "", help);
}

void options_print_help(FILE *f, const sq_usage *usage, const sq_option *opts)
{
    fprintf(f, "usage: sweepq %s %s\n\n%s\n\noptions:\n", usage->name, usage->synopsis,
            usage->summary);
    for (const sq_option *o = opts; o && o->type != OPT_END; o++)
        print_option(f, o->short_name, o->long_name, takes_arg(o) ? o->arg_name : NULL, o->help);
    if (usage->reads)
        print_option(f, 0, "json", NULL, "print machine-readable JSON");
    print_option(f, 0, "store", "URL",
                 "sqlite:PATH, postgresql://... or http(s)://...; default $SWEEPQ_STORE, else "
                 ".sweepq/");
    print_option(f, 0, "token-file", "FILE",
                 "an http(s) store's token, unless $SWEEPQ_TOKEN; default .sweepq/server.token");
    print_option(f, 'h', "help", NULL, "show this help");
    if (usage->details)
        fprintf(f, "\n%s\n", usage->details);
}
