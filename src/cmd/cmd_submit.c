/*
 * cmd_submit.c - `sweepq submit SWEEP --slurm|--pbs|--cluster auto`: write an
 * array job whose tasks each run `sweepq agent --sweep SWEEP
 * --exit-when-idle` in this project, and submit it (sbatch / qsub), or
 * print it with --dry-run. The script and the job ids go to
 * .sweepq/sweeps/SWEEP/jobs/. See cluster/scheduler.h for the script.
 *
 * Every option has a default in .sweepq/config.yaml's `submit:` mapping;
 * the command line wins over it.
 */
#include "util/common.h"

#include "cluster/config.h"
#include "cluster/scheduler.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "util/units.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static const sq_usage usage = {
    "submit",
    "[options] SWEEP",
    "submit a sweep to Slurm or PBS as an array job of agents",
    "Each array task runs 'sweepq agent --sweep SWEEP --exit-when-idle -j CPUS'\n"
    "in this project's root, against this project's store (or --store), with\n"
    "the absolute path of this sweepq binary. The script is written to\n"
    ".sweepq/sweeps/SWEEP/jobs/submit-N.sh, the job ids to jobs/jobs.txt there,\n"
    "and the jobs' output to jobs/ too.\n"
    "\n"
    "Slurm scripts ask for --signal=B:USR1@GRACE, --requeue and\n"
    "--open-mode=append: GRACE seconds before the time limit the agent sends\n"
    "SIGUSR1 to its trials (their cue to checkpoint into $SWEEPQ_TRIAL_DIR),\n"
    "SIGTERM a quarter of GRACE later, SIGKILL at half of it; records them as\n"
    "preempted (no try used) and requeues the job with 'scontrol requeue'. When\n"
    "it runs again the trials resume with SWEEPQ_RESUME=1 and the same\n"
    "WANDB_RUN_ID. PBS scripts use -J (PBS Pro) or -t (Torque), as\n"
    "'qstat --version' tells (or --pbs-flavor).\n"
    "\n"
    "A SQLite store on a network file system (NFS, Lustre, GPFS, BeeGFS,\n"
    "CIFS...) is refused: its locks are not safe across nodes. Run 'sweepq\n"
    "serve' and pass --store http://HOST:PORT, or use a PostgreSQL store.\n"
    "\n"
    "Defaults come from .sweepq/config.yaml, for example:\n"
    "  submit:\n"
    "    scheduler: slurm        # slurm, pbs, pbs-pro, torque or auto\n"
    "    partition: gpu\n"
    "    time: \"04:00:00\"\n"
    "    array: 8\n"
    "    cpus: 4\n"
    "    gpus_per_task: 1\n"
    "    mem: 16GiB\n"
    "    grace: 2m\n"
    "(also account, qos, extra and pbs_flavor).\n"
    "\n"
    "Examples:\n"
    "  sweepq submit lr-search --slurm --array 4 --time 01:00:00 --dry-run\n"
    "  sweepq submit lr-search --cluster auto --array 8 --gpus-per-task 1\n"
    "  sweepq submit lr-search --pbs --pbs-flavor torque --extra '-l feature=a100'",
    false,
};

/* What the command line and config.yaml ask for; -1 / NULL: not given. */
typedef struct submit_opts {
    bool slurm, pbs, dry_run, allow_shared;
    const char *cluster, *pbs_flavor, *partition, *account, *qos, *extra;
    int array, cpus, gpus, max_trials;
    uint64_t mem;
    double time, grace;
} submit_opts;

static int bad_config(const sq_config *c, const char *key, const char *value, const char *want)
{
    fprintf(stderr, "sweepq: invalid 'submit.%s: %s' in '%s': %s\n", key, value, config_path(c),
            want);
    return EXIT_USAGE;
}

static int config_int(const sq_config *c, const char *key, int *v)
{
    char *path = xasprintf("submit.%s", key);
    const char *text = config_get(c, path);
    free(path);
    if (*v >= 0 || !text)
        return 0;
    char *end = NULL;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || *end || end == text || n < 0 || n > INT_MAX)
        return bad_config(c, key, text, "expected a whole number");
    *v = (int)n;
    return 0;
}

static int config_duration(const sq_config *c, const char *key, double *v)
{
    char *path = xasprintf("submit.%s", key);
    const char *text = config_get(c, path);
    free(path);
    if (*v >= 0 || !text)
        return 0;
    if (units_parse_duration(text, v))
        return bad_config(c, key, text, sq_error_msg());
    return 0;
}

