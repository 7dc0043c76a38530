/*
 * cmd_status.c - `sweepq status [SWEEP...] [--watch]`: one line per sweep
 * with its state, counts by state, a progress bar, the recent rate and an
 * ETA; --watch redraws it until every shown sweep is done or Ctrl-C.
 *
 * The rate is trials finished per minute over the last ten minutes (the
 * window never reaching back before the sweep's first trial started), so a
 * sweep resumed after a night's pause is judged by how it runs now.
 *
 * A sweep whose pending trials ask for GPUs that no live agent has (judged
 * on each agent's registered GPUs by gpu_alloc_fit, without reservations
 * nor free-memory floors: the count and size of its GPUs) gets a note
 * under the table and "no_live_agent_can_take" in --json. An agent that
 * has not read its GPUs yet (it has run no GPU sweep) is assumed able to.
 */
#include "util/common.h"

#include "agent/gpu_alloc.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "cmd/watch.h"

#include <math.h>

#define RATE_WINDOW 600.0

static const sq_usage usage = {
    "status",
    "[options] [SWEEP...|--tag TAG]",
    "show each sweep's progress: counts by state, a progress bar, rate and ETA",
    "Without SWEEP, every sweep in the store is shown. rate is trials finished\n"
    "per minute over the last 10 minutes; eta assumes that rate holds.\n"
    "--watch redraws in place on a terminal (plain repeated output otherwise)\n"
    "and exits when every shown sweep is finished, or on Ctrl-C.",
    true,
};

/* Fetches the sweeps to show: the named ones (each must exist), or all, or
 * with tag (names not given) those that have it (none is an error, as for
 * wait). */
static int load_sweeps(store *st, char **names, int n, const char *tag, store_sweep **out,
                       size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0) {
        store_sweep_filter f = {.tag = tag};
        int rc = store_list_sweeps(st, &f, out, nout);
        if (rc)
            return open_store_fail(rc, "list the sweeps");
        if (tag && *nout == 0) {
            fprintf(stderr,
                    "sweepq: no sweep has the tag '%s'; see 'sweepq recent' for the "
                    "sweeps and their tags\n",
                    tag);
            return EXIT_NOTFOUND;
        }
        return EXIT_OK;
    }
    store_sweep *s = xcalloc((size_t)n, sizeof *s);
    for (int i = 0; i < n; i++) {
        store_sweep *one = NULL;
        int code = open_store_sweep(st, names[i], &one);
        if (code) {
            store_sweeps_free(s, (size_t)i);
            return code;
        }
        s[i] = *one;
        free(one); /* the contents moved into s[i] */
    }
    *out = s;
    *nout = (size_t)n;
    return EXIT_OK;
}

/* Why no live agent can take s's pending trials, or NULL when one can (or
 * they ask for no GPU, or none is pending). Caller frees. */
static char *gpu_blocked(const store_sweep *s, const store_agent *ag, size_t nag)
{
    if (nag == SIZE_MAX) /* the agents could not be listed */
        return NULL;
    gpu_request r = {.gpus = s->gpus, .memory = s->gpu_memory, .min_free = 0};
    if (!gpu_request_wants_gpu(&r) || s->counts.pending == 0 || s->state != SWEEP_ACTIVE)
        return NULL;
    char *why = NULL;
    size_t live = 0;
    for (size_t i = 0; i < nag; i++) {
        if (!ag[i].alive)
            continue;
        live++;
        gpu_table t = GPU_TABLE_INIT;
        if (!ag[i].gpus_json || gpu_parse_snapshot(&t, ag[i].gpus_json, ag[i].id) != 0) {
            free(why);
            return NULL; /* it has not said: it may */
        }
        char *one = NULL;
        gpu_fit fit = gpu_alloc_fit(&one, &t, NULL, &r);
        gpu_table_release(&t);
        if (fit != GPU_FIT_NEVER) {
            free(one);
            free(why);
            return NULL;
        }
        free(why);
        why = xasprintf("agent %s: %s", ag[i].id, one ? one : "");
        free(one);
    }
    if (live == 0)
        return xstrdup("no agent is running");
    if (live == 1)
        return why;
    char *all = xasprintf("none of %zu live agents has such GPUs (e.g. %s)", live, why);
    free(why);
    return all;
}

static int print_json(FILE *f, store *st, store_sweep *s, size_t n, const store_agent *ag,
                      size_t nag)
{
    json_t *arr = json_array();
    double now = store_now(st);
    for (size_t i = 0; i < n; i++) {
        report_progress p;
        int rc = report_sweep_progress(st, &s[i], now, RATE_WINDOW, &p);
        if (rc) {
            json_decref(arr);
            return open_store_fail(rc, "read the trials of sweep '%s'", s[i].name);
        }
        json_t *o = report_sweep_json(&s[i]);
        char *blocked = gpu_blocked(&s[i], ag, nag);
        json_object_set_new(o, "no_live_agent_can_take", json_boolean(blocked != NULL));
        json_object_set_new(o, "no_live_agent_can_take_why",
                            blocked ? json_string(blocked) : json_null());
        free(blocked);
        json_object_set_new(o, "progress",
                            json_pack("{s:I, s:I, s:f, s:o}", "done", (json_int_t)p.done, "total",
                                      (json_int_t)p.total, "rate_per_min",
                                      round(p.rate * 100) / 100, "eta_seconds",
                                      p.eta >= 0 ? json_real(round(p.eta)) : json_null()));
        json_array_append_new(arr, o);
    }
    report_json_print(f, arr);
    return EXIT_OK;
}

