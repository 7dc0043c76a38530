/*
 * cmd_queue.c - `sweepq queue [SWEEP...] [--watch]`: the scheduler jobs that
 * 'sweepq submit' recorded for each sweep (jobs/jobs.txt), as squeue or
 * qstat sees them now: job, array task, state, time used, reason or node.
 */
#include "util/common.h"

#include "cluster/scheduler.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/options.h"
#include "cmd/watch.h"
#include "util/workspace.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

static const sq_usage usage = {
    "queue",
    "[options] [SWEEP...]",
    "show the Slurm or PBS jobs submitted for sweeps, as the scheduler sees them",
    "Lists each job 'sweepq submit' recorded in .sweepq/sweeps/SWEEP/jobs/jobs.txt\n"
    "with its array tasks from squeue (which keeps finished jobs for a few\n"
    "minutes) or qstat: JOB, TASK, STATE, TIME used and REASON (why it waits,\n"
    "or the node it runs on). A job the scheduler has forgotten shows as '-'.\n"
    "Without SWEEP: every sweep that has jobs. --watch redraws until none of\n"
    "the jobs is pending or running.",
    false,
};

/* The sweeps under .sweepq/sweeps/ that have a jobs/jobs.txt, sorted. */
static int sweeps_with_jobs(char ***out, size_t *n, const workspace *ws)
{
    char *dir = xasprintf("%s/sweeps", ws->dir);
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s/jobs/jobs.txt", dir, e->d_name);
        if (access(path, F_OK) == 0) {
            XGROW(names, cap, count + 1);
            names[count++] = xstrdup(e->d_name);
        }
        free(path);
    }
    if (d)
        closedir(d);
    free(dir);
    for (size_t i = 1; i < count; i++) /* insertion sort: a handful of names */
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    *out = names;
    *n = count;
    return 0;
}

/* Prints one sweep's jobs; *active is set when one may still run. */
static int print_sweep(FILE *f, const workspace *ws, const char *sweep, bool *active)
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
    if (!nrecs) {
        fprintf(f, "%-16s (no jobs submitted: see 'sweepq submit --help')\n", sweep);
        goto cleanup;
    }
    for (int kind = SCHED_SLURM; kind <= SCHED_TORQUE; kind++) {
        const char **ids = xcalloc(nrecs, sizeof *ids);
        size_t nids = 0;
        for (size_t i = 0; i < nrecs; i++)
            if ((int)recs[i].kind == kind)
                ids[nids++] = recs[i].id;
        sched_row *rows = NULL;
        size_t nrows = 0;
        if (nids && sched_queue(&rows, &nrows, (sched_kind)kind, ids, nids)) {
            fprintf(stderr, "sweepq: cannot read the queue of sweep '%s': %s\n", sweep,
                    sq_error_msg());
            code = EXIT_FAILED;
        }
        for (size_t i = 0; i < nids; i++) {
            bool shown = false;
            for (size_t r = 0; r < nrows; r++) {
                if (strcmp(rows[r].job, ids[i]))
                    continue;
                shown = true;
                *active = *active || sched_state_active((sched_kind)kind, rows[r].state);
                fprintf(f, "%-16s %-20s %-6s %-12s %-10s %s\n", sweep, rows[r].job,
                        *rows[r].task ? rows[r].task : "-", rows[r].state, rows[r].time,
                        rows[r].reason);
            }
            if (!shown)
                fprintf(f, "%-16s %-20s %-6s %-12s %-10s %s\n", sweep, ids[i], "-", "-", "-",
                        "no longer in the queue");
        }
        sched_rows_free(rows, nrows);
        free(ids);
    }
cleanup:
    sched_records_free(recs, nrecs);
    free(jobs_dir);
    return code;
}

static int print_once(FILE *f, const workspace *ws, char **names, size_t n, bool *active)
{
    int code = EXIT_OK;
    *active = false;
    fprintf(f, "%-16s %-20s %-6s %-12s %-10s %s\n", "SWEEP", "JOB", "TASK", "STATE", "TIME",
            "REASON");
    for (size_t i = 0; i < n; i++) {
        int c = print_sweep(f, ws, names[i], active);
        if (c && code == EXIT_OK)
            code = c;
    }
    return code;
}

/* What one screen of --watch shows. */
typedef struct queue_watch {
    const workspace *ws;
    char **names;
    size_t n;
} queue_watch;

static int render(FILE *f, void *ctx, bool *again)
{
    const queue_watch *w = ctx;
    return print_once(f, w->ws, w->names, w->n, again);
}

static int watch(const workspace *ws, char **names, size_t n, double interval)
{
    /* A sweep whose jobs cannot be read is reported on stderr; the screen
     * still shows the others. */
    watch_opts o = {.title = "sweepq queue", .show_failures = true, .interval = interval};
    queue_watch w = {ws, names, n};
    return watch_run(&o, render, &w);
}

int cmd_queue(int argc, char **argv)
{
    bool watch_mode = false;
    double interval = 2;
    const sq_option opts[] = {
        OPT_BOOL('w', "watch", &watch_mode, "redraw until none of the jobs is pending or running"),
        OPT_DURATION(0, "interval", &interval, "DUR", "time between redraws (default 2s)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, code = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (code)
        return code == OPTIONS_HELP_SHOWN ? EXIT_OK : code;
    if (interval < 0.1)
        interval = 0.1;
    workspace ws = WORKSPACE_INIT;
    char **found = NULL;
    size_t nfound = 0;
    if (workspace_open(&ws, g.store_url, false)) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        return EXIT_NOTFOUND;
    }
    char **names = argv;
    size_t n = (size_t)nargs;
    if (!nargs) {
        sweeps_with_jobs(&found, &nfound, &ws);
        names = found;
        n = nfound;
        if (!n) {
            printf("no jobs submitted in this project: see 'sweepq submit --help'\n");
            goto out;
        }
    }
    if (watch_mode) {
        code = watch(&ws, names, n, interval);
    } else {
        bool active;
        code = print_once(stdout, &ws, names, n, &active);
    }
out:
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    workspace_release(&ws);
    return code;
}