static void config_string(const sq_config *c, const char *key, const char **v)
{
    char *path = xasprintf("submit.%s", key);
    if (!*v)
        *v = config_get(c, path);
    free(path);
}

/* Fills what the command line left unset from config.yaml's submit:. */
static int apply_config(submit_opts *o, const sq_config *c)
{
    int code;
    if ((code = config_int(c, "array", &o->array)) || (code = config_int(c, "cpus", &o->cpus)) ||
        (code = config_int(c, "gpus_per_task", &o->gpus)) ||
        (code = config_duration(c, "time", &o->time)) ||
        (code = config_duration(c, "grace", &o->grace)))
        return code;
    const char *mem = config_get(c, "submit.mem");
    if (o->mem == UINT64_MAX && mem && units_parse_size(mem, &o->mem))
        return bad_config(c, "mem", mem, sq_error_msg());
    config_string(c, "partition", &o->partition);
    config_string(c, "account", &o->account);
    config_string(c, "qos", &o->qos);
    config_string(c, "extra", &o->extra);
    config_string(c, "pbs_flavor", &o->pbs_flavor);
    if (!o->slurm && !o->pbs && !o->cluster)
        o->cluster = config_get(c, "submit.scheduler");
    return 0;
}

/* The scheduler: --slurm, --pbs (+ flavour), --cluster NAME, or config. */
static int choose_scheduler(sched_kind *out, const submit_opts *o)
{
    const char *name = o->slurm ? "slurm" : o->pbs ? "pbs" : o->cluster;
    int rc = 0;
    if (!name)
        return options_usage_error(&usage, "choose a scheduler: --slurm, --pbs or --cluster auto "
                                           "(or set submit.scheduler in .sweepq/config.yaml)");
    if (o->pbs_flavor && strcmp(o->pbs_flavor, "pro") && strcmp(o->pbs_flavor, "torque"))
        return options_usage_error(&usage, "--pbs-flavor takes pro or torque, not '%s'",
                                   o->pbs_flavor);
    if (!strcmp(name, "slurm")) {
        *out = SCHED_SLURM;
    } else if (!strcmp(name, "pbs-pro") || !strcmp(name, "torque")) {
        *out = !strcmp(name, "torque") ? SCHED_TORQUE : SCHED_PBS_PRO;
    } else if (!strcmp(name, "pbs")) {
        if (o->pbs_flavor)
            *out = !strcmp(o->pbs_flavor, "torque") ? SCHED_TORQUE : SCHED_PBS_PRO;
        else
            rc = sched_pbs_flavor(out);
    } else if (!strcmp(name, "auto")) {
        rc = sched_detect(out);
        if (!rc && *out != SCHED_SLURM && o->pbs_flavor)
            *out = !strcmp(o->pbs_flavor, "torque") ? SCHED_TORQUE : SCHED_PBS_PRO;
    } else {
        return options_usage_error(&usage, "unknown scheduler '%s': use slurm, pbs or auto", name);
    }
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        return EXIT_FAILED;
    }
    return 0;
}

/* The SQLite file a store URL names, or NULL for another kind of store. */
static const char *sqlite_path(const char *url)
{
    if (!strncmp(url, "sqlite:", 7))
        return url + 7;
    const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
    return colon && (!slash || colon < slash) ? NULL : url;
}

/*
 * Refuses a SQLite store on a network file system unless allowed, and
 * gives the --store URL array tasks must use (absolute), or NULL when the
 * project's own store is found from the root. *store_arg is the caller's.
 */
static int check_store(char **store_arg, const workspace *ws, const sq_globals *g,
                       bool allow_shared, const char *sweep)
{
    *store_arg = NULL;
    const char *path = sqlite_path(ws->store_url);
    if (!path)
        return g->store_url ? (*store_arg = xstrdup(g->store_url), 0) : 0;
    char *abs = realpath(path, NULL);
    if (!abs) {
        fprintf(stderr, "sweepq: cannot find the store '%s': %s\n", path, strerror(errno));
        return EXIT_STORE;
    }
    char *dir = xstrdup(abs);
    *strrchr(dir, '/') = '\0';
    const char *fs = NULL;
    int net = sched_network_fs(&fs, *dir ? dir : "/");
    free(dir);
    if (net < 0) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        free(abs);
        return EXIT_STORE;
    }
    if (net > 0 && !allow_shared) {
        fprintf(stderr,
                "sweepq: cannot submit sweep '%s': its store '%s' is SQLite on %s, which array "
                "tasks on other nodes cannot share safely (file locks are unreliable there); run "
                "'sweepq serve' and submit with --store http://HOST:PORT, or use a PostgreSQL "
                "store (--store postgresql://...); --allow-shared-sqlite submits anyway\n",
                sweep, abs, fs);
        free(abs);
        return EXIT_FAILED;
    }
    if (g->store_url)
        *store_arg = xasprintf("sqlite:%s", abs);
    free(abs);
    return 0;
}

