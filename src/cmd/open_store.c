/*
 * open_store.c - open the project and its store for a verb, and report a
 * failure once with the right exit code. See open_store.h.
 */
#include "util/common.h"

#include "cmd/open_store.h"

#include "cmd/exitcodes.h"

#include <stdarg.h>

int open_store_exit_code(int rc)
{
    switch (rc) {
    case SQ_OK: return EXIT_OK;
    case SQ_ENOTFOUND: return EXIT_NOTFOUND;
    case SQ_ECONFLICT:
    case SQ_EEXIST: return EXIT_CONFLICT;
    case SQ_EBUSY:
    case SQ_EIO:
    case SQ_ELEASE_LOST:
    case SQ_EACCES: return EXIT_STORE;
    case SQ_EEMPTY: return EXIT_OK;
    default: return EXIT_FAILED;
    }
}

int open_store_fail(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sweepq: cannot ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const char *msg = sq_error_msg();
    fprintf(stderr, ": %s\n", *msg ? msg : sq_error_name(rc));
    return open_store_exit_code(rc);
}

int open_store(workspace *ws, store **out, const sq_globals *g)
{
    *out = NULL;
    int rc = workspace_open(ws, g->store_url, false);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_STORE;
    }
    rc = store_open(out, ws->store_url);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg()); /* it names the store */
        workspace_release(ws);
        *out = NULL;
        return EXIT_STORE;
    }
    return EXIT_OK;
}

int open_store_sweep(store *st, const char *name, store_sweep **out)
{
    *out = NULL;
    int rc = store_get_sweep(st, name, out);
    if (rc == SQ_ENOTFOUND) {
        fprintf(stderr,
                "sweepq: no sweep named '%s'; see 'sweepq status' for the sweeps in this "
                "project\n",
                name);
        return EXIT_NOTFOUND;
    }
    if (rc) {
        *out = NULL;
        return open_store_fail(rc, "read sweep '%s'", name);
    }
    return EXIT_OK;
}
