/*
 * cmd_agent.c - `sweepq agent`: a worker on this machine that claims the
 * store's trials and runs them until it is told to stop (or, with
 * --exit-when-idle, until there is nothing left to claim). Any number of
 * agents, on one machine or many, can share a store. See agent/agent.h.
 */
#include "util/common.h"

#include "agent/agent.h"
#include "agent/gpu_alloc.h"
#include "agent/logship.h"
#include "cmd/agent_output.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

static const sq_usage usage = {
    "agent",
    "[options]",
    "claim and run trials of the store's sweeps on this machine",
    "Each trial runs in its own process group in its trial directory\n"
    "(.sweepq/sweeps/NAME/trials/N/) with its output in attempt-K.log and its\n"
    "$SWEEPQ_METRICS_FILE metrics-K.jsonl there (K: the attempt).\n"
    "Leases are renewed every lease_ttl/4 (at least every second); a trial whose\n"
    "lease was lost is killed and nothing more is written for it. A lease that\n"
    "could not be renewed for 0.9 x lease_ttl by the agent's own clock (store\n"
    "unreachable, agent stopped) is given up the same way, before the store can\n"
    "give the trial to another agent: the trial is killed and recorded\n"
    "preempted (no try used) if the store still holds it for this attempt.\n"
    "\n"
    "Signals: Ctrl-C (SIGINT) once: claim nothing more and let running trials\n"
    "finish. Ctrl-C again, SIGTERM or SIGHUP: SIGTERM to the trials, SIGKILL\n"
    "after the grace period; they go back to pending without using a try.\n"
    "SIGUSR1: SIGUSR1 to the trials (their cue to checkpoint), SIGTERM at half\n"
    "the grace period, then as for SIGTERM. Exit status 0 after such a drain.\n"
    "In a Slurm job written by 'sweepq submit' (SWEEPQ_REQUEUE=1), SIGUSR1 also\n"
    "runs 'scontrol requeue' for the job once its trials are recorded, so it\n"
    "comes back and resumes them (docs/clusters.md).\n"
    "\n"
    "A trial whose files this machine cannot write (read-only or full disk, no\n"
    "inodes, quota, no file descriptors, permission denied, I/O error) is given\n"
    "back as preempted (no try used) with a warning saying why; claims then wait\n"
    "0.5 s, doubling up to 30 s, and after 5 such trials in a row the agent\n"
    "stops claiming, lets its running trials finish and exits 73.\n"
    "\n"
    "GPUs: a trial whose spec asks for resources.gpus or gpu_memory starts only\n"
    "when it fits the GPUs free now (never overcommitted), with\n"
    "CUDA_VISIBLE_DEVICES naming its GPUs and CUDA_DEVICE_ORDER=PCI_BUS_ID; the\n"
    "GPUs are read only while such a sweep runs. An inherited\n"
    "CUDA_VISIBLE_DEVICES limits the GPUs used (docs/gpus.md).\n"
    "\n"
    "Logs: with --ship-logs always (auto: when the store is not a SQLite file),\n"
    "the last 256 KiB of each attempt's log go to the store every 10 s\n"
    "(--ship-every) while it grows and when the attempt ends, so that\n"
    "'sweepq logs' shows trials that ran on other machines. A SQLite store's\n"
    "agents share its machine, where 'sweepq logs' reads the trial's own file.\n"
    "\n"
    "Examples:\n"
    "  sweepq agent -j 4                      run trials of every sweep\n"
    "  sweepq agent --tag batch-7 --exit-when-idle\n"
    "  sweepq agent --sweep lr-search --max-trials 10",
    false,
};