/* Creates jobs_dir/submit-N.sh with the first free N; *out_path is the caller's. */
static int write_script(char **out_path, const char *jobs_dir, const char *text)
{
    *out_path = NULL;
    for (int n = 1; n < 100000; n++) {
        char *path = xasprintf("%s/submit-%d.sh", jobs_dir, n);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        if (fd < 0 && errno == EEXIST) {
            free(path);
            continue;
        }
        size_t len = strlen(text);
        bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
        ok = fd >= 0 && close(fd) == 0 && ok;
        if (!ok) {
            fprintf(stderr, "sweepq: cannot write job script '%s': %s\n", path, strerror(errno));
            free(path);
            return EXIT_FAILED;
        }
        *out_path = path;
        return 0;
    }
    fprintf(stderr, "sweepq: cannot write a job script in '%s': too many there\n", jobs_dir);
    return EXIT_FAILED;
}

/* The job the options (defaults filled from config.yaml) describe. */
static sched_job job_from(const submit_opts *o, sched_kind kind, const char *sweep,
                          const workspace *ws, const char *jobs_dir, const char *self,
                          const char *store_arg)
{
    sched_job job = {
        .kind = kind,
        .sweep = sweep,
        .root = ws->root,
        .jobs_dir = jobs_dir,
        .sweepq = self,
        .store_url = store_arg,
        .array = o->array >= 0 ? o->array : 1,
        .cpus = o->cpus > 0 ? o->cpus : 1,
        .gpus_per_task = o->gpus > 0 ? o->gpus : 0,
        .mem = o->mem == UINT64_MAX ? 0 : o->mem,
        .time = o->time > 0 ? o->time : 0,
        .partition = o->partition,
        .account = o->account,
        .qos = o->qos,
        .extra = o->extra,
        .max_trials = o->max_trials > 0 ? o->max_trials : 0,
        .grace = o->grace >= 0 ? o->grace : SCHED_DEFAULT_GRACE,
    };
    return job;
}

/* Submits the written script, records the job for queue and cancel, and
 * says what was submitted; an exit code. */
static int submit_job(const sched_job *job, const char *script_path)
{
    char *job_id = NULL;
    if (sched_submit(&job_id, job->kind, script_path, job->root)) {
        fprintf(stderr, "sweepq: cannot submit sweep '%s': %s\n", job->sweep, sq_error_msg());
        return EXIT_FAILED;
    }
    if (sched_record_job(job->jobs_dir, job->kind, job_id, script_path))
        fprintf(stderr, "sweepq: warning: %s; 'sweepq queue' and 'cancel' will not see it\n",
                sq_error_msg());
    printf("submitted %s job %s for sweep '%s' (%d array task%s)\n",
           job->kind == SCHED_SLURM     ? "Slurm"
           : job->kind == SCHED_PBS_PRO ? "PBS Pro"
                                        : "Torque",
           job_id, job->sweep, job->array, job->array == 1 ? "" : "s");
    printf("  script: %s\n", script_path);
    printf("next: 'sweepq queue %s' shows its jobs, 'sweepq status %s' its trials\n", job->sweep,
           job->sweep);
    free(job_id);
    return EXIT_OK;
}

