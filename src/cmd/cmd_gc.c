/*
 * cmd_gc.c - `sweepq gc --older-than DAYS`: delete the sweeps that finished
 * or were cancelled more than DAYS ago, from the store and from disk
 * (.sweepq/sweeps/NAME/, with its trial directories and logs).
 *
 * Invariant: the store decides what is old (store_gc); only the directories
 * of the sweeps it deleted are removed, and only names that are one plain
 * path component (never "..", never with a '/'), so no store content can
 * point the removal outside .sweepq/sweeps/.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "util/units.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <unistd.h>

static const sq_usage usage = {
    "gc",
    "--older-than DAYS [options]",
    "delete finished and cancelled sweeps older than DAYS, with their directories",
    "DAYS is a number of days (0 means every finished sweep), or a duration such\n"
    "as 12h. Active and paused sweeps are never deleted. Export what you want to\n"
    "keep first: 'sweepq export SWEEP -o results.csv'.",
    false,
};

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc && errno != ENOENT)
        fprintf(stderr, "sweepq: cannot remove '%s': %s\n", path, strerror(errno));
    return 0; /* keep going: remove what can be removed */
}

/* Removes the sweep's directory tree; silently nothing when it is absent. */
static void remove_sweep_dir(const workspace *ws, const char *name)
{
    if (workspace_check_name(name)) {
        fprintf(stderr, "sweepq: not removing the directory of sweep: %s\n", sq_error_msg());
        return;
    }
    char *dir = workspace_sweep_dir(ws, name);
    if (access(dir, F_OK) == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* DAYS as seconds: a plain number is days, anything else a duration. */
static int parse_age(const char *text, double *out)
{
    char *end;
    errno = 0;
    double days = strtod(text, &end);
    if (end != text && !*end && !errno && days >= 0 && isfinite(days)) {
        *out = days * 86400;
        return 0;
    }
    if (units_parse_duration(text, out) == 0 && *out >= 0)
        return 0;
    return -1;
}

int cmd_gc(int argc, char **argv)
{
    const char *older = NULL;
    const sq_option opts[] = {
        OPT_STRING(0, "older-than", &older, "DAYS", "age of the sweeps to delete (required)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs > 0)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[0]);
    if (!older)
        return options_usage_error(&usage, "missing --older-than DAYS (0 for every finished "
                                           "sweep)");
    double age;
    if (parse_age(older, &age))
        return options_usage_error(&usage,
                                   "option '--older-than' expects a number of days or a "
                                   "duration (7, 1.5, 12h), not '%s'",
                                   older);

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    char **names = NULL;
    size_t n = 0;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    rc = store_gc(st, store_now(st) - age, &names, &n);
    if (rc) {
        code = open_store_fail(rc, "delete old sweeps");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        remove_sweep_dir(&ws, names[i]);
        printf("deleted sweep '%s'\n", names[i]);
    }
    printf("%zu sweep%s deleted\n", n, n == 1 ? "" : "s");
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    store_close(st);
    workspace_release(&ws);
    return code;
}