int cmd_agent(int argc, char **argv)
{
    sq_strlist sweeps = {NULL, 0};
    const char *tag = NULL;
    int jobs = 0, max_trials = 0;
    bool exit_when_idle = false, show_output = false;
    double grace = 10, ship_every = 10;
    const char *gpus = NULL, *gpu_snapshot = NULL, *ship_logs = "auto";
    uint64_t min_free = GPU_MIN_FREE_DEFAULT;
    const sq_option opts[] = {
        OPT_LIST(0, "sweep", &sweeps, "NAME", "run only this sweep's trials (repeatable)"),
        OPT_STRING('t', "tag", &tag, "TAG", "run only sweeps with this tag"),
        OPT_INT('j', "jobs", &jobs, "N", "CPU slots (default: the CPUs this process may use)"),
        OPT_BOOL(0, "exit-when-idle", &exit_when_idle,
                 "exit when nothing is left to claim and nothing runs"),
        OPT_INT(0, "max-trials", &max_trials, "K", "run at most K trial attempts, then exit"),
        OPT_DURATION(0, "grace", &grace, "DUR",
                     "time between SIGTERM and SIGKILL when stopping a trial (default 10s)"),
        OPT_BOOL(0, "show-output", &show_output, "print trials' output, prefixed with [N]"),
        OPT_STRING(0, "gpus", &gpus, "SPEC",
                   "GPUs to use: auto (default), none, or indices/UUIDs such as 0,2"),
        OPT_SIZE(0, "min-free", &min_free, "SIZE",
                 "skip GPUs with less free memory than this when the spec gives no "
                 "min_free_gpu_memory (default 4GiB)"),
        OPT_STRING(0, "gpu-snapshot", &gpu_snapshot, "FILE",
                   "read the GPUs from this JSON file (a testing aid; docs/gpus.md)"),
        OPT_STRING(0, "ship-logs", &ship_logs, "WHEN",
                   "copy the tails of trials' logs into the store: auto (default: when the "
                   "store is not a SQLite file), always or never"),
        OPT_DURATION(0, "ship-every", &ship_every, "DUR",
                     "ship a running trial's log tail this often when it grew (default 10s)"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0;
    int code = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (code) {
        code = code == OPTIONS_HELP_SHOWN ? EXIT_OK : code;
        goto parsed;
    }
    if (nargs > 0) {
        code = options_usage_error(&usage, "unexpected argument '%s'; name sweeps with --sweep",
                                   argv[0]);
        goto parsed;
    }
    if (jobs < 0 || max_trials < 0) {
        code = options_usage_error(&usage, "-j and --max-trials take a positive number");
        goto parsed;
    }
    if (!(ship_every > 0)) {
        code = options_usage_error(&usage, "option '--ship-every' takes a duration above 0");
        goto parsed;
    }
    agent_ship_logs ship = AGENT_SHIP_AUTO;
    if (logship_mode_parse(ship_logs, &ship) < 0) {
        code = options_usage_error(&usage, "option '--ship-logs': %s", sq_error_msg());
        goto parsed;
    }

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    code = open_store(&ws, &st, &g);
    if (code)
        goto parsed;
    agent_output out;
    agent_output_init(&out, st, sweeps.items, (size_t)sweeps.n, false, true, grace);
    out.multi = true;
    agent_config cfg = {
        .ws = &ws,
        .slots = jobs,
        .sweeps = sweeps.items,
        .nsweeps = (size_t)sweeps.n,
        .tag = tag,
        .exit_when_idle = exit_when_idle,
        .max_trials = (uint64_t)max_trials,
        .grace = grace,
        .show_output = show_output,
        .gpus = gpus,
        .min_free = min_free,
        .gpu_snapshot = gpu_snapshot,
        .on_event = agent_output_event,
        .ud = &out,
        .ship_logs = ship,
        .ship_period = ship_every,
    };
    agent_summary sum;
    int rc = agent_run(st, &cfg, &sum);
    agent_output_done(&out);
    if (rc) {
        code = open_store_fail(rc, "run the agent");
    } else if (sum.host_failed) {
        code = agent_host_failed_exit(&sum);
    } else {
        fprintf(stderr,
                "sweepq: agent done: %llu started, %llu succeeded, %llu failed, %llu timed out, "
                "%llu preempted, %llu stopped early, %llu cancelled, %llu lost\n",
                (unsigned long long)sum.started, (unsigned long long)sum.succeeded,
                (unsigned long long)sum.failed, (unsigned long long)sum.timed_out,
                (unsigned long long)sum.preempted, (unsigned long long)sum.stopped_early,
                (unsigned long long)sum.cancelled, (unsigned long long)sum.lost);
        code = EXIT_OK;
    }
    store_close(st);
    workspace_release(&ws);
parsed:
    free(sweeps.items);
    return code;
}