int cmd_submit(int argc, char **argv)
{
    submit_opts o = {
        .array = -1, .cpus = -1, .gpus = -1, .mem = UINT64_MAX, .time = -1, .grace = -1};
    const sq_option opts[] = {
        OPT_BOOL(0, "slurm", &o.slurm, "submit to Slurm (sbatch)"),
        OPT_BOOL(0, "pbs", &o.pbs, "submit to PBS Pro or Torque (qsub)"),
        OPT_STRING(0, "cluster", &o.cluster, "NAME",
                   "slurm, pbs or auto (the scheduler installed here)"),
        OPT_STRING(0, "pbs-flavor", &o.pbs_flavor, "F",
                   "pro or torque (default: as 'qstat --version' says)"),
        OPT_INT(0, "array", &o.array, "N", "array tasks, one agent each (default 1)"),
        OPT_INT(0, "cpus", &o.cpus, "C", "CPUs per task, also the agent's -j (default 1)"),
        OPT_INT(0, "gpus-per-task", &o.gpus, "G", "GPUs per task (default none)"),
        OPT_SIZE(0, "mem", &o.mem, "SIZE", "memory per task, such as 16GiB"),
        OPT_DURATION(0, "time", &o.time, "HH:MM:SS", "walltime of each task"),
        OPT_STRING(0, "partition", &o.partition, "P", "Slurm partition or PBS queue"),
        OPT_STRING(0, "account", &o.account, "A", "account to charge"),
        OPT_STRING(0, "qos", &o.qos, "Q", "Slurm quality of service"),
        OPT_STRING(0, "extra", &o.extra, "TEXT",
                   "more directive options, one #SBATCH/#PBS line per line of TEXT"),
        OPT_DURATION(0, "grace", &o.grace, "DUR",
                     "Slurm: USR1 this long before the time limit (default 2m)"),
        OPT_BOOL(0, "allow-shared-sqlite", &o.allow_shared,
                 "submit even when the SQLite store is on a network file system"),
        OPT_INT(0, "max-trials", &o.max_trials, "K",
                "each task's agent runs at most K trial attempts, then exits (W&B's --count)"),
        OPT_BOOL(0, "dry-run", &o.dry_run, "write and print the script, submit nothing"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0;
    int code = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (code)
        return code == OPTIONS_HELP_SHOWN ? EXIT_OK : code;
    if (nargs != 1)
        return options_usage_error(&usage, nargs ? "submit takes one SWEEP" : "missing SWEEP");
    if ((o.slurm + o.pbs + (o.cluster != NULL)) > 1)
        return options_usage_error(&usage, "choose one of --slurm, --pbs and --cluster");
    if (o.max_trials < 0)
        return options_usage_error(&usage, "--max-trials takes a positive number");
    const char *sweep = argv[0];

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    sq_config *cfg = NULL;
    char *config_file = NULL, *jobs_dir = NULL, *store_arg = NULL, *script = NULL;
    char *script_path = NULL, *self = NULL;
    code = open_store(&ws, &st, &g);
    if (code)
        goto out;
    store_sweep *sw = NULL;
    code = open_store_sweep(st, sweep, &sw);
    if (code)
        goto out;
    store_sweep_free(sw);
    config_file = workspace_config_path(&ws);
    if (config_load(&cfg, config_file)) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        code = EXIT_FAILED;
        goto out;
    }
    if ((code = apply_config(&o, cfg)))
        goto out;
    sched_kind kind = SCHED_SLURM;
    if ((code = choose_scheduler(&kind, &o)))
        goto out;
    if ((code = check_store(&store_arg, &ws, &g, o.allow_shared, sweep)))
        goto out;
    self = realpath("/proc/self/exe", NULL);
    if (!self) {
        fprintf(stderr, "sweepq: cannot find this sweepq binary: %s\n", strerror(errno));
        code = EXIT_INTERNAL;
        goto out;
    }
    jobs_dir = xasprintf("%s/sweeps/%s/jobs", ws.dir, sweep);
    if (mkdir_p(jobs_dir, 0700)) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        code = EXIT_FAILED;
        goto out;
    }
    sched_job job = job_from(&o, kind, sweep, &ws, jobs_dir, self, store_arg);
    if (sched_script(&script, &job)) {
        fprintf(stderr, "sweepq: cannot submit sweep '%s': %s\n", sweep, sq_error_msg());
        code = EXIT_USAGE;
        goto out;
    }
    if ((code = write_script(&script_path, jobs_dir, script)))
        goto out;
    if (o.dry_run) {
        fputs(script, stdout);
        fprintf(stderr, "sweepq: wrote %s (not submitted: --dry-run)\n", script_path);
        goto out;
    }
    code = submit_job(&job, script_path);
out:
    free(self);
    free(script_path);
    free(script);
    free(store_arg);
    free(jobs_dir);
    free(config_file);
    config_free(cfg);
    store_close(st);
    workspace_release(&ws);
    return code;
}
