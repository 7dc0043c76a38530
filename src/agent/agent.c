/*
 * agent.c - the claim loop: slots, children, leases, heartbeats, signals and
 * the recording of outcomes; see agent.h for the life of a trial.
 *
 * Structure: one poll() loop on a self-pipe. Signal handlers only count
 * their signal and write a byte to the pipe; each turn of the loop
 *   1. acts on new signals (drain, stop),
 *   2. after a SIGCHLD, reaps the children that ended (by pid, never
 *      waitpid(-1)), freeing their slots,
 *   3. claims what fits the free slots and starts it: a slot is refilled
 *      before anything else is done about the trial that left it,
 *   4. settles the ended trials: reads the rest of their output, decides
 *      the outcome, records it,
 *   5. runs what is due: stop escalations and timeouts, the heartbeat, the
 *      reading of logs and metrics files, retries of store writes,
 *   6. sleeps until the earliest deadline (at most IDLE_POLL), or not at
 *      all when this turn changed something.
 *
 * Invariants:
 *   - A job exists from its claim until its outcome is recorded or its
 *     lease is known lost; its lease is in every heartbeat meanwhile.
 *   - job->pid > 0 until the child is reaped: the child is a zombie at
 *     worst, so signalling its process group can never reach a stranger.
 *   - Nothing is written about a job whose lease is lost.
 *   - a->used is the sum of resources.cpus over jobs whose child lives.
 *   - A job holds a GPU reservation (a->gpu_alloc, owner j->gpu_owner) from
 *     its start until its child is reaped, and never longer.
 *   - The GPUs are read only for sweeps that ask for GPUs: a CPU-only
 *     agent never loads NVML nor runs nvidia-smi.
 *   - Store calls that fail with SQ_EBUSY/SQ_EIO are retried later on their
 *     own backoff schedule; the loop never sleeps inside a retry.
 *   - Claims are idempotent (store_claim_request): a claim that failed with
 *     SQ_EBUSY/SQ_EIO may have been committed, so the next claim from that
 *     sweep sends its request id again and gets what it took, before any
 *     other sweep is claimed from; a new id only after a claim returned.
 */
#include "util/common.h"

#include "agent/agent.h"
#include "agent/gpu.h"
#include "agent/gpu_alloc.h"
#include "agent/logship.h"
#include "agent/metrics.h"
#include "agent/register.h"
#include "agent/requeue.h"
#include "agent/spawn.h"
#include "agent/tail.h"
#include "spec/spec.h"
#include "util/text.h"
#include "util/timeutil.h"
#include "util/units.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_GRACE 10.0
#define HEARTBEAT_MAX 1.0    /* renew at least this often: cancel seen within 1 s */
#define HEARTBEAT_IDLE 10.0  /* the agent's liveness while nothing runs */
#define IDLE_POLL 1.0        /* look for new work this often when idle */
#define COMPLETION_POLL 10.0 /* look for ended sweeps nobody completed this often */
#define TAIL_PERIOD 1.0      /* read logs and metrics files this often */
#define TAIL_PERIOD_SHOWN 0.1
#define TAIL_TICK_BYTES ((size_t)4 << 20)
#define TICK_PERIOD 0.25
#define BACKOFF_BASE 0.05
#define BACKOFF_CAP 5.0
#define META_AFTER 1.0 /* seconds: params.json and command.txt for trials past it */
#define ERROR_LINE_MAX 200
#define GPU_REREAD 1.0   /* seconds: read the GPUs at most this often */
#define SHIP_PERIOD 10.0 /* seconds: a running trial's log tail to the store */

/* ---- small pieces ---------------------------------------------------------- */

typedef struct backoff {
    double delay; /* last delay; 0 after a success */
    double next;  /* mono time before which the operation waits */
    unsigned streak;
} backoff;

typedef enum {
    STOP_NONE = 0,
    STOP_TIMEOUT,
    STOP_PREEMPT,
    STOP_CANCEL,
    STOP_LOST, /* strongest: nothing may be written */
} stop_reason;

typedef struct agent_sweep {
    int64_t id;
    char *name;
    spec *sp;
    metrics_pattern *pattern;
    char **base_env; /* the agent's environment minus what trials get from us */
    size_t nbase_env;
    char **owned_env; /* the strings of base_env this struct allocated */
    size_t nowned_env;
    char *trials_dir;
    char *program_abs; /* a relative `program` found in the project root, made absolute */
    double lease_ttl, timeout;
    int cpus;
    gpu_request gpu; /* what each trial asks of the GPUs */
    bool open_ended;
    bool params_file;     /* the command reads TRIAL_DIR/params.json */
    bool usable;          /* false: cannot run here (message given once) */
    bool exhausted;       /* the last claim found nothing */
    bool completion_due;  /* try store_claim_completion */
    bool completion_done; /* tried since the last claim from it */
    bool gpu_waiting;     /* its trials wait for GPUs this agent holds */
    size_t running;       /* jobs of it that hold a lease here */
    /* The request id of the last claim from it when that failed with a
     * transient error (it may have been committed, its answer lost): the
     * next claim sends it again and gets those trials back. NULL: none. */
    char *claim_request;
} agent_sweep;

typedef struct job {
    agent_sweep *sw;
    int64_t trial_id;
    uint64_t number;
    int attempt;
    char *dir;
    pid_t pid; /* > 0 until reaped */
    bool live; /* the child runs (counted in a->used) */
    int log_fd;
    tail log;
    int metrics_fd;
    tail mfile;
    off_t metrics_start;
    metrics *m;
    double started, elapsed;
    double deadline; /* timeout (mono), 0: none */
    stop_reason stop;
    double term_at, kill_at;
    char *params_json; /* the claim's, for params.json */
    char *display;     /* the command as one line, for command.txt */
    bool meta_written; /* params.json and command.txt are there */
    bool reaped;       /* ended, not yet settled (output read, outcome decided) */
    bool exited;       /* settled, waiting for its outcome to be recorded */
    store_result result;
    char *error, *final, *rows;
    backoff bo;
    strbuf last_line;
    bool oom;
    char *gpu_owner; /* its GPU reservation's name, while it holds one */
    /* log shipping (logship.h) */
    double ship_at;     /* mono time of the next shipment while it runs */
    off_t shipped_size; /* the log's size when last shipped */
    bool ship_warned;   /* warned since the last shipment that worked */
    bool final_shipped; /* the tail at its end was sent (or queued) */
} job;

typedef struct hook {
    pid_t pid;
    char *sweep;
    double kill_at;
} hook;

typedef struct agent {
    store *st;
    const agent_config *cfg;
    char *id;
    int slots, used;
    double grace;
    agent_sweep **sweeps;
    size_t nsweeps, sweeps_cap;
    job **jobs;
    size_t njobs, jobs_cap;
    hook *hooks;
    size_t nhooks, hooks_cap;
    uint64_t claimed;
    uint64_t claim_seq; /* claims sent: numbers their request ids */
    bool draining, stopping;
    bool progress;      /* something changed this turn: turn again at once */
    bool paused_warned; /* run was told that it waits for a paused sweep */
    double last_refresh, last_job_end, empty_round_at, last_done_check, last_ended_check;
    double next_heartbeat, next_tail, next_tick;
    backoff claim_bo, hb_bo;
    /* GPUs: read lazily, when a sweep asks for them (gpu_refresh) */
    gpu_probe *gpu_probe;
    gpu_table gpu_table;
    gpu_alloc gpu_alloc;
    double gpu_read_at;
    bool gpu_ok;     /* the last read worked and --gpus was valid */
    bool gpu_broken; /* --gpus names GPUs that are not here: none usable */
    bool gpu_read_failed, gpu_registered;
    char *host;
    uint64_t rng;
    agent_summary sum;
    /* log shipping (logship.h) */
    bool ship;
    double ship_period, next_ship_retry;
    logship_queue ship_q; /* final tails the store could not take yet */
} agent;

