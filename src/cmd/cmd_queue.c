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
#include "util/timeutil.h"
#include "util/workspace.h"

#include <dirent.h>
#include <signal.h>
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

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

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

static int watch(const workspace *ws, char **names, size_t n, double interval)
{
    bool tty = isatty(STDOUT_FILENO);
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int code = EXIT_OK;
    while (!interrupted) {
        char *screen = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&screen, &len);
        if (!mem)
            SQ_BUG("open_memstream failed");
        bool active = false;
        code = print_once(mem, ws, names, n, &active);
        fclose(mem);
        if (tty)
            printf("\033[H\033[2Jsweepq queue (Ctrl-C to stop)\n\n");
        fwrite(screen, 1, len, stdout);
        if (!tty)
            fputc('\n', stdout);
        fflush(stdout);
        free(screen);
        if (code != EXIT_OK || !active)
            break;
        double until = time_mono() + interval;
        while (!interrupted && time_mono() < until)
            time_sleep(until - time_mono());
    }
    return code;
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
