/*
 * cmd_run.c - `sweepq run FILE...`: the main job. Registers every spec (one
 * batch: --tag is added to each), then runs an agent in this process
 * limited to those sweeps until they end everywhere, showing progress, and
 * prints each sweep's best trials.
 *
 * Running the same files again resumes: registering is a no-op for known
 * trials and finished trials are never run again, so after a Ctrl-C, a
 * crash or a reboot, `sweepq run` with the same arguments picks up where
 * the sweeps stopped.
 */
#include "util/common.h"

#include "agent/agent.h"
#include "agent/gpu_alloc.h"
#include "agent/register.h"
#include "cmd/agent_output.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "spec/spec.h"
#include "util/timeutil.h"

#include <unistd.h>

#define BEST_SHOWN 5

static const sq_usage usage = {
    "run",
    "[options] FILE...",
    "create the sweeps of FILE... and run their trials here until they end",
    "Several files make one batch (--tag names it). Running the same files again\n"
    "resumes: finished trials are not run again, pending ones are. Other agents\n"
    "(sweepq agent) may work on the same sweeps meanwhile; run returns when every\n"
    "trial of its sweeps is finished, wherever it ran.\n"
    "\n"
    "On a terminal a progress line shows done/total, running, failed, rate and\n"
    "ETA; otherwise one line per finished trial. The best trials of each sweep\n"
    "are printed at the end.\n"
    "\n"
    "Ctrl-C once: start no new trial, let running ones finish. Ctrl-C again or\n"
    "SIGTERM: stop them (SIGTERM, SIGKILL after --grace); they go back to pending\n"
    "and run again next time. SIGUSR1: SIGUSR1 to the trials first (checkpoint).\n"
    "\n"
    "GPUs: a trial whose spec asks for resources.gpus or gpu_memory starts only\n"
    "when it fits the GPUs free now (never overcommitted), with\n"
    "CUDA_VISIBLE_DEVICES naming its GPUs and CUDA_DEVICE_ORDER=PCI_BUS_ID; the\n"
    "GPUs are read only while such a sweep runs. An inherited\n"
    "CUDA_VISIBLE_DEVICES limits the GPUs used (docs/gpus.md).\n"
    "\n"
    "Exit status: 0 every trial succeeded (with --max-trials K: K attempts ran\n"
    "and no trial failed; the rest stay pending, as under W&B's --count); 1 a\n"
    "spec is invalid, or some trial failed, was cancelled or cannot run here;\n"
    "130 interrupted before the sweeps ended; 3, 4, 5 as for create.",
    false,
};