static double backoff_fail(agent *a, backoff *b, double now)
{
    b->delay = b->delay ? b->delay * 2 : BACKOFF_BASE;
    if (b->delay > BACKOFF_CAP)
        b->delay = BACKOFF_CAP;
    /* xorshift64*: jitter only, no need for quality */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    double u = (double)((a->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
    b->next = now + b->delay * (0.5 + 0.5 * u);
    b->streak++;
    return b->next;
}

static void backoff_ok(backoff *b)
{
    b->delay = 0;
    b->next = 0;
    b->streak = 0;
}

static void emit(agent *a, agent_event_type type, const agent_sweep *sw, const job *j,
                 const char *text)
{
    if (!a->cfg->on_event)
        return;
    agent_event ev = {
        .type = type,
        .sweep = sw ? sw->name : NULL,
        .trial = j ? j->number : 0,
        .attempt = j ? j->attempt : 0,
        .result = j && j->exited ? &j->result : NULL,
        .elapsed = j ? j->elapsed : 0,
        .text = text,
        .running = (size_t)0,
    };
    for (size_t i = 0; i < a->njobs; i++)
        ev.running += a->jobs[i]->live;
    a->cfg->on_event(&ev, a->cfg->ud);
}

static void warn(agent *a, const agent_sweep *sw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(agent *a, const agent_sweep *sw, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    emit(a, AGENT_EV_WARNING, sw, NULL, text);
    free(text);
}

/* Warns about a transient store error once per streak of failures. */
static void warn_transient(agent *a, const backoff *b, const char *what)
{
    if (b->streak == 1)
        warn(a, NULL, "store busy while %s, retrying: %s", what, sq_error_msg());
}

int agent_default_slots(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

const char *agent_wandb_run_id(const char *sweep, const char *key, char *buf, size_t size)
{
    /* FNV-1a over "sweep\0key": stable, and W&B accepts any [a-z0-9] id. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = sweep;; p++) {
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
        if (!*p)
            break;
    }
    for (const char *p = key ? key : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    snprintf(buf, size, "%016llx", (unsigned long long)h);
    return buf;
}

/* ---- signals ------------------------------------------------------------------ */

static volatile sig_atomic_t sig_int, sig_term, sig_usr1, sig_chld;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    switch (sig) {
    case SIGINT: sig_int++; break;
    case SIGTERM:
    case SIGHUP: sig_term++; break;
    case SIGUSR1: sig_usr1++; break;
    case SIGCHLD: sig_chld++; break;
    default: break;
    }
    if (wake_pipe[1] >= 0) {
        ssize_t ignored = write(wake_pipe[1], "x", 1);
        (void)ignored; /* a full pipe already holds a wake-up */
    }
    errno = saved;
}

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE};

typedef struct saved_signals {
    struct sigaction old[ARRAY_SIZE(handled_signals)];
} saved_signals;

/* What children must set back to the default: exactly what we changed. */
static sigset_t changed_signals;

static int signals_install(saved_signals *saved)
{
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return sq_error_set(SQ_EIO, "cannot create the agent's wake-up pipe: %s", strerror(errno));
    sig_int = sig_term = sig_usr1 = sig_chld = 0;
    sigemptyset(&changed_signals);
    for (size_t i = 0; i < ARRAY_SIZE(handled_signals); i++) {
        sigaddset(&changed_signals, handled_signals[i]);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        /* SIGPIPE: a closed terminal or pipe must not kill the agent. */
        sa.sa_handler = handled_signals[i] == SIGPIPE ? SIG_IGN : on_signal;
        sigfillset(&sa.sa_mask); /* handlers never nest: each count is exact */
        sa.sa_flags = SA_RESTART | (handled_signals[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        sigaction(handled_signals[i], &sa, &saved->old[i]);
    }
    return 0;
}

static void signals_restore(const saved_signals *saved)
{
    for (size_t i = 0; i < ARRAY_SIZE(handled_signals); i++)
        sigaction(handled_signals[i], &saved->old[i], NULL);
    close(wake_pipe[0]);
    close(wake_pipe[1]);
    wake_pipe[0] = wake_pipe[1] = -1;
}

/* ---- sweeps ------------------------------------------------------------------- */

static bool is_reserved_env(const char *entry, const spec *sp, bool gpu)
{
    static const char *const ours[] = {
        "SWEEPQ_SWEEP",    "SWEEPQ_TRIAL",        "SWEEPQ_ATTEMPT", "SWEEPQ_TRIAL_DIR",
        "SWEEPQ_RESUME",   "SWEEPQ_METRICS_FILE", "WANDB_RUN_ID",   "WANDB_RESUME",
        "WANDB_RUN_GROUP", "WANDB_DIR",
    };
    const char *eq = strchr(entry, '=');
    size_t n = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
        if (strlen(ours[i]) == n && !strncmp(entry, ours[i], n))
            return true;
    /* A GPU trial's variables replace the agent's (docs/gpus.md); a CPU
     * trial keeps the agent's environment as it is. */
    if (gpu && ((n == 20 && !strncmp(entry, "CUDA_VISIBLE_DEVICES", n)) ||
                (n == 17 && !strncmp(entry, "CUDA_DEVICE_ORDER", n))))
        return true;
    for (size_t i = 0; sp && i < sp->nenv; i++)
        if (strlen(sp->env[i].name) == n && !strncmp(entry, sp->env[i].name, n))
            return true;
    return false;
}

/* The environment every trial of sw starts from: the agent's own, without
 * the names the trial gets from us or from the spec, plus the constants. */
static void build_base_env(agent_sweep *sw)
{
    size_t n = 0;
    while (environ[n])
        n++;
    sw->base_env = xmalloc((n + 4) * sizeof *sw->base_env);
    sw->owned_env = xmalloc(3 * sizeof *sw->owned_env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_reserved_env(environ[i], sw->sp, gpu_request_wants_gpu(&sw->gpu)))
            sw->base_env[k++] = environ[i];
    /* CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER join per trial (build_env)
     * for a sweep that asks for GPUs. */
    sw->owned_env[0] = xasprintf("SWEEPQ_SWEEP=%s", sw->name);
    sw->owned_env[1] = xasprintf("WANDB_RUN_GROUP=%s", sw->name);
    sw->owned_env[2] = xstrdup("WANDB_RESUME=allow");
    sw->nowned_env = 3;
    for (size_t i = 0; i < sw->nowned_env; i++)
        sw->base_env[k++] = sw->owned_env[i];
    sw->base_env[k] = NULL;
    sw->nbase_env = k;
}

static void sweep_free(agent_sweep *sw)
{
    if (!sw)
        return;
    free(sw->name);
    spec_free(sw->sp);
    metrics_pattern_free(sw->pattern);
    for (size_t i = 0; i < sw->nowned_env; i++)
        free(sw->owned_env[i]);
    free(sw->owned_env);
    free(sw->base_env);
    free(sw->trials_dir);
    free(sw->program_abs);
    free(sw->claim_request);
    free(sw);
}

static agent_sweep *sweep_find(agent *a, int64_t id)
{
    for (size_t i = 0; i < a->nsweeps; i++)
        if (a->sweeps[i]->id == id)
            return a->sweeps[i];
    return NULL;
}

/* True when the command template of sp (command, env, workdir) holds text. */
static bool spec_mentions(const spec *sp, const char *text)
{
    for (size_t i = 0; i < sp->ncommand; i++)
        if (strstr(sp->command[i], text))
            return true;
    for (size_t i = 0; i < sp->nenv; i++)
        if (strstr(sp->env[i].value, text))
            return true;
    return (sp->command_shell && strstr(sp->command_shell, text)) ||
           (sp->workdir && strstr(sp->workdir, text));
}

/* Adds sweep s to the cache; a sweep that cannot run here is cached as
 * unusable, with one warning. */
static agent_sweep *sweep_add(agent *a, const store_sweep *s)
{
    agent_sweep *sw = xcalloc(1, sizeof *sw);
    sw->id = s->id;
    sw->name = xstrdup(s->name);
    sw->lease_ttl = s->lease_ttl > 0 ? s->lease_ttl : 60;
    sw->timeout = s->timeout;
    sw->cpus = s->cpus > 0 ? s->cpus : 1;
    sw->open_ended = s->open_ended;
    XGROW(a->sweeps, a->sweeps_cap, a->nsweeps + 1);
    a->sweeps[a->nsweeps++] = sw;
    /* The store refuses such names, but one written by an older sweepq or
     * another program may hold any: never build a path from it. */
    if (workspace_check_name(s->name)) {
        warn(a, sw, "cannot run this sweep: %s", sq_error_msg());
        return sw;
    }
    char *sweep_dir = workspace_sweep_dir(a->cfg->ws, s->name);
    sw->trials_dir = xasprintf("%s/trials", sweep_dir);
    free(sweep_dir);

    spec_diags diags = SPEC_DIAGS_INIT;
    const char *yaml = s->spec_yaml ? s->spec_yaml : "";
    if (spec_load_string(&sw->sp, yaml, strlen(yaml), s->name, NULL, &diags) != 0) {
        char *first = diags.n ? spec_diag_format(&diags.items[0]) : xstrdup(sq_error_msg());
        warn(a, sw, "cannot run sweep '%s': its stored spec does not load: %s", s->name, first);
        free(first);
        spec_diags_release(&diags);
        return sw;
    }
    spec_diags_release(&diags);
    if (metrics_pattern_new(&sw->pattern, sw->sp->metrics_pattern) != 0) {
        warn(a, sw, "cannot run sweep '%s': %s", s->name, sq_error_msg());
        return sw;
    }
    if (sw->cpus > a->slots) {
        warn(a, sw,
             "cannot run sweep '%s' here: each trial needs %d CPU slots and this agent has "
             "%d; start it with -j %d or more",
             s->name, sw->cpus, a->slots, sw->cpus);
        return sw;
    }
    sw->gpu = (gpu_request){
        .gpus = s->gpus,
        .memory = s->gpu_memory,
        .min_free = sw->sp->resources.min_free_gpu_memory ? sw->sp->resources.min_free_gpu_memory
                    : a->cfg->min_free                    ? a->cfg->min_free
                                                          : GPU_MIN_FREE_DEFAULT,
    };
    sw->params_file = spec_mentions(sw->sp, "${args_json_file}");
    const char *prog = sw->sp->program;
    if (prog && prog[0] != '/') {
        char *abs = xasprintf("%s/%s", a->cfg->ws->root, prog);
        if (access(abs, F_OK) == 0)
            sw->program_abs = abs;
        else
            free(abs);
    }
    build_base_env(sw);
    sw->usable = true;
    return sw;
}

/* Lists the runnable sweeps again: new ones join the cache, listed ones may
 * be claimed from again, the others are left alone until the next listing. */
static int refresh_sweeps(agent *a, double now)
{
    store_sweep_filter f = {
        .names = a->cfg->sweeps,
        .nnames = a->cfg->nsweeps,
        .tag = a->cfg->tag,
        .since = 0,
        .runnable_only = true,
    };
    store_sweep *list = NULL;
    size_t n = 0;
    int rc = store_list_sweeps(a->st, &f, &list, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < a->nsweeps; i++)
        a->sweeps[i]->exhausted = true;
    for (size_t i = 0; i < n; i++) {
        agent_sweep *sw = sweep_find(a, list[i].id);
        if (!sw)
            sw = sweep_add(a, &list[i]);
        sw->exhausted = false;
    }
    store_sweeps_free(list, n);
    a->last_refresh = now;
    return 0;
}

/* ---- starting a trial ---------------------------------------------------------- */

static int write_text_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return sq_error_set(SQ_EIO, "cannot write '%s': %s", path, strerror(errno));
    size_t len = strlen(text), done = 0;
    int rc = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = sq_error_set(SQ_EIO, "cannot write '%s': %s", path, strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    close(fd);
    return rc;
}

static int make_trial_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return sq_error_set(SQ_EIO, "cannot create directory '%s': %s", dir, strerror(errno));
    return mkdir_p(dir, 0755);
}

/* argv with the items that are exactly a relative ${program} replaced by
 * sw->program_abs: the trial runs in its own directory, the program lives in
 * the project. The strings stay cmd's (or sw's). */
static char **resolve_argv(const agent_sweep *sw, const spec_command *cmd)
{
    char **argv = xmalloc((cmd->argc + 1) * sizeof *argv);
    for (size_t i = 0; i < cmd->argc; i++) {
        argv[i] = cmd->argv[i];
        if (sw->program_abs && !strcmp(cmd->argv[i], sw->sp->program))
            argv[i] = sw->program_abs;
    }
    argv[cmd->argc] = NULL;
    return argv;
}

static char **build_env(const agent_sweep *sw, const job *j, const store_claimed *c,
                        const spec_command *cmd, const char *cuda_visible, char ***owned,
                        size_t *nowned)
{
    enum { EXTRA = 9 };
    char **env = xmalloc((sw->nbase_env + EXTRA + cmd->nenv + 1) * sizeof *env);
    char **mine = xmalloc(EXTRA * sizeof *mine);
    char run_id[32];
    agent_wandb_run_id(sw->name, c->key, run_id, sizeof run_id);
    size_t k = 0;
    mine[k++] = xasprintf("SWEEPQ_TRIAL=%llu", (unsigned long long)j->number);
    mine[k++] = xasprintf("SWEEPQ_ATTEMPT=%d", j->attempt);
    mine[k++] = xasprintf("SWEEPQ_TRIAL_DIR=%s", j->dir);
    mine[k++] = xasprintf("SWEEPQ_RESUME=%d", c->resume ? 1 : 0);
    mine[k++] = xasprintf("SWEEPQ_METRICS_FILE=%s/metrics.jsonl", j->dir);
    mine[k++] = xasprintf("WANDB_RUN_ID=%s", run_id);
    mine[k++] = xasprintf("WANDB_DIR=%s", j->dir);
    if (cuda_visible) {
        mine[k++] = xasprintf("CUDA_VISIBLE_DEVICES=%s", cuda_visible);
        mine[k++] = xstrdup("CUDA_DEVICE_ORDER=PCI_BUS_ID");
    }
    size_t n = 0;
    for (size_t i = 0; i < sw->nbase_env; i++)
        env[n++] = sw->base_env[i];
    for (size_t i = 0; i < k; i++)
        env[n++] = mine[i];
    for (size_t i = 0; i < cmd->nenv; i++)
        env[n++] = cmd->env[i];
    env[n] = NULL;
    *owned = mine;
    *nowned = k;
    return env;
}

static void log_line(const job *j, const char *text)
{
    if (j->log_fd < 0)
        return;
    char *line = xasprintf("sweepq: %s\n", text);
    ssize_t ignored = write(j->log_fd, line, strlen(line));
    (void)ignored; /* the message is also the attempt's recorded error */
    free(line);
}

/*
 * Writes params.json and command.txt into the trial directory. They are for
 * people (and for ${args_json_file}, written before the start then), so they
 * are written once a trial has run for META_AFTER seconds or has ended
 * otherwise than by succeeding: a trial that succeeds at once costs two
 * files fewer, which is most of an agent's time per trial when trials are
 * short. Its parameters are in the store either way.
 */
static int job_write_meta(job *j)
{
    if (j->meta_written)
        return 0;
    j->meta_written = true;
    json_t *params = json_loads(j->params_json ? j->params_json : "{}", 0, NULL);
    if (!params)
        params = json_object();
    char *pj = spec_args_json(params);
    json_decref(params);
    char *path = xasprintf("%s/params.json", j->dir);
    int rc = write_text_file(path, pj);
    free(pj);
    free(path);
    if (rc)
        return rc;
    path = xasprintf("%s/command.txt", j->dir);
    char *line = xasprintf("%s\n", j->display ? j->display : "");
    rc = write_text_file(path, line);
    free(line);
    free(path);
    return rc;
}

/*
 * Prepares the trial directory and starts the child. Returns 0, or an error
 * whose message becomes the attempt's error (*exec_failed when the program
 * itself could not be run).
 */
static int job_spawn(agent *a, job *j, const store_claimed *c, bool *exec_failed)
{
    agent_sweep *sw = j->sw;
    json_t *params = NULL;
    spec_command cmd;
    memset(&cmd, 0, sizeof cmd);
    bool have_cmd = false;
    char **argv = NULL, **env = NULL, **env_owned = NULL;
    char *path = NULL, *workdir = NULL, *cuda_visible = NULL;
    gpu_grant grant = GPU_GRANT_INIT;
    size_t nenv_owned = 0;
    int rc = 0;
    *exec_failed = false;

    json_error_t jerr;
    params = json_loads(c->params_json ? c->params_json : "{}", 0, &jerr);
    if (!json_is_object(params)) {
        rc = sq_error_set(SQ_EINVAL, "cannot read the parameters of trial %llu: %s",
                          (unsigned long long)j->number, jerr.text);
        goto out;
    }
    rc = make_trial_dir(j->dir);
    if (rc)
        goto out;
    spec_command_ctx ctx = {
        .sweep_name = sw->name,
        .trial_number = j->number,
        .trial_dir = j->dir,
        .interpreter = a->cfg->interpreter,
        .env_program = NULL,
    };
    rc = spec_build_command(sw->sp, params, &ctx, &cmd);
    if (rc) {
        rc = sq_error_set(rc, "cannot build the command: %s", sq_error_msg());
        goto out;
    }
    have_cmd = true;

    j->display = xstrdup(cmd.display ? cmd.display : "");
    if (sw->params_file) { /* the command reads it: it must be there first */
        path = xasprintf("%s/params.json", j->dir);
        if (!c->resume || access(path, F_OK) != 0) {
            rc = job_write_meta(j);
            if (rc)
                goto out;
        }
        free(path);
    }
    path = xasprintf("%s/attempt-%d.log", j->dir, j->attempt);
    j->log_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->log_fd < 0) {
        rc = sq_error_set(SQ_EIO, "cannot open the log '%s': %s", path, strerror(errno));
        goto out;
    }
    if (c->resume) {
        /* The metrics file is the trial's: this attempt's rows start after
         * what earlier attempts wrote. */
        free(path);
        path = xasprintf("%s/metrics.jsonl", j->dir);
        struct stat stt;
        if (stat(path, &stt) == 0)
            j->metrics_start = stt.st_size;
    }

    if (gpu_request_wants_gpu(&sw->gpu)) {
        /* claim_from claimed no more than gpu_alloc_count allows with this
         * table, so this succeeds */
        rc = gpu_alloc_choose(&grant, &a->gpu_table, &a->gpu_alloc, &sw->gpu);
        if (rc) {
            rc = sq_error_set(rc, "no GPU for it here: %s", sq_error_msg());
            goto out;
        }
        j->gpu_owner = xasprintf("%s/%llu/%d", sw->name, (unsigned long long)j->number, j->attempt);
        gpu_alloc_take(&a->gpu_alloc, j->gpu_owner, &grant);
        cuda_visible = gpu_grant_cuda_visible(&grant, false);
    }
    argv = resolve_argv(sw, &cmd);
    env = build_env(sw, j, c, &cmd, cuda_visible, &env_owned, &nenv_owned);
    if (cmd.workdir && cmd.workdir[0] != '/')
        workdir = xasprintf("%s/%s", a->cfg->ws->root, cmd.workdir);
    else if (cmd.workdir)
        workdir = xstrdup(cmd.workdir);
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.envp = env;
    o.cwd = workdir ? workdir : j->dir;
    o.stdout_fd = j->log_fd;
    o.stderr_fd = j->log_fd;
    o.new_pgroup = true;
    o.die_with_parent = true;
    o.reset = &changed_signals;
    pid_t pid;
    int err = 0;
    rc = spawn_start(&pid, &err, &o);
    if (rc) {
        *exec_failed = err != 0;
        goto out;
    }
    j->pid = pid;
    j->live = true;
    if (j->gpu_owner) /* the child leads its process group */
        gpu_alloc_started(&a->gpu_alloc, j->gpu_owner, pid);
    j->started = time_mono();
    j->deadline = sw->timeout > 0 ? j->started + sw->timeout : 0;
    a->used += sw->cpus;
    emit(a, AGENT_EV_STARTED, sw, j, cmd.display);
out:
    for (size_t i = 0; i < nenv_owned; i++)
        free(env_owned[i]);
    free(env_owned);
    free(env);
    free(argv);
    free(workdir);
    free(path);
    free(cuda_visible);
    gpu_grant_release(&grant);
    if (have_cmd)
        spec_command_release(&cmd);
    json_decref(params);
    return rc;
}

static void job_free(job *j)
{
    if (!j)
        return;
    if (j->log_fd >= 0)
        close(j->log_fd);
    if (j->metrics_fd >= 0)
        close(j->metrics_fd);
    tail_release(&j->log);
    tail_release(&j->mfile);
    metrics_free(j->m);
    sb_release(&j->last_line);
    free(j->dir);
    free(j->params_json);
    free(j->display);
    free(j->error);
    free(j->final);
    free(j->rows);
    free(j->gpu_owner);
    free(j);
}

/* Drops j's GPU reservation, if any; sweeps that waited for GPUs may claim
 * again. */
static void job_gpu_drop(agent *a, job *j)
{
    if (!j->gpu_owner)
        return;
    gpu_alloc_drop(&a->gpu_alloc, j->gpu_owner);
    free(j->gpu_owner);
    j->gpu_owner = NULL;
    for (size_t i = 0; i < a->nsweeps; i++) {
        if (a->sweeps[i]->gpu_waiting) {
            a->sweeps[i]->gpu_waiting = false;
            a->sweeps[i]->exhausted = false;
        }
    }
}

/* ---- log tails into the store ----------------------------------------------------- */

static void on_ship_warning(const char *msg, void *ud)
{
    warn(ud, NULL, "%s", msg);
}

/* Ships a running trial's log tail when the log grew since the last time. */
static void job_ship(agent *a, job *j, double now)
{
    struct stat sb;
    j->ship_at = now + a->ship_period;
    /* Final tails waiting means the store is away: they go first. */
    if (a->ship_q.n || j->log_fd < 0 || fstat(j->log_fd, &sb) != 0 || sb.st_size == j->shipped_size)
        return;
    int rc = logship_send(a->st, j->trial_id, j->attempt, j->log_fd, &j->shipped_size);
    if (rc == 0) {
        j->ship_warned = false;
        return;
    }
    if (!j->ship_warned) /* once per streak: the next shipment tries again */
        warn(a, j->sw, "trial %llu: its log is not stored in the store yet: %s",
             (unsigned long long)j->number, sq_error_msg());
    j->ship_warned = true;
}

/* Ships the log tail of an attempt that ended (or never started), once; a
 * transient failure queues it for the next shipments. */
static void job_ship_final(agent *a, job *j)
{
    if (!a->ship || j->final_shipped || j->log_fd < 0)
        return;
    j->final_shipped = true;
    /* While earlier tails wait, the store is away: queue this one untried
     * rather than wait out another timeout. */
    int rc = a->ship_q.n ? SQ_EIO : logship_send(a->st, j->trial_id, j->attempt, j->log_fd, NULL);
    if (rc == 0)
        return;
    if (!sq_error_is_transient(rc)) {
        warn(a, j->sw, "trial %llu: its log is not stored: %s", (unsigned long long)j->number,
             sq_error_msg());
        return;
    }
    if (a->ship_q.n == 0) {
        warn(a, j->sw, "trial %llu: its log is not stored yet, retrying every %g s: %s",
             (unsigned long long)j->number, a->ship_period, sq_error_msg());
        a->next_ship_retry = time_mono() + a->ship_period;
    }
    char *path = xasprintf("%s/attempt-%d.log", j->dir, j->attempt);
    char *label = xasprintf("trial %llu of sweep '%s'", (unsigned long long)j->number, j->sw->name);
    logship_queue_add(&a->ship_q, j->trial_id, j->attempt, path, label, on_ship_warning, a);
    free(label);
    free(path);
}

static void jobs_remove(agent *a, job *j)
{
    job_gpu_drop(a, j);   /* it never started, or its lease was lost */
    job_ship_final(a, j); /* a lost lease's log is still worth reading */
    for (size_t i = 0; i < a->njobs; i++) {
        if (a->jobs[i] == j) {
            a->jobs[i] = a->jobs[--a->njobs];
            break;
        }
    }
    j->sw->running--;
    if (j->sw->running == 0 && j->sw->exhausted)
        j->sw->completion_due = true;
    a->progress = true;
    job_free(j);
}

static void record(agent *a, job *j, double now);

static void job_start(agent *a, agent_sweep *sw, const store_claimed *c)
{
    job *j = xcalloc(1, sizeof *j);
    j->sw = sw;
    j->trial_id = c->trial_id;
    j->number = c->number;
    j->attempt = c->attempt;
    j->pid = -1;
    j->log_fd = j->metrics_fd = -1;
    tail_init(&j->log, TAIL_MAX_LINE);
    tail_init(&j->mfile, (size_t)1 << 20);
    sb_init(&j->last_line, ERROR_LINE_MAX + 1);
    j->m = metrics_new(sw->pattern);
    j->dir = xasprintf("%s/%llu", sw->trials_dir, (unsigned long long)c->number);
    j->ship_at = time_mono() + a->ship_period;
    j->params_json = xstrdup(c->params_json);
    XGROW(a->jobs, a->jobs_cap, a->njobs + 1);
    a->jobs[a->njobs++] = j;
    sw->running++;
    a->sum.started++;
    /* The lease runs from the claim: renew it within a quarter of its TTL
     * even when the agent was idle (and heartbeating rarely) until now. */
    double renew =
        time_mono() + (sw->lease_ttl / 4 < HEARTBEAT_MAX ? sw->lease_ttl / 4 : HEARTBEAT_MAX);
    if (a->next_heartbeat > renew)
        a->next_heartbeat = renew;

    bool exec_failed = false;
    if (job_spawn(a, j, c, &exec_failed) == 0)
        return;
    /* It never ran: record a failed attempt with the reason, also in its log. */
    j->error = xstrdup(sq_error_msg());
    log_line(j, j->error);
    if (j->log_fd >= 0)
        job_write_meta(j);
    job_ship_final(a, j);
    j->exited = true;
    j->result.outcome = OUTCOME_FAILED;
    j->result.exit_code = exec_failed ? 127 : -1;
    j->result.term_signal = 0;
    j->result.error = j->error;
    emit(a, AGENT_EV_STARTED, sw, j, NULL);
    record(a, j, time_mono());
}

/* ---- watching a trial ------------------------------------------------------------ */

typedef struct line_ctx {
    agent *a;
    job *j;
} line_ctx;

static void on_output_line(const char *line, size_t len, void *ud)
{
    line_ctx *lc = ud;
    job *j = lc->j;
    metrics_add_output_line(j->m, line, len);
    if (!j->oom &&
        (strstr(line, "CUDA out of memory") || strstr(line, "CUDA error: out of memory")))
        j->oom = true;
    sb_reset(&j->last_line);
    /* Cut on a character boundary: the error must stay valid UTF-8 (JSON). */
    sb_add(&j->last_line, line, text_utf8_cut(line, len, ERROR_LINE_MAX));
    if (lc->a->cfg->show_output)
        emit(lc->a, AGENT_EV_OUTPUT, j->sw, j, line);
}

static void on_metrics_line(const char *line, size_t len, void *ud)
{
    job *j = ud;
    metrics_add_json_line(j->m, line, len); /* a line that is not JSON is skipped */
}

/* Reads what the trial wrote since the last time; at_end: everything, and
 * the unterminated last lines and W&B's summary too. */
static void job_collect(agent *a, job *j, bool at_end)
{
    line_ctx lc = {a, j};
    size_t max = at_end ? 0 : TAIL_TICK_BYTES;
    if (j->log_fd >= 0) {
        if (tail_read(&j->log, j->log_fd, max, on_output_line, &lc) < 0)
            warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
        if (at_end)
            tail_flush(&j->log, on_output_line, &lc);
    }
    if (j->metrics_fd < 0) {
        char *path = xasprintf("%s/metrics.jsonl", j->dir);
        j->metrics_fd = open(path, O_RDONLY | O_CLOEXEC);
        free(path);
        if (j->metrics_fd >= 0)
            j->mfile.offset = j->metrics_start;
    }
    if (j->metrics_fd >= 0) {
        tail_read(&j->mfile, j->metrics_fd, max, on_metrics_line, j);
        if (at_end)
            tail_flush(&j->mfile, on_metrics_line, j);
    }
    if (at_end && metrics_read_wandb_summary(j->m, j->dir) != 0)
        warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
    char *bad = metrics_take_warning(j->m);
    if (bad)
        warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, bad);
    free(bad);
}

/* Appends the rows collected so far (fenced). 0; SQ_ELEASE_LOST when the
 * attempt is no longer current (the rows are dropped: cancelled, or the
 * lease is lost, which the heartbeat tells apart); or a transient error
 * (the rows are kept for the next try). */
static int job_flush_rows(agent *a, job *j)
{
    if (!j->rows)
        j->rows = metrics_take_rows(j->m);
    if (!j->rows)
        return 0;
    int rc = store_append_metrics(a->st, j->trial_id, j->attempt, j->rows);
    if (sq_error_is_transient(rc))
        return rc;
    if (rc && rc != SQ_ELEASE_LOST)
        warn(a, j->sw, "trial %llu: metrics not stored: %s", (unsigned long long)j->number,
             sq_error_msg());
    free(j->rows);
    j->rows = NULL;
    return rc == SQ_ELEASE_LOST ? rc : 0;
}

static void job_lost(agent *a, job *j)
{
    if (j->pid > 0)
        spawn_signal_group(j->pid, SIGKILL);
    j->stop = STOP_LOST;
    if (!j->live) { /* already ended: drop what was not written */
        emit(a, AGENT_EV_LOST, j->sw, j, NULL);
        a->sum.lost++;
        jobs_remove(a, j);
    }
}

/* Asks a running trial to stop; escalates to SIGKILL after the grace. */
static void job_stop(agent *a, job *j, stop_reason why, int sig, double now)
{
    if (!j->live || j->stop >= why)
        return;
    j->stop = why;
    spawn_signal_group(j->pid, sig);
    if (sig == SIGUSR1) {
        j->term_at = now + a->grace / 2;
    }
    if (!j->kill_at || j->kill_at > now + a->grace)
        j->kill_at = now + a->grace;
}

static void outcome(agent *a, job *j)
{
    store_result *r = &j->result;
    spawn_status st = {r->exit_code, r->term_signal};
    char buf[128];
    if (j->stop == STOP_CANCEL) {
        r->outcome = OUTCOME_CANCELLED;
        j->error = xstrdup("cancelled");
    } else if (st.exit_code == 0) {
        r->outcome = OUTCOME_SUCCEEDED;
    } else if (j->stop == STOP_PREEMPT) {
        r->outcome = OUTCOME_PREEMPTED;
        j->error = xasprintf("stopped by the agent (%s)", spawn_status_text(&st, buf, sizeof buf));
    } else if (j->stop == STOP_TIMEOUT) {
        r->outcome = OUTCOME_TIMED_OUT;
        double t = j->sw->timeout;
        if (t < 60 && t == (double)(long)t) /* "30s" rather than "30.0s" */
            snprintf(buf, sizeof buf, "%lds", (long)t);
        else
            units_format_duration(t, buf, sizeof buf);
        j->error = xasprintf("timed out after %s", buf);
    } else {
        r->outcome = OUTCOME_FAILED;
        if (j->oom)
            j->error = xstrdup("CUDA out of memory");
        else if (st.exit_code > 0 && j->last_line.len) {
            /* The trial's own bytes: no terminal escape or bad UTF-8 in the store. */
            char *line = text_printable(j->last_line.buf, j->last_line.len);
            j->error = xasprintf("exited with status %d: %s", st.exit_code, line);
            free(line);
        }
        else if (st.exit_code > 0)
            j->error = xasprintf("exited with status %d", st.exit_code);
        else
            j->error = xstrdup(spawn_status_text(&st, buf, sizeof buf));
    }
    r->error = j->error;
}

/* The child ended: reap it at once and free its slot; the rest (reading
 * its output, recording the outcome) waits for job_settle, after the loop
 * has started the next trial in the slot. */
static void job_ended(agent *a, job *j, double now)
{
    /* Leftovers of its process group go with it; the leader is still a
     * zombie, so the group id cannot belong to anyone else. */
    spawn_signal_group(j->pid, SIGKILL);
    spawn_status st = {-1, 0};
    if (spawn_reap(j->pid, true, &st) != 1)
        warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
    j->pid = -1;
    j->live = false;
    j->reaped = true;
    j->result.exit_code = st.exit_code;
    j->result.term_signal = st.term_signal;
    a->used -= j->sw->cpus;
    job_gpu_drop(a, j);
    a->last_job_end = now;
    j->elapsed = now - j->started;
}

/* Gathers what an ended trial left, decides its outcome and records it. */
static void job_settle(agent *a, job *j, double now)
{
    j->reaped = false;
    a->progress = true;
    job_ship_final(a, j); /* before the finish: a finished trial's log can be read */
    if (j->stop == STOP_LOST) {
        emit(a, AGENT_EV_LOST, j->sw, j, NULL);
        a->sum.lost++;
        jobs_remove(a, j);
        return;
    }
    job_collect(a, j, true);
    outcome(a, j);
    if (j->result.outcome != OUTCOME_SUCCEEDED && job_write_meta(j) != 0)
        warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
    j->final = metrics_final_json(j->m);
    j->result.metrics_json = j->final;
    j->exited = true;
    record(a, j, now);
}

/* Writes the attempt's rows and outcome; retried later on transient errors. */
static void record(agent *a, job *j, double now)
{
    int rc = job_flush_rows(a, j);
    if (rc == 0 || rc == SQ_ELEASE_LOST) /* the finish will say why, fenced too */
        rc = store_finish(a->st, j->trial_id, j->attempt, &j->result);
    if (sq_error_is_transient(rc)) {
        backoff_fail(a, &j->bo, now);
        warn_transient(a, &j->bo, "recording a trial");
        return;
    }
    if (rc == SQ_ELEASE_LOST && j->stop == STOP_CANCEL) {
        /* The store made it cancelled already; this agent stopped it. */
        a->sum.cancelled++;
        emit(a, AGENT_EV_FINISHED, j->sw, j, NULL);
    } else if (rc == SQ_ELEASE_LOST) {
        emit(a, AGENT_EV_LOST, j->sw, j, NULL);
        a->sum.lost++;
    } else if (rc) {
        warn(a, j->sw, "trial %llu: cannot record attempt %d: %s", (unsigned long long)j->number,
             j->attempt, sq_error_msg());
    } else {
        switch (j->result.outcome) {
        case OUTCOME_SUCCEEDED: a->sum.succeeded++; break;
        case OUTCOME_TIMED_OUT: a->sum.timed_out++; break;
        case OUTCOME_PREEMPTED: a->sum.preempted++; break;
        case OUTCOME_CANCELLED: a->sum.cancelled++; break;
        default: a->sum.failed++; break;
        }
        emit(a, AGENT_EV_FINISHED, j->sw, j, NULL);
    }
    /* A failed, timed-out or preempted trial may be pending again. */
    if (j->result.outcome != OUTCOME_SUCCEEDED && j->result.outcome != OUTCOME_CANCELLED)
        j->sw->exhausted = false;
    jobs_remove(a, j);
}

/* ---- the loop's steps ---------------------------------------------------------------- */

static void check_children(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->live && spawn_exited(j->pid) == 1)
            job_ended(a, j, now);
        i++;
    }
    for (size_t i = 0; i < a->nhooks;) {
        hook *h = &a->hooks[i];
        spawn_status st;
        if (spawn_reap(h->pid, false, &st) == 0) {
            i++;
            continue;
        }
        store_result r = {.outcome = st.exit_code == 0 ? OUTCOME_SUCCEEDED : OUTCOME_FAILED,
                          .exit_code = st.exit_code,
                          .term_signal = st.term_signal};
        if (a->cfg->on_event) {
            agent_event ev = {.type = AGENT_EV_HOOK, .sweep = h->sweep, .result = &r};
            a->cfg->on_event(&ev, a->cfg->ud);
        }
        free(h->sweep);
        a->hooks[i] = a->hooks[--a->nhooks];
    }
}

