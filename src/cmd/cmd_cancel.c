/*
 * cmd_cancel.c - `sweepq cancel SWEEP...`: cancel the pending and running
 * trials of each sweep. Running trials are stopped by their agents at the
 * next heartbeat (store_cancel sets the flag the heartbeat returns).
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

static const sq_usage usage = {
    "cancel",
    "[options] SWEEP...",
    "cancel a sweep: its pending trials never run, its running trials are stopped",
    "Agents stop running trials at their next heartbeat (within a quarter of the\n"
    "lease TTL) with SIGTERM, then SIGKILL after the grace period. Finished\n"
    "trials keep their results. 'sweepq retry SWEEP --cancelled' undoes it.",
    false,
};

int cmd_cancel(int argc, char **argv)
{
    sq_globals g = {0};
    const sq_option opts[] = {OPT_END()};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs == 0)
        return options_usage_error(&usage, "missing SWEEP");

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    int code = open_store(&ws, &st, &g);
    for (int i = 0; i < nargs && code == EXIT_OK; i++) {
        store_sweep *sw = NULL;
        code = open_store_sweep(st, argv[i], &sw);
        if (code)
            break;
        store_sweep_free(sw);
        uint64_t n = 0;
        rc = store_cancel(st, argv[i], &n);
        if (rc) {
            code = open_store_fail(rc, "cancel sweep '%s'", argv[i]);
            break;
        }
        printf("cancelled %llu trial%s of sweep '%s'\n", (unsigned long long)n, n == 1 ? "" : "s",
               argv[i]);
    }
    store_close(st);
    workspace_release(&ws);
    return code;
}
