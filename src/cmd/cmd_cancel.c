/*
 * cmd_cancel.c - `sweepq cancel SWEEP...`: cancel the pending and running
 * trials of each sweep. Running trials are stopped by their agents at the
 * next heartbeat (store_cancel sets the flag the heartbeat returns). The
 * Slurm or PBS jobs that 'sweepq submit' recorded for the sweep and that are
 * still pending or running are cancelled too (scancel / qdel).
 */
#include "util/common.h"

#include "cluster/scheduler.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

#include <string.h>

static const sq_usage usage = {
    "cancel",
    "[options] SWEEP...",
    "cancel a sweep: its pending trials never run, its running trials are stopped",
    "Agents stop running trials at their next heartbeat (within a quarter of the\n"
    "lease TTL) with SIGTERM, then SIGKILL after the grace period. Finished\n"
    "trials keep their results. 'sweepq retry SWEEP --cancelled' undoes it.\n"
    "Jobs that 'sweepq submit' recorded for the sweep and that are still pending\n"
    "or running are cancelled with scancel (Slurm) or qdel (PBS).",
    false,
};

/* scancel / qdel the sweep's recorded jobs that may still run. */
static int cancel_jobs(const workspace *ws, const char *sweep)
{
    char *jobs_dir = xasprintf("%s/sweeps/%s/jobs", ws->dir, sweep);
    sched_record *recs = NULL;
    size_t nrecs = 0;
    int code = EXIT_OK;
    if (sched_read_jobs(&recs, &nrecs, jobs_dir)) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        code = EXIT_FAILED;
        goto cleanup;
    }
    for (int kind = SCHED_SLURM; kind <= SCHED_TORQUE && nrecs; kind++) {
        const char **ids = xcalloc(nrecs, sizeof *ids), **live = xcalloc(nrecs, sizeof *live);
        size_t nids = 0, nlive = 0, nrows = 0;
        sched_row *rows = NULL;
        for (size_t i = 0; i < nrecs; i++)
            if ((int)recs[i].kind == kind)
                ids[nids++] = recs[i].id;
        int qrc = nids ? sched_queue(&rows, &nrows, (sched_kind)kind, ids, nids) : 0;
        if (qrc == 0) {
            for (size_t i = 0; i < nids; i++) {
                bool active = false;
                for (size_t r = 0; r < nrows; r++)
                    active = active || (!strcmp(rows[r].job, ids[i]) &&
                                        sched_state_active((sched_kind)kind, rows[r].state));
                if (active)
                    live[nlive++] = ids[i];
            }
        }
        if (qrc) {
            fprintf(stderr, "sweepq: cannot cancel the jobs of sweep '%s': %s\n", sweep,
                    sq_error_msg());
            code = EXIT_FAILED;
        } else if (nlive && sched_cancel((sched_kind)kind, live, nlive)) {
            fprintf(stderr, "sweepq: cannot cancel the jobs of sweep '%s': %s\n", sweep,
                    sq_error_msg());
            code = EXIT_FAILED;
        } else {
            for (size_t i = 0; i < nlive; i++)
                printf("cancelled %s job %s of sweep '%s'\n", kind == SCHED_SLURM ? "Slurm" : "PBS",
                       live[i], sweep);
        }
        sched_rows_free(rows, nrows);
        free(ids);
        free(live);
    }
cleanup:
    sched_records_free(recs, nrecs);
    free(jobs_dir);
    return code;
}

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
        code = cancel_jobs(&ws, argv[i]);
    }
    store_close(st);
    workspace_release(&ws);
    return code;
}