static void settle_jobs(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->reaped) {
            job_settle(a, j, now); /* removes j, or keeps it for a retry */
            if (i < a->njobs && a->jobs[i] != j)
                continue; /* another job moved into slot i */
        }
        i++;
    }
}

static void stop_all(agent *a, int sig, double now)
{
    for (size_t i = 0; i < a->njobs; i++)
        job_stop(a, a->jobs[i], STOP_PREEMPT, sig, now);
    for (size_t i = 0; i < a->nhooks; i++) {
        spawn_signal_group(a->hooks[i].pid, SIGTERM);
        if (!a->hooks[i].kill_at)
            a->hooks[i].kill_at = now + a->grace;
    }
}

static void kill_all_now(agent *a)
{
    for (size_t i = 0; i < a->njobs; i++) {
        job *j = a->jobs[i];
        if (j->live) {
            if (j->stop < STOP_PREEMPT)
                j->stop = STOP_PREEMPT;
            spawn_signal_group(j->pid, SIGKILL);
            j->kill_at = j->term_at = 0;
        }
    }
    for (size_t i = 0; i < a->nhooks; i++)
        spawn_signal_group(a->hooks[i].pid, SIGKILL);
}

typedef struct seen_signals {
    sig_atomic_t intr, term, usr1, chld;
} seen_signals;