static int load_spec(const char *file, spec **out)
{
    spec_diags d = SPEC_DIAGS_INIT;
    int rc = spec_load_file(out, file, NULL, &d);
    for (size_t k = 0; k < d.n; k++) {
        char *line = spec_diag_format(&d.items[k]);
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    if (rc && d.n == 0)
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
    spec_diags_release(&d);
    if (rc == SQ_ENOTFOUND)
        return EXIT_NOTFOUND;
    return rc ? EXIT_FAILED : EXIT_OK;
}

static void add_tag(spec *s, const char *tag)
{
    for (size_t i = 0; i < s->ntags; i++)
        if (!strcmp(s->tags[i], tag))
            return;
    s->tags = xrealloc(s->tags, (s->ntags + 1) * sizeof *s->tags);
    s->tags[s->ntags++] = xstrdup(tag);
}

/* Registers the specs; prints what each sweep holds. */
static int register_all(store *st, const workspace *ws, spec **specs, int n)
{
    for (int i = 0; i < n; i++) {
        int64_t id;
        uint64_t added = 0;
        int rc = sweep_register(st, ws, specs[i], &id, &added);
        if (rc)
            return open_store_fail(rc, "create sweep '%s' from '%s'", specs[i]->name,
                                   specs[i]->path);
        store_sweep *s = NULL;
        if (store_get_sweep(st, specs[i]->name, &s) != 0)
            return open_store_fail(sq_error_code(), "read sweep '%s'", specs[i]->name);
        const store_counts *c = &s->counts;
        uint64_t left = c->pending + c->running;
        uint64_t so_far = left + c->succeeded + c->failed + c->cancelled + c->stopped;
        if (s->open_ended && specs[i]->method == SPEC_METHOD_BAYES && s->total)
            fprintf(stderr, "sweep '%s': bayes search, %llu of at most %llu trials so far\n",
                    s->name, (unsigned long long)so_far, (unsigned long long)s->total);
        else if (s->open_ended)
            fprintf(stderr, "sweep '%s': %s search without run_cap, %llu trials so far\n", s->name,
                    specs[i]->method == SPEC_METHOD_BAYES ? "bayes" : "random",
                    (unsigned long long)so_far);
        else if (added == s->total)
            fprintf(stderr, "sweep '%s': %llu trials\n", s->name, (unsigned long long)s->total);
        else
            fprintf(stderr,
                    "sweep '%s': %llu trials (%llu new), %llu succeeded, %llu failed, %llu "
                    "left to run\n",
                    s->name, (unsigned long long)s->total, (unsigned long long)added,
                    (unsigned long long)c->succeeded, (unsigned long long)c->failed,
                    (unsigned long long)left);
        store_sweep_free(s);
    }
    return EXIT_OK;
}

/* Prints each sweep's result and best trials; returns the exit status. */
/* limited: the run stopped at --max-trials, so pending trials are expected. */
static int summarize(store *st, const char **names, int n, const agent_summary *sum, bool limited)
{
    bool failures = false, unfinished = false;
    for (int i = 0; i < n; i++) {
        store_sweep *s = NULL;
        int rc = store_get_sweep(st, names[i], &s);
        if (rc)
            return open_store_fail(rc, "read sweep '%s'", names[i]);
        const store_counts *c = &s->counts;
        failures = failures || c->failed || c->cancelled;
        unfinished = unfinished || !report_sweep_done(s);
        printf("%s: %s, %llu succeeded, %llu failed, %llu cancelled, %llu pending", s->name,
               sweep_state_name(s->state), (unsigned long long)c->succeeded,
               (unsigned long long)c->failed, (unsigned long long)c->cancelled,
               (unsigned long long)(c->pending + c->running));
        if (c->stopped) /* named only when there are some: other lines stay as they were */
            printf(", %llu stopped early", (unsigned long long)c->stopped);
        printf("\n");
        if (s->metric_name && c->succeeded) {
            rc = report_print_best(stdout, st, s, BEST_SHOWN);
            if (rc)
                fprintf(stderr, "sweepq: cannot list the best trials of '%s': %s\n", s->name,
                        sq_error_msg());
        }
        store_sweep_free(s);
    }
    if (sum->interrupted && unfinished)
        return EXIT_INTERRUPTED;
    /* Unfinished without an interruption: trials this machine cannot run
     * (the agent said why); not every trial succeeded. */
    return failures || (unfinished && !limited) ? EXIT_FAILED : EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
    const char *tag = NULL;
    int jobs = 0, max_trials = 0;
    bool show_output = false;
    double grace = 10;
    const char *gpus = NULL, *gpu_snapshot = NULL;
    uint64_t min_free = GPU_MIN_FREE_DEFAULT;
    const sq_option opts[] = {
        OPT_INT('j', "jobs", &jobs, "N", "CPU slots (default: the CPUs this process may use)"),
        OPT_STRING('t', "tag", &tag, "TAG", "tag every sweep of this batch with TAG"),
        OPT_BOOL(0, "show-output", &show_output, "print trials' output, prefixed with [N]"),
        OPT_STRING(0, "gpus", &gpus, "SPEC",
                   "GPUs to use: auto (default), none, or indices/UUIDs such as 0,2"),
        OPT_SIZE(0, "min-free", &min_free, "SIZE",
                 "skip GPUs with less free memory than this when the spec gives no "
                 "min_free_gpu_memory (default 4GiB)"),
        OPT_STRING(0, "gpu-snapshot", &gpu_snapshot, "FILE",
                   "read the GPUs from this JSON file (a testing aid; docs/gpus.md)"),
        OPT_DURATION(0, "grace", &grace, "DUR",
                     "time between SIGTERM and SIGKILL when stopping a trial (default 10s)"),
        OPT_INT(0, "max-trials", &max_trials, "K", "run at most K trial attempts here"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0;
    int code = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (code)
        return code == OPTIONS_HELP_SHOWN ? EXIT_OK : code;
    if (nargs == 0)
        return options_usage_error(&usage, "no spec file given");
    if (jobs < 0 || max_trials < 0)
        return options_usage_error(&usage, "-j and --max-trials take a positive number");

    spec **specs = xcalloc((size_t)nargs, sizeof *specs);
    const char **names = xcalloc((size_t)nargs, sizeof *names);
    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    for (int i = 0; i < nargs && !code; i++) {
        code = load_spec(argv[i], &specs[i]);
        if (!code && tag)
            add_tag(specs[i], tag);
        if (!code)
            names[i] = specs[i]->name;
    }
    if (code)
        goto out;
    if (workspace_open(&ws, g.store_url, true) != 0) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        code = EXIT_STORE;
        goto out;
    }
    int rc = store_open(&st, ws.store_url);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg()); /* it names the store */
        code = EXIT_STORE;
        goto out;
    }
    code = register_all(st, &ws, specs, nargs);
    if (code)
        goto out;

    agent_output out;
    agent_output_init(&out, st, names, (size_t)nargs, isatty(STDERR_FILENO), false, grace);
    agent_config cfg = {
        .ws = &ws,
        .slots = jobs,
        .sweeps = names,
        .nsweeps = (size_t)nargs,
        .until_sweeps_end = true,
        .max_trials = (uint64_t)max_trials,
        .grace = grace,
        .show_output = show_output,
        .gpus = gpus,
        .min_free = min_free,
        .gpu_snapshot = gpu_snapshot,
        .on_event = agent_output_event,
        .ud = &out,
    };
    agent_summary sum;
    rc = agent_run(st, &cfg, &sum);
    agent_output_done(&out);
    if (rc) {
        code = open_store_fail(rc, "run the agent");
        goto out;
    }
    if (sum.host_failed) {
        code = agent_host_failed_exit(&sum);
        goto out;
    }
    code = summarize(st, names, nargs, &sum, max_trials > 0 && sum.started >= (uint64_t)max_trials);
out:
    store_close(st);
    workspace_release(&ws);
    for (int i = 0; i < nargs; i++)
        spec_free(specs[i]);
    free(specs);
    free(names);
    return code;
}
