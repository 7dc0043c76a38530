/*
 * cmd_wait.c - `sweepq wait [SWEEP...|--tag T] [--timeout DUR]`: block
 * until every named sweep (or every sweep with tag T, or every sweep) is
 * done, then exit 0 when all their trials succeeded and 1 when any failed
 * or was cancelled. `sweepq wait --tag B && ...` is how a batch's
 * completion code runs once the whole batch is over.
 *
 * It only reads: it polls the store every --interval (default 1s), so any
 * number of waiters cost the agents nothing but short read transactions.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "util/timeutil.h"

#include <signal.h>

static const sq_usage usage = {
    "wait",
    "[options] [SWEEP...]",
    "wait until sweeps are finished; exit 0 if every trial succeeded, else 1",
    "Without SWEEP or --tag, waits for every sweep in the store. A sweep is\n"
    "finished when no trial is pending or running (an open-ended random sweep\n"
    "only when it is cancelled). Exit status: 0 when every trial of every\n"
    "sweep waited for succeeded or was stopped early by the sweep's\n"
    "early_terminate rule; 1 when any failed or was cancelled, or when\n"
    "--timeout passed first; 3 when a named sweep or the tag does not exist.\n"
    "With --json it prints the sweeps (as 'sweepq status --json' does, without\n"
    "progress) once they are finished.\n"
    "Example: sweepq wait --tag batch-7 && python summarize.py",
    true,
};

static volatile sig_atomic_t interrupted;

/* "3 succeeded, 0 failed, 1 cancelled[, 2 stopped early]" and a newline.
 * Stopped trials are named only when there are some, so that scripts
 * reading the line of a sweep without early termination see it unchanged. */
static void print_counts(const store_counts *c)
{
    printf("%llu succeeded, %llu failed, %llu cancelled", (unsigned long long)c->succeeded,
           (unsigned long long)c->failed, (unsigned long long)c->cancelled);
    if (c->stopped)
        printf(", %llu stopped early", (unsigned long long)c->stopped);
    printf("\n");
}

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* The sweeps waited for; names and tag as given. Prints the error. */
static int load(store *st, char **names, int nnames, const char *tag, store_sweep **out, size_t *n)
{
    store_sweep_filter f = {.names = (const char **)names, .nnames = (size_t)nnames, .tag = tag};
    int rc = store_list_sweeps(st, &f, out, n);
    if (rc)
        return open_store_fail(rc, "list the sweeps");
    for (int i = 0; i < nnames; i++) {
        bool found = false;
        for (size_t k = 0; k < *n && !found; k++)
            found = !strcmp((*out)[k].name, names[i]);
        if (!found) {
            fprintf(stderr,
                    "sweepq: no sweep named '%s'%s%s%s; see 'sweepq status' for the sweeps in "
                    "this project\n",
                    names[i], tag ? " with tag '" : "", tag ? tag : "", tag ? "'" : "");
            return EXIT_NOTFOUND;
        }
    }
    if (*n == 0 && tag) {
        fprintf(stderr,
                "sweepq: no sweep has the tag '%s'; see 'sweepq recent' for the sweeps "
                "and their tags\n",
                tag);
        return EXIT_NOTFOUND;
    }
    return EXIT_OK;
}

int cmd_wait(int argc, char **argv)
{
    const char *tag = NULL;
    double timeout = 0, interval = 1;
    bool quiet = false;
    const sq_option opts[] = {
        OPT_STRING('t', "tag", &tag, "TAG", "wait for every sweep with this tag (a batch)"),
        OPT_DURATION(0, "timeout", &timeout, "DUR", "give up after DUR (exit 1)"),
        OPT_DURATION(0, "interval", &interval, "DUR", "time between polls (default 1s)"),
        OPT_BOOL('q', "quiet", &quiet, "print nothing, only set the exit status"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (interval < 0.05)
        interval = 0.05;

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *s = NULL;
    size_t n = 0;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double deadline = timeout > 0 ? time_mono() + timeout : 0;
    for (;;) {
        code = load(st, argv, nargs, tag, &s, &n);
        if (code)
            goto out;
        size_t pending = 0;
        for (size_t i = 0; i < n; i++)
            if (!report_sweep_done(&s[i]))
                pending++;
        if (!pending)
            break;
        if (interrupted) {
            code = EXIT_INTERRUPTED;
            goto out;
        }
        if (deadline && time_mono() >= deadline) {
            char waited[32];
            if (!quiet)
                fprintf(stderr,
                        "sweepq: gave up waiting after %s: %zu of %zu sweeps not finished\n",
                        report_duration(timeout, waited, sizeof waited), pending, n);
            code = EXIT_FAILED;
            goto out;
        }
        store_sweeps_free(s, n);
        s = NULL;
        n = 0;
        double pause = interval;
        if (deadline && deadline - time_mono() < pause)
            pause = deadline - time_mono();
        time_sleep(pause);
    }
    uint64_t ok = 0, failed = 0, cancelled = 0, stopped = 0;
    json_t *arr = g.json && !quiet ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        ok += s[i].counts.succeeded;
        failed += s[i].counts.failed;
        cancelled += s[i].counts.cancelled;
        stopped += s[i].counts.stopped;
        if (arr)
            json_array_append_new(arr, report_sweep_json(&s[i]));
        else if (!quiet) {
            printf("%s: %s, ", s[i].name, sweep_state_name(s[i].state));
            print_counts(&s[i].counts);
        }
    }
    code = failed || cancelled ? EXIT_FAILED : EXIT_OK;
    if (arr)
        report_json_print(stdout, arr);
    else if (!quiet && n > 1) {
        printf("all %zu sweeps finished: ", n);
        print_counts(&(store_counts){
            .succeeded = ok, .failed = failed, .cancelled = cancelled, .stopped = stopped});
    }
out:
    store_sweeps_free(s, n);
    store_close(st);
    workspace_release(&ws);
    return code;
}
