/*
 * cmd_retry.c - `sweepq retry SWEEP [--failed] [--cancelled]`: put failed
 * (the default) and/or cancelled trials back to pending with their failure
 * count reset, and reopen the sweep. Succeeded trials are never touched.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

static const sq_usage usage = {
    "retry",
    "[options] SWEEP",
    "put a sweep's failed (and/or cancelled) trials back to pending",
    "Without an option, failed trials are retried. Each retried trial gets its\n"
    "full max_attempts again; its trial directory (and checkpoints) is kept.\n"
    "Then run them: 'sweepq run SPEC' or 'sweepq agent --sweep SWEEP'.",
    false,
};

int cmd_retry(int argc, char **argv)
{
    bool failed = false, cancelled = false;
    const sq_option opts[] = {
        OPT_BOOL(0, "failed", &failed, "retry failed trials (the default)"),
        OPT_BOOL(0, "cancelled", &cancelled, "retry cancelled trials"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs == 0)
        return options_usage_error(&usage, "missing SWEEP");
    if (nargs > 1)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[1]);
    if (!failed && !cancelled)
        failed = true;

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *sw = NULL;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    code = open_store_sweep(st, argv[0], &sw);
    if (code)
        goto out;
    uint64_t n = 0;
    rc = store_retry(st, argv[0], failed, cancelled, &n);
    if (rc) {
        code = open_store_fail(rc, "retry the trials of sweep '%s'", argv[0]);
        goto out;
    }
    const char *what = failed && cancelled ? "failed or cancelled"
                       : failed            ? "failed"
                                           : "cancelled";
    if (n == 0)
        printf("sweep '%s' has no %s trials to retry\n", argv[0], what);
    else
        printf("%llu %s trial%s of sweep '%s' back to pending; run them with 'sweepq agent "
               "--sweep %s' (or 'sweepq run SPEC')\n",
               (unsigned long long)n, what, n == 1 ? "" : "s", argv[0], argv[0]);
out:
    store_sweep_free(sw);
    store_close(st);
    workspace_release(&ws);
    return code;
}