static void handle_signals(agent *a, seen_signals *seen, double now)
{
    sig_atomic_t intr = sig_int, term = sig_term, usr1 = sig_usr1;
    int new_int = intr - seen->intr, new_term = term - seen->term, new_usr1 = usr1 - seen->usr1;
    seen->intr = intr;
    seen->term = term;
    seen->usr1 = usr1;
    if (!new_int && !new_term && !new_usr1)
        return;
    if (a->stopping) { /* stop signal while stopping: no more grace */
        kill_all_now(a);
        return;
    }
    if (new_usr1 || new_term || (new_int && (a->draining || new_int > 1))) {
        a->stopping = true;
        a->sum.stopped = a->sum.interrupted = true;
        int sig = new_usr1 ? SIGUSR1 : SIGTERM;
        emit(a, AGENT_EV_STOPPING, NULL, NULL, new_usr1 ? "SIGUSR1" : "SIGTERM");
        stop_all(a, sig, now);
        return;
    }
    a->draining = true;
    a->sum.drained = a->sum.interrupted = true;
    emit(a, AGENT_EV_DRAINING, NULL, NULL, NULL);
}

static void heartbeat(agent *a, double now)
{
    size_t n = 0;
    store_lease *leases = xmalloc((a->njobs + 1) * sizeof *leases);
    job **owner = xmalloc((a->njobs + 1) * sizeof *owner);
    double interval = HEARTBEAT_IDLE;
    for (size_t i = 0; i < a->njobs; i++) {
        job *j = a->jobs[i];
        if (j->stop == STOP_LOST)
            continue;
        leases[n] = (store_lease){.trial_id = j->trial_id, .attempt = j->attempt};
        owner[n++] = j;
        double want = j->sw->lease_ttl / 4;
        if (want < interval)
            interval = want;
    }
    if (n && interval > HEARTBEAT_MAX)
        interval = HEARTBEAT_MAX;
    int rc = store_heartbeat(a->st, a->id, leases, n);
    if (sq_error_is_transient(rc)) {
        a->next_heartbeat = backoff_fail(a, &a->hb_bo, now);
        if (a->next_heartbeat > now + interval)
            a->next_heartbeat = now + interval;
        warn_transient(a, &a->hb_bo, "renewing leases");
        goto out;
    }
    a->next_heartbeat = now + interval;
    if (rc) {
        warn(a, NULL, "cannot renew leases: %s", sq_error_msg());
        goto out;
    }
    backoff_ok(&a->hb_bo);
    for (size_t i = 0; i < n; i++) {
        if (leases[i].lost)
            job_lost(a, owner[i]); /* may free owner[i]: nothing after it */
        else if (leases[i].cancel)
            job_stop(a, owner[i], STOP_CANCEL, SIGTERM, now);
    }
out:
    free(owner);
    free(leases);
}

