/*
 * cmd_create.c - `sweepq create FILE...`: register each spec's sweep and
 * trials in the store, or with --dry-run print each trial's number,
 * parameters and exact command without touching anything, as
 * hpc-sweep-manager's `--dry-run` previews its jobs.
 *
 * Every file is loaded and checked before anything is registered: one bad
 * spec in a batch creates nothing. A dry run creates no file and no
 * directory; it shows the trial directories a run in this project would use
 * (./.sweepq/... when there is no project yet). Previews stream trial by
 * trial (two passes: widths, then rows), so even a million-trial grid is
 * printed in bounded memory.
 */
#include "util/common.h"

#include "agent/register.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "spec/spec.h"
#include "util/workspace.h"

static const sq_usage usage = {
    "create",
    "[options] FILE...",
    "register sweeps and their trials in the store (--dry-run previews each command)",
    "Creating the same spec again is a no-op; an edited grid adds only its new\n"
    "trials; a changed command under the same name is refused (exit 5).\n"
    "\n"
    "--dry-run prints, for each trial, its number, its parameters as they appear\n"
    "in ${args} and the exact command, and changes nothing. A random sweep without\n"
    "run_cap previews its first 10 trials (--count K for more). With --json a dry\n"
    "run prints one JSON array of {\"sweep\", \"number\", \"params\", \"argv\"} (plus\n"
    "\"env\" and \"workdir\" when the spec sets them), trials in order; without\n"
    "--dry-run, one object per sweep: {\"sweep\", \"trials\", \"added\"}.\n"
    "\n"
    "Exit status: 0 done, 1 a spec is invalid (each error is printed as\n"
    "FILE:LINE:COL: message), 3 a file does not exist, 4 the store failed,\n"
    "5 a sweep of that name exists with another command or settings.\n"
    "docs/spec.md is the reference for specs, macros and value formatting.",
    true,
};

enum { OPEN_ENDED_PREVIEW = 10 };

typedef struct create_opts {
    bool dry_run, json;
    int count;
    const char *interpreter;
    workspace ws; /* dry run: the project, if any (root NULL when none) */
} create_opts;

/* Loads every file; prints the problems of those that fail. */
static int load_all(char **files, int n, const spec_load_options *lo, spec **specs)
{
    int status = EXIT_OK;
    for (int i = 0; i < n; i++) {
        spec_diags d = SPEC_DIAGS_INIT;
        int rc = spec_load_file(&specs[i], files[i], lo, &d);
        for (size_t k = 0; k < d.n; k++) {
            char *line = spec_diag_format(&d.items[k]);
            fprintf(stderr, "%s\n", line);
            free(line);
        }
        spec_diags_release(&d);
        if (rc == SQ_ENOTFOUND)
            status = EXIT_NOTFOUND;
        else if (rc && status == EXIT_OK)
            status = EXIT_FAILED;
    }
    return status;
}

/* ---- dry run ------------------------------------------------------------ */

/*
 * Finds the project for a dry run without creating anything. workspace_open
 * makes .sweepq/ in the working directory when it is given a store URL and
 * finds no project, so a URL that does not name a project directory (and
 * $SWEEPQ_STORE, which it reads itself) is left out of the search.
 */
static void find_project(workspace *ws, const char *url)
{
    bool names_root =
        url && strstr(url, "/.sweepq/") && (url[0] == '/' || !strncmp(url, "sqlite:/", 8));
    if (!names_root) {
        unsetenv("SWEEPQ_STORE");
        url = NULL;
    }
    if (workspace_open(ws, url, false))
        workspace_release(ws);
}

static char *trial_dir(const create_opts *o, const char *sweep, uint64_t n)
{
    if (o->ws.root)
        return workspace_trial_dir(&o->ws, sweep, n);
    return xasprintf("./.sweepq/sweeps/%s/trials/%llu", sweep, (unsigned long long)n);
}

/* "lr=0.001, batch=32": each value as it appears in ${args}. */
static char *params_text(const json_t *params)
{
    strbuf sb = SB_INIT;
    const char *name;
    json_t *v;
    bool first = true;
    json_object_foreach((json_t *)params, name, v)
    {
        char *val = spec_format_value(v);
        sb_addf(&sb, "%s%s=%s", first ? "" : ", ", name, val);
        free(val);
        first = false;
    }
    return sb_detach(&sb);
}