static int print_table(FILE *f, store *st, store_sweep *s, size_t n, const store_agent *ag,
                       size_t nag)
{
    static const char *const headers[] = {"sweep", "state", "progress", "done", "ok",       "run",
                                          "pend",  "fail",  "canc",     "stop", "rate/min", "eta"};
    report_table *t = report_table_new(ARRAY_SIZE(headers), headers);
    for (size_t c = 3; c < ARRAY_SIZE(headers); c++)
        report_table_align_right(t, c);
    double now = store_now(st);
    for (size_t i = 0; i < n; i++) {
        report_progress p;
        int rc = report_sweep_progress(st, &s[i], now, RATE_WINDOW, &p);
        if (rc) {
            report_table_free(t);
            return open_store_fail(rc, "read the trials of sweep '%s'", s[i].name);
        }
        const store_counts *c = &s[i].counts;
        strbuf bar = SB_INIT;
        report_bar(&bar, p.done, p.total, 20);
        sb_addf(&bar, " %3.0f%%", p.total ? 100.0 * (double)p.done / (double)p.total : 0.0);
        char eta[32];
        report_table_add(t, s[i].name);
        report_table_add(t, sweep_state_name(s[i].state));
        report_table_add(t, sb_str(&bar));
        if (!report_sweep_bounded(&s[i]))
            report_table_addf(t, "%llu/∞", (unsigned long long)p.done);
        else
            report_table_addf(t, "%llu/%llu", (unsigned long long)p.done,
                              (unsigned long long)p.total);
        report_table_addf(t, "%llu", (unsigned long long)c->succeeded);
        report_table_addf(t, "%llu", (unsigned long long)c->running);
        report_table_addf(t, "%llu", (unsigned long long)c->pending);
        report_table_addf(t, "%llu", (unsigned long long)c->failed);
        report_table_addf(t, "%llu", (unsigned long long)c->cancelled);
        report_table_addf(t, "%llu", (unsigned long long)c->stopped);
        report_table_addf(t, "%.1f", p.rate);
        report_table_add(t, p.eta == 0 ? "done" : report_duration(p.eta, eta, sizeof eta));
        sb_release(&bar);
    }
    report_table_print(f, t, 0);
    report_table_free(t);
    for (size_t i = 0; i < n; i++) {
        char *blocked = gpu_blocked(&s[i], ag, nag);
        if (blocked)
            fprintf(f, "note: no live agent can take the pending trials of '%s': %s\n", s[i].name,
                    blocked);
        free(blocked);
    }
    return EXIT_OK;
}

/* Prints one report into f; *all_done tells whether every sweep is done. */
static int print_once(FILE *f, store *st, char **names, int nnames, const char *tag, bool json,
                      bool *all_done)
{
    store_sweep *s = NULL;
    size_t n = 0;
    int code = load_sweeps(st, names, nnames, tag, &s, &n);
    if (code)
        return code;
    *all_done = true;
    for (size_t i = 0; i < n; i++)
        if (!report_sweep_done(&s[i]))
            *all_done = false;
    store_agent *ag = NULL;
    size_t nag = 0;
    if (store_list_agents(st, &ag, &nag) != 0) { /* only the GPU notes need them */
        ag = NULL;
        nag = SIZE_MAX;
    }
    if (json)
        code = print_json(f, st, s, n, ag, nag);
    else if (n == 0)
        fputs("no sweeps in this project yet; start one with 'sweepq run sweep.yaml' "
              "(or 'sweepq init' to write a sweep.yaml)\n",
              f);
    else
        code = print_table(f, st, s, n, ag, nag);
    if (ag)
        store_agents_free(ag, nag);
    store_sweeps_free(s, n);
    return code;
}

/* What one screen of --watch shows. */
typedef struct status_watch {
    store *st;
    char **names;
    int nnames;
    const char *tag;
    bool json;
} status_watch;

static int render(FILE *f, void *ctx, bool *again)
{
    const status_watch *w = ctx;
    bool all_done = false;
    int code = print_once(f, w->st, w->names, w->nnames, w->tag, w->json, &all_done);
    *again = !all_done;
    return code;
}

static int watch(store *st, char **names, int nnames, const char *tag, bool json, double interval)
{
    char every[32];
    char *title =
        xasprintf("sweepq status, every %s", report_duration(interval, every, sizeof every));
    watch_opts o = {.title = title, .clock = true, .json = json, .interval = interval};
    status_watch w = {st, names, nnames, tag, json};
    int code = watch_run(&o, render, &w);
    free(title);
    return code;
}

int cmd_status(int argc, char **argv)
{
    bool watch_mode = false;
    double interval = 2;
    const char *tag = NULL;
    const sq_option opts[] = {
        OPT_STRING('t', "tag", &tag, "TAG", "show only the sweeps with this tag (a batch)"),
        OPT_BOOL('w', "watch", &watch_mode, "redraw until every shown sweep is finished"),
        OPT_DURATION(0, "interval", &interval, "DUR", "time between redraws (default 2s)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (interval < 0.1)
        interval = 0.1;
    if (tag && nargs)
        return options_usage_error(&usage, "give SWEEP names or --tag, not both");
    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    if (watch_mode) {
        code = watch(st, argv, nargs, tag, g.json, interval);
    } else {
        bool all_done;
        code = print_once(stdout, st, argv, nargs, tag, g.json, &all_done);
    }
    store_close(st);
    workspace_release(&ws);
    return code;
}