/* Reads logs and metrics files of the running trials; appends rows. */
static void tail_tick(agent *a)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->live && j->stop != STOP_LOST) {
            job_collect(a, j, false);
            if (j->rows || metrics_pending(j->m)) {
                /* Refused: cancelled or lost. Ask the store which, now. */
                if (job_flush_rows(a, j) == SQ_ELEASE_LOST)
                    a->next_heartbeat = 0;
            }
        }
        i++;
    }
}

static void run_timers(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->live) {
            if (!j->meta_written && now >= j->started + META_AFTER && job_write_meta(j) != 0)
                warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
            if (j->deadline && now >= j->deadline) {
                j->deadline = 0;
                job_stop(a, j, STOP_TIMEOUT, SIGTERM, now);
            }
            if (a->ship && j->stop != STOP_LOST && now >= j->ship_at)
                job_ship(a, j, now);
            if (j->term_at && now >= j->term_at) {
                j->term_at = 0;
                spawn_signal_group(j->pid, SIGTERM);
            }
            if (j->kill_at && now >= j->kill_at) {
                j->kill_at = 0;
                spawn_signal_group(j->pid, SIGKILL);
            }
        } else if (j->exited && now >= j->bo.next) {
            size_t before = a->njobs;
            record(a, j, now);
            if (a->njobs < before)
                continue;
        }
        i++;
    }
    for (size_t i = 0; i < a->nhooks; i++) {
        if (a->hooks[i].kill_at && now >= a->hooks[i].kill_at) {
            a->hooks[i].kill_at = 0;
            spawn_signal_group(a->hooks[i].pid, SIGKILL);
        }
    }
    if (now >= a->next_heartbeat)
        heartbeat(a, now);
    if (a->ship_q.n && now >= a->next_ship_retry) {
        logship_queue_retry(&a->ship_q, a->st, on_ship_warning, a);
        a->next_ship_retry = now + a->ship_period;
    }
    bool live = a->used > 0;
    if (live && now >= a->next_tail) {
        tail_tick(a);
        a->next_tail = now + (a->cfg->show_output ? TAIL_PERIOD_SHOWN : TAIL_PERIOD);
    }
    if (live && a->cfg->on_event && now >= a->next_tick) {
        emit(a, AGENT_EV_TICK, NULL, NULL, NULL);
        a->next_tick = now + TICK_PERIOD;
    }
}