/* Display columns of UTF-8 text (one per code point). */
static int text_columns(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Makes trial n's params and command; prints the error and returns an exit
 * code on failure. */
static int make_trial(const create_opts *o, const spec *s, uint64_t n, json_t **params,
                      spec_command *cmd)
{
    int rc = spec_trial_params(s, n, params);
    if (rc) {
        fprintf(stderr, "sweepq: %s: %s\n", s->path, sq_error_msg());
        return EXIT_FAILED;
    }
    char *dir = trial_dir(o, s->name, n);
    spec_command_ctx ctx = {s->name, n, dir, o->interpreter, NULL};
    rc = spec_build_command(s, *params, &ctx, cmd);
    free(dir);
    if (rc) {
        fprintf(stderr, "sweepq: %s: trial %llu: %s\n", s->path, (unsigned long long)n,
                sq_error_msg());
        json_decref(*params);
        *params = NULL;
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* How many trials of s to preview. */
static uint64_t preview_count(const create_opts *o, const spec *s)
{
    uint64_t total = spec_trial_count(s);
    if (spec_is_open_ended(s)) {
        uint64_t n = o->count > 0 ? (uint64_t)o->count : OPEN_ENDED_PREVIEW;
        return n < total ? n : total;
    }
    return o->count > 0 && (uint64_t)o->count < total ? (uint64_t)o->count : total;
}

static int preview_text(const create_opts *o, const spec *s)
{
    uint64_t total = spec_trial_count(s), n = preview_count(o, s);
    if (s->method == SPEC_METHOD_BAYES && s->run_cap)
        printf("sweep %s: bayes search, %llu trials at most; each trial is proposed from the "
               "results so far, the first ones are random draws such as these:\n",
               s->name, (unsigned long long)s->run_cap);
    else if (s->method == SPEC_METHOD_BAYES)
        printf("sweep %s: bayes search without run_cap (runs until cancelled); each trial is "
               "proposed from the results so far, the first ones are random draws such as "
               "these%s:\n",
               s->name, o->count > 0 ? "" : " (--count K for more)");
    else if (spec_is_open_ended(s))
        printf("sweep %s: random search without run_cap (runs until cancelled); the first %llu "
               "trials%s:\n",
               s->name, (unsigned long long)n, o->count > 0 ? "" : " (--count K for more)");
    else
        printf("sweep %s: %llu trial%s (%s)%s:\n", s->name, (unsigned long long)total,
               total == 1 ? "" : "s", s->method == SPEC_METHOD_GRID ? "grid" : "random",
               n < total ? ", the first ones" : "");

    /* Pass 1: column widths. */
    int wnum = 5, wparams = 6;
    for (uint64_t i = 1; i <= n; i++) {
        json_t *params;
        spec_command cmd;
        int code = make_trial(o, s, i, &params, &cmd);
        if (code)
            return code;
        char *p = params_text(params);
        int w = text_columns(p);
        if (w > wparams)
            wparams = w;
        free(p);
        spec_command_release(&cmd);
        json_decref(params);
    }
    char num[24];
    int digits = snprintf(num, sizeof num, "%llu", (unsigned long long)n);
    if (digits > wnum)
        wnum = digits;

    /* Pass 2: the rows. Nothing is cut: the command is the exact one. */
    printf("%*s  %-*s  %s\n", wnum, "trial", wparams, "params", "command");
    for (uint64_t i = 1; i <= n; i++) {
        json_t *params;
        spec_command cmd;
        int code = make_trial(o, s, i, &params, &cmd);
        if (code)
            return code;
        char *p = params_text(params);
        int pad = wparams - text_columns(p);
        printf("%*llu  %s%*s  %s\n", wnum, (unsigned long long)i, p, pad > 0 ? pad : 0, "",
               cmd.display);
        free(p);
        spec_command_release(&cmd);
        json_decref(params);
    }
    return EXIT_OK;
}

/* One element of the --json array (compact, keys in this order). */
static int preview_json(const create_opts *o, const spec *s, bool *first)
{
    uint64_t n = preview_count(o, s);
    for (uint64_t i = 1; i <= n; i++) {
        json_t *params;
        spec_command cmd;
        int code = make_trial(o, s, i, &params, &cmd);
        if (code)
            return code;
        json_t *t = json_object(), *argv = json_array();
        json_object_set_new(t, "sweep", json_string(s->name));
        json_object_set_new(t, "number", json_integer((json_int_t)i));
        json_object_set_new(t, "params", params);
        for (size_t k = 0; k < cmd.argc; k++)
            json_array_append_new(argv, json_string(cmd.argv[k]));
        json_object_set_new(t, "argv", argv);
        if (cmd.nenv) {
            json_t *env = json_array();
            for (size_t k = 0; k < cmd.nenv; k++)
                json_array_append_new(env, json_string(cmd.env[k]));
            json_object_set_new(t, "env", env);
        }
        if (cmd.workdir)
            json_object_set_new(t, "workdir", json_string(cmd.workdir));
        char *text = spec_json_compact(t, false);
        printf("%s  %s", *first ? "[\n" : ",\n", text);
        *first = false;
        free(text);
        json_decref(t);
        spec_command_release(&cmd);
    }
    return EXIT_OK;
}

static int dry_run(create_opts *o, spec **specs, int n, const char *store_url)
{
    find_project(&o->ws, store_url);
    bool first = true;
    int code = EXIT_OK;
    for (int i = 0; i < n && code == EXIT_OK; i++) {
        if (!o->json && i)
            putchar('\n');
        code = o->json ? preview_json(o, specs[i], &first) : preview_text(o, specs[i]);
    }
    if (o->json && code == EXIT_OK)
        fputs(first ? "[]\n" : "\n]\n", stdout);
    workspace_release(&o->ws);
    return code;
}

/* ---- registration --------------------------------------------------------- */

static int register_all(const create_opts *o, spec **specs, int n, const char *store_url)
{
    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    int rc = workspace_open(&ws, store_url, true);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_STORE;
    }
    rc = store_open(&st, ws.store_url);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg()); /* it names the store */
        workspace_release(&ws);
        return EXIT_STORE;
    }
    json_t *out = o->json ? json_array() : NULL;
    int code = EXIT_OK;
    for (int i = 0; i < n && code == EXIT_OK; i++) {
        const spec *s = specs[i];
        int64_t id = 0;
        uint64_t added = 0;
        /* A bayes sweep is created empty: "added" cannot tell a new one. */
        store_sweep *before = NULL;
        bool existed = store_get_sweep(st, s->name, &before) == 0;
        store_sweep_free(before);
        rc = sweep_register(st, &ws, s, &id, &added);
        if (rc) {
            code = open_store_fail(rc, "create sweep '%s' from '%s'", s->name, s->path);
            break;
        }
        bool open = spec_is_open_ended(s);
        uint64_t total = spec_trial_count(s);
        if (out) {
            json_array_append_new(
                out,
                json_pack("{s:s,s:o,s:I}", "sweep", s->name, "trials",
                          total == SPEC_UNBOUNDED ? json_null() : json_integer((json_int_t)total),
                          "added", (json_int_t)added));
        } else if (added == 0 && existed) {
            printf("sweep %s already exists with the same spec: nothing to do\n", s->name);
        } else if (s->method == SPEC_METHOD_BAYES && s->run_cap) {
            printf("created sweep %s: bayes search, up to %llu trials that agents propose from "
                   "the results so far\n",
                   s->name, (unsigned long long)s->run_cap);
        } else if (s->method == SPEC_METHOD_BAYES) {
            printf("created sweep %s: bayes search without run_cap (runs until cancelled); agents "
                   "propose each trial from the results so far\n",
                   s->name);
        } else if (open) {
            printf("created sweep %s: random search without run_cap, %llu trials queued (agents "
                   "add more as they go)\n",
                   s->name, (unsigned long long)added);
        } else {
            printf("created sweep %s: %llu trial%s (%llu new)\n", s->name,
                   (unsigned long long)total, total == 1 ? "" : "s", (unsigned long long)added);
        }
    }
    if (out && code == EXIT_OK) {
        char *text = json_dumps(out, JSON_INDENT(2));
        puts(text);
        free(text);
    }
    json_decref(out);
    store_close(st);
    workspace_release(&ws);
    return code;
}

