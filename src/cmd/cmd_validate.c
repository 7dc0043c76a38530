/*
 * cmd_validate.c - `sweepq validate FILE...`: load each spec and print
 * "FILE: ok (N trials, method M)" or every diagnostic as
 * "FILE:LINE:COL: message" (or, with --json, one JSON object per file).
 *
 * Diagnostics are this verb's output, so they go to stdout. The exit status
 * is 0 when every file is valid and runnable, 3 when a file does not exist,
 * else 1 when some file is invalid.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/options.h"
#include "spec/spec.h"

static const sq_usage usage = {
    "validate",
    "[options] FILE...",
    "check sweep specs and report every error with its file:line:column",
    "Prints 'FILE: ok (N trials, method M)' for a valid spec, else each problem\n"
    "as 'FILE:LINE:COL: message'. With --json, prints one object per file:\n"
    "{\"file\", \"valid\", \"errors\": [{\"line\", \"col\", \"message\"}], \"trials\", "
    "\"method\"}\n"
    "(\"trials\" is null for a random sweep without run_cap).\n"
    "Exit status: 0 when every spec is valid, 1 when one is not, 3 when a file\n"
    "does not exist. docs/spec.md is the reference for specs.",
    true,
};

static const char *method_name(spec_method m)
{
    return m == SPEC_METHOD_GRID ? "grid" : m == SPEC_METHOD_RANDOM ? "random" : "bayes";
}

static void print_text(const char *file, const spec *s, const spec_diags *d, size_t from)
{
    if (s) {
        uint64_t n = spec_trial_count(s);
        if (n == SPEC_UNBOUNDED)
            printf("%s: ok (unbounded trials, method %s)\n", file, method_name(s->method));
        else
            printf("%s: ok (%llu trial%s, method %s)\n", file, (unsigned long long)n,
                   n == 1 ? "" : "s", method_name(s->method));
        return;
    }
    for (size_t i = from; i < d->n; i++) {
        char *line = spec_diag_format(&d->items[i]);
        puts(line);
        free(line);
    }
}

/* A JSON string of text; bytes that are not UTF-8 (a file name can hold
 * any) become '?', so the object is always complete. */
static json_t *json_text(const char *text)
{
    json_t *j = json_string(text);
    if (j)
        return j;
    char *copy = xstrdup(text);
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static void print_json(const char *file, const spec *s, const spec_diags *d, size_t from)
{
    json_t *o = json_object(), *errors = json_array();
    json_object_set_new(o, "file", json_text(file));
    json_object_set_new(o, "valid", json_boolean(s != NULL));
    for (size_t i = from; i < d->n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "line", json_integer(d->items[i].line));
        json_object_set_new(e, "col", json_integer(d->items[i].col));
        json_object_set_new(e, "message", json_text(d->items[i].message));
        json_array_append_new(errors, e);
    }
    json_object_set_new(o, "errors", errors);
    if (s) {
        uint64_t n = spec_trial_count(s);
        json_object_set_new(o, "trials",
                            n == SPEC_UNBOUNDED ? json_null() : json_integer((json_int_t)n));
        json_object_set_new(o, "method", json_string(method_name(s->method)));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(o);
}

/* Loads one file; returns its exit status. */
static int validate_one(const char *file, const spec_load_options *opts, bool json)
{
    spec_diags d = SPEC_DIAGS_INIT;
    spec *s = NULL;
    int rc = spec_load_file(&s, file, opts, &d);
    if (json)
        print_json(file, s, &d, 0);
    else
        print_text(file, s, &d, 0);
    spec_free(s);
    spec_diags_release(&d);
    return rc == 0 ? EXIT_OK : rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
}

int cmd_validate(int argc, char **argv)
{
    sq_globals g = {0};
    int grid_cap = 0, nargs = 0;
    const sq_option opts[] = {
        OPT_INT(0, "grid-cap", &grid_cap, "N",
                "refuse grids of more than N trials (default: the spec's grid_cap, "
                "else 10000000)"),
        OPT_END(),
    };
    int rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs == 0)
        return options_usage_error(&usage, "no spec file given");
    if (grid_cap < 0)
        return options_usage_error(&usage, "option '--grid-cap' must be at least 1");
    spec_load_options lo = {.grid_cap = (uint64_t)grid_cap};
    int status = EXIT_OK;
    for (int i = 0; i < nargs; i++) {
        int one = validate_one(argv[i], &lo, g.json);
        if (one == EXIT_NOTFOUND || (one == EXIT_FAILED && status == EXIT_OK))
            status = one;
    }
    return status;
}
