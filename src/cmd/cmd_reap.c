/*
 * cmd_reap.c - `sweepq reap`: expire the leases whose time has passed, now,
 * instead of at the next claim. Their trials go back to pending (or to
 * failed when that crash used up their last try).
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

static const sq_usage usage = {
    "reap",
    "[options]",
    "expire the leases of agents that stopped heartbeating",
    "Every claim reaps expired leases anyway; reap does it on demand, e.g. to see\n"
    "a crashed agent's trials as pending in 'sweepq status' right away.",
    false,
};

int cmd_reap(int argc, char **argv)
{
    sq_globals g = {0};
    const sq_option opts[] = {OPT_END()};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs > 0)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[0]);
    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    uint64_t n = 0;
    rc = store_reap(st, &n);
    if (rc)
        code = open_store_fail(rc, "reap expired leases");
    else
        printf("reaped %llu expired lease%s\n", (unsigned long long)n, n == 1 ? "" : "s");
    store_close(st);
    workspace_release(&ws);
    return code;
}