int cmd_create(int argc, char **argv)
{
    sq_globals g = {0};
    create_opts o = {.ws = WORKSPACE_INIT};
    int grid_cap = 0, nargs = 0;
    const sq_option opts[] = {
        OPT_BOOL(0, "dry-run", &o.dry_run,
                 "print each trial's parameters and exact command; change nothing"),
        OPT_INT('n', "count", &o.count, "K",
                "with --dry-run: show at most K trials (default: all; 10 for a random sweep "
                "without run_cap)"),
        OPT_STRING(0, "interpreter", &o.interpreter, "PY",
                   "with --dry-run: what ${interpreter} stands for when the spec names none "
                   "(default python3)"),
        OPT_INT(0, "grid-cap", &grid_cap, "N",
                "refuse grids of more than N trials (default: the spec's grid_cap, else "
                "10000000)"),
        OPT_END(),
    };
    int rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs == 0)
        return options_usage_error(&usage, "no spec file given");
    if (o.count < 0)
        return options_usage_error(&usage, "option '--count' must be at least 1");
    if (grid_cap < 0)
        return options_usage_error(&usage, "option '--grid-cap' must be at least 1");
    o.json = g.json;

    spec_load_options lo = {.grid_cap = (uint64_t)grid_cap};
    spec **specs = xcalloc((size_t)nargs, sizeof *specs);
    int code = load_all(argv, nargs, &lo, specs);
    if (code == EXIT_OK)
        code = o.dry_run ? dry_run(&o, specs, nargs, g.store_url)
                         : register_all(&o, specs, nargs, g.store_url);
    for (int i = 0; i < nargs; i++)
        spec_free(specs[i]);
    free(specs);
    return code;
}
