/*
 * cmd_pause.c - `sweepq pause SWEEP...` and `sweepq resume SWEEP...`: stop
 * agents from claiming a sweep's trials, and let them again. Trials already
 * running finish normally; a paused sweep keeps its place in the store.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

static const sq_usage pause_usage = {
    "pause",
    "[options] SWEEP...",
    "stop agents from starting a sweep's trials (running ones finish)",
    "'sweepq resume SWEEP' lets agents claim its trials again.",
    false,
};

static const sq_usage resume_usage = {
    "resume", "[options] SWEEP...", "let agents start a paused sweep's trials again", NULL, false,
};

/* Moves each named sweep from `from` to `to`; a sweep already in `to` is
 * left as it is, one in any other state is refused. */
static int set_state(int argc, char **argv, const sq_usage *usage, sweep_state from, sweep_state to)
{
    sq_globals g = {0};
    const sq_option opts[] = {OPT_END()};
    int nargs = 0, rc = options_parse(argc, argv, usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs == 0)
        return options_usage_error(usage, "missing SWEEP");

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    int code = open_store(&ws, &st, &g);
    for (int i = 0; i < nargs && code == EXIT_OK; i++) {
        store_sweep *sw = NULL;
        code = open_store_sweep(st, argv[i], &sw);
        if (code)
            break;
        sweep_state now = sw->state;
        store_sweep_free(sw);
        if (now == to) {
            printf("sweep '%s' is already %s\n", argv[i], sweep_state_name(to));
            continue;
        }
        if (now != from) {
            fprintf(stderr, "sweepq: cannot %s sweep '%s': it is %s%s\n", usage->name, argv[i],
                    sweep_state_name(now),
                    now == SWEEP_CANCELLED ? "; 'sweepq retry SWEEP --cancelled' reopens it" : "");
            code = EXIT_CONFLICT;
            break;
        }
        rc = store_set_sweep_state(st, argv[i], to);
        if (rc) {
            code = open_store_fail(rc, "%s sweep '%s'", usage->name, argv[i]);
            break;
        }
        printf("sweep '%s' is %s\n", argv[i], sweep_state_name(to));
    }
    store_close(st);
    workspace_release(&ws);
    return code;
}

int cmd_pause(int argc, char **argv)
{
    return set_state(argc, argv, &pause_usage, SWEEP_ACTIVE, SWEEP_PAUSED);
}

int cmd_resume(int argc, char **argv)
{
    return set_state(argc, argv, &resume_usage, SWEEP_PAUSED, SWEEP_ACTIVE);
}