/* Claims the completion of sw, which has nothing left to run here; runs
 * its on_complete when this agent won it. */
static void try_complete(agent *a, agent_sweep *sw, double now)
{
    sw->completion_due = false;
    /* Claimed even without on_complete: the sweep's end is then handled
     * for good, and no agent looks at it again. */
    if (sw->completion_done || !sw->usable || sw->running)
        return;
    bool won = false;
    int rc = store_claim_completion(a->st, sw->id, a->id, &won);
    if (sq_error_is_transient(rc)) {
        sw->completion_due = true;
        backoff_fail(a, &a->claim_bo, now);
        warn_transient(a, &a->claim_bo, "claiming a sweep's completion");
        return;
    }
    sw->completion_done = true;
    if (rc) {
        warn(a, sw, "cannot claim the completion of sweep '%s': %s", sw->name, sq_error_msg());
        return;
    }
    if (!won || !sw->sp->on_complete)
        return;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xmalloc((n + 2) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SWEEPQ_SWEEP=", 13) != 0)
            env[k++] = environ[i];
    char *mine = xasprintf("SWEEPQ_SWEEP=%s", sw->name);
    env[k++] = mine;
    env[k] = NULL;
    char *argv[] = {"/bin/sh", "-c", sw->sp->on_complete, NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.envp = env;
    o.cwd = a->cfg->ws->root;
    o.new_pgroup = true;
    o.die_with_parent = true;
    pid_t pid;
    if (spawn_start(&pid, NULL, &o) != 0) {
        warn(a, sw, "cannot run on_complete of sweep '%s': %s", sw->name, sq_error_msg());
    } else {
        XGROW(a->hooks, a->hooks_cap, a->nhooks + 1);
        a->hooks[a->nhooks++] = (hook){.pid = pid, .sweep = xstrdup(sw->name), .kill_at = 0};
        if (a->cfg->on_event) {
            agent_event ev = {
                .type = AGENT_EV_HOOK, .sweep = sw->name, .text = sw->sp->on_complete};
            a->cfg->on_event(&ev, a->cfg->ud);
        }
    }
    free(mine);
    free(env);
}

/* True when nothing of s is left to run and its completion is unclaimed. */
static bool ended_unclaimed(const store_sweep *s)
{
    bool ended = s->state == SWEEP_FINISHED || s->state == SWEEP_CANCELLED ||
                 (!s->open_ended && s->counts.pending == 0 && s->counts.running == 0);
    return ended && s->counts.running == 0 && !s->completion_claimed;
}

/*
 * Sweeps can end with nobody there to see it: the last trial failed for
 * good when its lease expired, or the agent that finished it was killed
 * before it claimed the completion. An idle agent looks for such sweeps
 * among its own (names, tag) now and then, and runs their on_complete.
 */
static int complete_ended_sweeps(agent *a, double now)
{
    store_sweep_filter f = {.names = a->cfg->sweeps, .nnames = a->cfg->nsweeps, .tag = a->cfg->tag};
    store_sweep *list = NULL;
    size_t n = 0;
    int rc = store_list_sweeps(a->st, &f, &list, &n);
    if (rc)
        return rc;
    a->last_ended_check = now;
    for (size_t i = 0; i < n; i++) {
        if (!ended_unclaimed(&list[i]))
            continue;
        agent_sweep *sw = sweep_find(a, list[i].id);
        if (!sw)
            sw = sweep_add(a, &list[i]);
        sw->exhausted = true;
        if (!sw->completion_done)
            try_complete(a, sw, now);
    }
    store_sweeps_free(list, n);
    return 0;
}

/* ---- GPUs ------------------------------------------------------------------------------- */

static int agent_register(agent *a, const char *gpus_json);

static bool gpus_none(const agent *a)
{
    return a->cfg->gpus && !strcmp(a->cfg->gpus, "none");
}

/* Registers the agent again with its GPUs, for `sweepq status`. */
static void gpu_register(agent *a)
{
    json_t *j = gpu_table_json(&a->gpu_table);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (agent_register(a, text) != 0)
        warn(a, NULL, "cannot register this agent's GPUs: %s", sq_error_msg());
    free(text);
    a->gpu_registered = true;
}

/*
 * Reads the GPUs again, at most every GPU_REREAD seconds: only sweeps that
 * ask for GPUs call it, so a CPU-only agent never probes. a->gpu_ok tells
 * whether the table may be used; a failed read claims no GPU trial.
 */
static void gpu_refresh(agent *a, double now)
{
    if (a->gpu_read_at > 0 && now - a->gpu_read_at < GPU_REREAD)
        return;
    a->gpu_read_at = now;
    if (gpus_none(a)) { /* no GPUs: the empty table */
        a->gpu_ok = true;
        return;
    }
    if (!a->gpu_probe) {
        gpu_probe_opts o = {.snapshot = a->cfg->gpu_snapshot};
        a->gpu_probe = gpu_probe_new(&o);
    }
    gpu_table_release(&a->gpu_table);
    a->gpu_ok = false;
    if (gpu_probe_read(a->gpu_probe, &a->gpu_table) != 0) {
        if (!a->gpu_read_failed)
            warn(a, NULL, "cannot read the GPUs, no GPU trial starts until they can be read: %s",
                 sq_error_msg());
        a->gpu_read_failed = true;
        return;
    }
    a->gpu_read_failed = false;
    const char *cuda_visible = getenv("CUDA_VISIBLE_DEVICES");
    if (gpu_table_restrict(&a->gpu_table, cuda_visible, a->gpu_broken ? "none" : a->cfg->gpus)) {
        warn(a, NULL, "this agent uses no GPU: %s", sq_error_msg());
        a->gpu_broken = true;
        gpu_table_restrict(&a->gpu_table, cuda_visible, "none");
    }
    if (!a->gpu_registered) {
        for (size_t i = 0; i < a->gpu_table.nnotes; i++)
            warn(a, NULL, "GPUs: %s", a->gpu_table.notes[i]);
        gpu_register(a);
    }
    a->gpu_ok = true;
}

/* How many of sw's trials (at most want) fit the free GPUs now; 0 also for
 * a sweep that never can here, which is then left for other agents. */
static size_t gpu_want(agent *a, agent_sweep *sw, double now, size_t want)
{
    gpu_refresh(a, now);
    if (!a->gpu_ok) { /* looked at again at the next listing of sweeps */
        sw->gpu_waiting = sw->exhausted = true;
        return 0;
    }
    char *why = NULL;
    gpu_fit fit = gpu_alloc_fit(&why, &a->gpu_table, &a->gpu_alloc, &sw->gpu);
    if (fit == GPU_FIT_NEVER) {
        warn(a, sw, "sweep '%s' is left for other agents: each trial %s", sw->name,
             why ? why : "asks for more GPU than this agent has");
        sw->usable = false;
    }
    free(why);
    if (fit != GPU_FIT_NOW) {
        /* claimed again when one of this agent's GPU trials ends, or at the
         * next listing of sweeps (other users' work can end too) */
        sw->gpu_waiting = sw->exhausted = fit == GPU_FIT_LATER;
        return 0;
    }
    return gpu_alloc_count(&a->gpu_table, &a->gpu_alloc, &sw->gpu, want);
}

/*
 * One idempotent claim from sw (store_claim_request): a new request id,
 * unless the last claim from sw failed with a transient error, whose id is
 * sent again so that what it claimed before its answer was lost comes back
 * rather than staying orphaned until its lease expires (a try used up by a
 * trial that never ran). Ids are "claim-N": the store keeps them per agent.
 * An embedded store's answer cannot be lost, so claims there go without an
 * id (the store would record each one: about a tenth of the dispatch rate).
 */
static int claim_request(agent *a, agent_sweep *sw, size_t max, store_claimed **c, size_t *n)
{
    if (store_is_embedded(a->st))
        return store_claim(a->st, a->id, sw->id, max, c, n);
    if (!sw->claim_request)
        sw->claim_request = xasprintf("claim-%llu", (unsigned long long)++a->claim_seq);
    int rc = store_claim_request(a->st, a->id, sw->claim_request, sw->id, max, c, n);
    if (!sq_error_is_transient(rc)) {
        free(sw->claim_request);
        sw->claim_request = NULL;
    }
    return rc;
}

/* Claims from sw what fits; returns how many trials were started, or a
 * transient error code (the caller backs off). */
static int claim_from(agent *a, agent_sweep *sw, double now)
{
    /* The CPU slots bound the claim, and for a sweep that asks for GPUs
     * what fits the free GPUs now; each started trial then gets its grant
     * (job_spawn). */
    int free_slots = a->slots - a->used;
    size_t want = (size_t)(free_slots / sw->cpus);
    if (a->cfg->max_trials && a->cfg->max_trials - a->claimed < want)
        want = (size_t)(a->cfg->max_trials - a->claimed);
    if (want > 0 && gpu_request_wants_gpu(&sw->gpu))
        want = gpu_want(a, sw, now, want);
    if (want == 0)
        return 0;
    size_t started = 0;
    for (int round = 0; round < 2; round++) {
        store_claimed *c = NULL;
        size_t n = 0;
        int rc = claim_request(a, sw, want - started, &c, &n);
        if (rc == SQ_ENOTFOUND) {
            sw->usable = false;
            return (int)started;
        }
        if (sq_error_is_transient(rc))
            return rc;
        if (rc) {
            warn(a, sw, "cannot claim from sweep '%s': %s", sw->name, sq_error_msg());
            break;
        }
        if (n)
            sw->completion_done = false;
        for (size_t i = 0; i < n; i++) {
            a->claimed++;
            job_start(a, sw, &c[i]);
        }
        store_claims_free(c, n);
        started += n;
        if (started >= want)
            return (int)started;
        if (!sw->open_ended || round > 0)
            break;
        /* An open-ended sweep makes its next trials on demand. */
        store_sweep *cur = NULL;
        rc = store_get_sweep(a->st, sw->name, &cur);
        if (rc == 0)
            rc = sweep_extend(a->st, cur, sw->sp, want - started);
        store_sweep_free(cur);
        if (sq_error_is_transient(rc))
            return rc;
        if (rc) {
            warn(a, sw, "cannot add trials to sweep '%s': %s", sw->name, sq_error_msg());
            break;
        }
    }
    sw->exhausted = true;
    if (sw->running == 0)
        sw->completion_due = true;
    return (int)started;
}

static bool all_exhausted(const agent *a)
{
    for (size_t i = 0; i < a->nsweeps; i++)
        if (a->sweeps[i]->usable && !a->sweeps[i]->exhausted)
            return false;
    return true;
}

static void claim_work(agent *a, double now)
{
    for (size_t i = 0; i < a->nsweeps && !a->stopping; i++)
        if (a->sweeps[i]->completion_due && now >= a->claim_bo.next)
            try_complete(a, a->sweeps[i], now);
    if (a->draining || a->stopping || now < a->claim_bo.next)
        return;
    if (a->cfg->max_trials && a->claimed >= a->cfg->max_trials)
        return;
    if (a->used >= a->slots)
        return;
    bool idle = a->njobs == 0;
    if (all_exhausted(a)) {
        /* Look again at most every IDLE_POLL, but at once when the last
         * trial just ended (an agent told to exit when idle must know). */
        bool stale = a->last_refresh <= a->last_job_end || a->nsweeps == 0;
        if (now - a->last_refresh < IDLE_POLL && !(idle && stale))
            return;
        /* Trials of vanished agents only come back when someone reaps
         * them, and a sweep whose only unfinished trials are those is not
         * listed as runnable: reap first. */
        uint64_t reaped = 0;
        int rc = store_reap(a->st, &reaped);
        if (rc == 0)
            rc = refresh_sweeps(a, now);
        if (rc == 0 && idle && now - a->last_ended_check >= COMPLETION_POLL)
            rc = complete_ended_sweeps(a, now);
        if (rc) {
            if (sq_error_is_transient(rc)) {
                backoff_fail(a, &a->claim_bo, now);
                warn_transient(a, &a->claim_bo, "listing sweeps");
            } else {
                warn(a, NULL, "cannot list sweeps: %s", sq_error_msg());
                a->claim_bo.next = now + IDLE_POLL;
            }
            return;
        }
    }
    size_t before = a->sum.started;
    /* Sweeps whose last claim failed first: its trials may be claimed
     * already, and free slots should go to them. */
    for (size_t k = 0; k < 2 * a->nsweeps && a->used < a->slots; k++) {
        agent_sweep *sw = a->sweeps[k % a->nsweeps];
        if (!sw->usable || sw->exhausted || (k < a->nsweeps) != (sw->claim_request != NULL))
            continue;
        int rc = claim_from(a, sw, now);
        if (sq_error_is_transient(rc)) {
            backoff_fail(a, &a->claim_bo, now);
            warn_transient(a, &a->claim_bo, "claiming trials");
            return;
        }
        backoff_ok(&a->claim_bo);
        if (a->cfg->max_trials && a->claimed >= a->cfg->max_trials)
            break;
    }
    if (idle && a->sum.started == before && all_exhausted(a))
        a->empty_round_at = now;
}

/* run's end: every named sweep is done everywhere (nothing pending or
 * running), or cannot run here. Runs on_complete when nobody did. */
static bool sweeps_done(agent *a, double now)
{
    if (now - a->last_done_check < IDLE_POLL && a->last_done_check > a->empty_round_at)
        return false;
    a->last_done_check = now;
    for (size_t i = 0; i < a->cfg->nsweeps; i++) {
        store_sweep *s = NULL;
        int rc = store_get_sweep(a->st, a->cfg->sweeps[i], &s);
        if (rc == SQ_ENOTFOUND)
            continue;
        if (rc)
            return false; /* transient or not: look again later */
        agent_sweep *sw = sweep_find(a, s->id);
        bool done = s->state == SWEEP_FINISHED || s->state == SWEEP_CANCELLED ||
                    (!s->open_ended && s->counts.pending == 0 && s->counts.running == 0) ||
                    (sw && !sw->usable);
        if (!sw && ended_unclaimed(s)) /* ended before this agent saw it run */
            sw = sweep_add(a, s);
        bool complete = done && sw && sw->usable && sw->sp->on_complete && ended_unclaimed(s) &&
                        !sw->completion_done;
        if (!done && s->state == SWEEP_PAUSED && !a->paused_warned) {
            a->paused_warned = true;
            warn(a, NULL, "sweep '%s' is paused: waiting for 'sweepq resume %s' (or press Ctrl-C)",
                 s->name, s->name);
        }
        store_sweep_free(s);
        if (!done)
            return false;
        if (complete) {
            try_complete(a, sw, now);
            if (a->nhooks)
                return false;
        }
    }
    return true;
}

static bool should_exit(agent *a, double now)
{
    if (a->njobs || a->nhooks)
        return false;
    if (a->stopping || a->draining)
        return true;
    if (a->cfg->max_trials && a->claimed >= a->cfg->max_trials)
        return true;
    bool idle = a->empty_round_at > a->last_job_end && a->empty_round_at > 0;
    if (a->cfg->until_sweeps_end)
        return idle && sweeps_done(a, now);
    return a->cfg->exit_when_idle && idle;
}

static double next_wake(const agent *a, double now)
{
    double next = now + IDLE_POLL;
#define EARLIER(t)                                                                                 \
    do {                                                                                           \
        if ((t) > 0 && (t) < next)                                                                 \
            next = (t);                                                                            \
    } while (0)
    EARLIER(a->next_heartbeat);
    for (size_t i = 0; i < a->njobs; i++) {
        const job *j = a->jobs[i];
        if (j->live) {
            if (!j->meta_written)
                EARLIER(j->started + META_AFTER);
            if (a->ship)
                EARLIER(j->ship_at);
            EARLIER(j->deadline);
            EARLIER(j->term_at);
            EARLIER(j->kill_at);
        } else if (j->exited) {
            EARLIER(j->bo.next > 0 ? j->bo.next : now);
        }
    }
    for (size_t i = 0; i < a->nhooks; i++)
        EARLIER(a->hooks[i].kill_at);
    if (a->used > 0) {
        EARLIER(a->next_tail);
        if (a->cfg->on_event)
            EARLIER(a->next_tick);
    }
    if (a->claim_bo.next > now)
        EARLIER(a->claim_bo.next);
    if (a->ship_q.n)
        EARLIER(a->next_ship_retry);
#undef EARLIER
    return next;
}

/* ---- run ------------------------------------------------------------------------------ */

/* gpus_json: NULL until the GPUs were read (only for sweeps that ask). */
static int agent_register(agent *a, const char *gpus_json)
{
    store_agent_info info = {
        .id = a->id,
        .host = a->host,
        .pid = (int)getpid(),
        .slots = a->slots,
        .gpus_json = gpus_json,
        .version = SQ_VERSION,
    };
    backoff bo = {0, 0, 0};
    for (;;) {
        int rc = store_register_agent(a->st, &info);
        if (!sq_error_is_transient(rc))
            return rc;
        double now = time_mono();
        warn_transient(a, &bo, "registering the agent");
        time_sleep(backoff_fail(a, &bo, now) - now);
        if (sig_int || sig_term || sig_usr1)
            return rc;
    }
}

static void agent_release(agent *a)
{
    for (size_t i = 0; i < a->njobs; i++)
        job_free(a->jobs[i]);
    free(a->jobs);
    for (size_t i = 0; i < a->nhooks; i++)
        free(a->hooks[i].sweep);
    free(a->hooks);
    for (size_t i = 0; i < a->nsweeps; i++)
        sweep_free(a->sweeps[i]);
    free(a->sweeps);
    gpu_alloc_release(&a->gpu_alloc);
    gpu_table_release(&a->gpu_table);
    gpu_probe_free(a->gpu_probe);
    logship_queue_release(&a->ship_q);
    free(a->host);
    free(a->id);
}

int agent_run(store *st, const agent_config *cfg, agent_summary *out)
{
    memset(out, 0, sizeof *out);
    agent a;
    memset(&a, 0, sizeof a);
    a.st = st;
    a.cfg = cfg;
    a.slots = cfg->slots > 0 ? cfg->slots : agent_default_slots();
    a.grace = cfg->grace > 0 ? cfg->grace : DEFAULT_GRACE;
    a.last_refresh = -1e9;
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint64_t)time_now() * 2654435761u ^ (uint64_t)getpid();
    a.rng = rnd | 1;
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    a.id = xasprintf("%s:%d:%08x", host, (int)getpid(), (unsigned)(rnd >> 32));
    a.host = xstrdup(host);
    a.gpu_table = (gpu_table)GPU_TABLE_INIT;
    a.gpu_alloc = (gpu_alloc)GPU_ALLOC_INIT;
    a.ship = logship_wanted(cfg->ship_logs, store_url(st));
    a.ship_period = cfg->ship_period > 0 ? cfg->ship_period : SHIP_PERIOD;

    saved_signals saved;
    int rc = signals_install(&saved);
    if (rc) {
        free(a.id);
        free(a.host);
        return rc;
    }
    rc = agent_register(&a, NULL);
    if (rc)
        goto out;
    if (gpus_none(&a)) /* registered as having no GPUs, without probing */
        gpu_register(&a);

    seen_signals seen = {0, 0, 0, 0};
    for (;;) {
        char drain[64];
        while (read(wake_pipe[0], drain, sizeof drain) > 0) {
        }
        double now = time_mono();
        handle_signals(&a, &seen, now);
        sig_atomic_t chld = sig_chld;
        if (chld != seen.chld) {
            seen.chld = chld;
            check_children(&a, now);
        }
        claim_work(&a, now); /* first: a freed slot gets its next trial at once */
        settle_jobs(&a, now);
        run_timers(&a, now);
        if (should_exit(&a, now))
            break;
        double wake = a.progress ? now : next_wake(&a, now);
        a.progress = false;
        int ms = (int)((wake - time_mono()) * 1000.0 + 0.999);
        if (ms < 0)
            ms = 0;
        struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
        poll(&pfd, 1, ms);
    }
    if (a.ship_q.n && logship_queue_retry(&a.ship_q, st, on_ship_warning, &a) > 0)
        warn(&a, NULL, "the logs of %zu trials are not stored: the store is unavailable",
             a.ship_q.n);
    for (int i = 0; i < 3; i++) {
        int drc = store_deregister_agent(st, a.id);
        if (!sq_error_is_transient(drc))
            break;
        time_sleep(0.1);
    }
    if (seen.usr1) { /* preempted: a Slurm job puts itself back (requeue.h) */
        char *msg = NULL;
        int qrc = requeue_slurm_job(&msg);
        if (qrc)
            warn(&a, NULL, "%s", qrc > 0 ? msg : sq_error_msg());
        free(msg);
    }
out:
    signals_restore(&saved);
    *out = a.sum;
    agent_release(&a);
    return rc;
}
