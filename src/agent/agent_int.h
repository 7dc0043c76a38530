/*
 * agent_int.h - what the files of the agent share, and no one else: the
 * agent's state (agent, agent_sweep, job, hook), its tunables, and the
 * functions one file of the loop calls in another. agent.h is the public
 * interface; nothing outside src/agent/ includes this header.
 *
 * The files, one seam each (agent.c's opening comment shows the loop that
 * calls them):
 *   agent.c     the loop (agent_run), its timers and exit test, backoff,
 *               events and warnings
 *   supervise.c signals (handlers, drain, stop, escalation) and the reaping
 *               of children and hooks
 *   sweeps.c    the cache of sweeps this agent claims from
 *   claim.c     claiming what fits the free CPU slots and GPUs
 *   trial.c     preparing, starting and watching a trial (its log, metrics
 *               file and log tail shipping)
 *   lease.c     heartbeats: renewing the leases, lost leases, cancellations
 *   outcome.c   deciding how an attempt ended and recording it
 *   complete.c  a sweep's completion and its on_complete hook
 *
 * All of it runs on the agent's one thread; nothing here is thread-safe.
 */
#ifndef SQ_AGENT_INT_H
#define SQ_AGENT_INT_H

#include "agent/agent.h"
#include "agent/gpu.h"
#include "agent/gpu_alloc.h"
#include "agent/logship.h"
#include "agent/metrics.h"
#include "agent/propose.h"
#include "agent/tail.h"
#include "search/search.h"
#include "spec/spec.h"
#include "util/strbuf.h"

#include <signal.h>
#include <sys/types.h>

#define DEFAULT_GRACE 10.0
#define HEARTBEAT_MAX 1.0    /* renew at least this often: cancel seen within 1 s */
#define HEARTBEAT_IDLE 10.0  /* the agent's liveness while nothing runs */
#define IDLE_POLL 1.0        /* look for new work this often when idle */
#define COMPLETION_POLL 10.0 /* look for ended sweeps nobody completed this often */
#define TAIL_PERIOD 1.0      /* read logs and metrics files this often */
#define TAIL_PERIOD_SHOWN 0.1
#define TAIL_TICK_BYTES ((size_t)1 << 20)
/* At a trial's end, output left unread past this is skipped but for its
 * last TAIL_END_KEEP bytes (where the final metrics are): settling an
 * attempt never parses more than a few ticks' worth while other trials
 * wait for their heartbeat. */
#define TAIL_END_MAX ((off_t)4 << 20)
#define TAIL_END_KEEP ((off_t)1 << 20)
#define TICK_PERIOD 0.25
#define BACKOFF_BASE 0.05
#define BACKOFF_CAP 5.0
/* A trial this machine could not prepare (its files cannot be written):
 * claims wait HOST_BACKOFF_BASE doubling to HOST_BACKOFF_CAP, and after
 * HOST_FAILS_MAX such trials in a row the agent stops claiming and exits
 * (EXIT_HOST): a broken machine must not churn through a shared sweep. */
#define HOST_BACKOFF_BASE 0.5
#define HOST_BACKOFF_CAP 30.0
#define HOST_FAILS_MAX 5
#define WANDB_CONFIG_FILE "wandb-sweep-config.yaml" /* in the trial directory */
#define META_AFTER 1.0 /* seconds: params.json and command.txt for trials past it */
#define ERROR_LINE_MAX 200
#define GPU_REREAD 1.0   /* seconds: read the GPUs at most this often */
#define SHIP_PERIOD 10.0 /* seconds: a running trial's log tail to the store */
/* The part of lease_ttl after the send of a claim or renewal for which the
 * agent trusts its lease (lease.c): the rest absorbs the kill's delivery
 * and clock rates. */
#define LEASE_SAFE 0.9

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
    STOP_EARLY, /* the early_terminate rule: final, so above a preemption */
    STOP_CANCEL,
    STOP_EXPIRED, /* its lease passed by the agent's clock (lease.c): killed,
                     recorded preempted, fenced; nothing else is written */
    STOP_LOST,    /* strongest: nothing may be written */
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
    stop_rule rule;       /* its early_terminate rule, when has_rule */
    bool has_rule;
    /* The request id of the last claim from it when that failed with a
     * transient error (it may have been committed, its answer lost): the
     * next claim sends it again and gets those trials back. NULL: none. */
    char *claim_request;
    /* bayes: a proposal whose store_add_claim failed with a transient error
     * (it may have been stored, its answer lost): sent again, same key,
     * before a new one is made. Empty (no key): none. */
    proposal proposal;
} agent_sweep;

/* A band of the early_terminate rule a trial reached, not yet judged. */
typedef struct band_check {
    uint64_t step;
    double value; /* the value the rule compares: at the band, or the best so far */
} band_check;

#define BAND_CHECKS_MAX 16 /* more between two ticks: the oldest are dropped */

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
    metrics *m;
    double lease_until; /* mono: the lease is known good until then (lease.c) */
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
    /* early termination: the watched metric (the spec's) as it comes */
    bool watched_any;      /* a value of it was seen */
    uint64_t watched_step; /* the step of the last one */
    double best;           /* the best value so far (NAN: none yet) */
    bool out_of_order;     /* a step at or below the last one: warn once */
    bool out_of_order_told;
    band_check checks[BAND_CHECKS_MAX];
    size_t nchecks;
    uint64_t stopped_step; /* STOP_EARLY: the band it was stopped at */
    double stopped_value;
} job;

/* A running on_complete: it holds its sweep's completion lease (store.h),
 * renewed every ttl/4 like a trial's; its end is recorded by complete.c. */
typedef struct hook {
    pid_t pid; /* -1 once reaped */
    char *sweep;
    int64_t sweep_id;
    double ttl;      /* the sweep's lease_ttl */
    double renew_at; /* when the lease is renewed next */
    double kill_at;
    bool lost;    /* the lease was lost: killed, nothing is recorded */
    bool stopped; /* killed because the agent stops: left to its lease */
    bool ended;   /* reaped; `result` waits to be recorded (bo) */
    completion_update result;
    backoff bo;
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
    double claim_sent;    /* mono time the last claim was sent (lease.c) */
    uint64_t claim_seq;   /* claims sent: numbers their request ids */
    uint64_t propose_seq; /* bayes proposals made: numbers their keys */
    bool draining, stopping;
    bool progress;      /* something changed this turn: turn again at once */
    bool paused_warned; /* run was told that it waits for a paused sweep */
    double last_refresh, last_job_end, empty_round_at, last_done_check, last_ended_check;
    double next_heartbeat, next_tail, next_tick;
    backoff claim_bo, hb_bo;
    backoff host_bo; /* trials this machine could not prepare, in a row */
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
    /* A SQLite store's file (agent.c, store_file_check): NULL for others. */
    char *db_path;
    dev_t db_dev;
    ino_t db_ino;
    double next_db_check;
    bool store_gone; /* the file was deleted or replaced: stopping */
} agent;

typedef struct seen_signals {
    sig_atomic_t intr, term, usr1, chld;
} seen_signals;

/* The handlers agent_run replaced, put back when it returns. */
#define AGENT_NSIGNALS 6
typedef struct saved_signals {
    struct sigaction old[AGENT_NSIGNALS];
} saved_signals;

/* ---- agent.c: backoff, events, warnings, registration ---------------------- */

/* Records a failure of the operation b schedules: doubles its delay (from
 * BACKOFF_BASE to BACKOFF_CAP) with jitter; returns b->next, the mono time
 * before which it waits. */
double agent_backoff_fail(agent *a, backoff *b, double now);
/* Records a success: the next failure starts from BACKOFF_BASE again. */
void agent_backoff_ok(backoff *b);
/* agent_backoff_fail from base doubling to cap. */
double agent_backoff_fail_from(agent *a, backoff *b, double now, double base, double cap);
/* A trial of sw could not be prepared because this machine cannot write
 * the project's files (why: the reason): says so, delays the next claim
 * (a->host_bo) and, after HOST_FAILS_MAX in a row, drains the agent with
 * a->sum.host_failed set. */
void agent_host_failed(agent *a, const agent_sweep *sw, const char *why, double now);
/* A trial started: the streak of host failures ends. */
void agent_host_ok(agent *a);
/* Calls the configured on_event, if any (sw and j may be NULL). */
void agent_emit(agent *a, agent_event_type type, const agent_sweep *sw, const job *j,
                const char *text);
/* AGENT_EV_WARNING with a formatted text. */
void agent_warn(agent *a, const agent_sweep *sw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Warns about a transient store error once per streak of failures. */
void agent_warn_transient(agent *a, const backoff *b, const char *what);
/* store_register_agent, retried on transient errors until a stop signal;
 * gpus_json: NULL until the GPUs were read. 0 or the store's error. */
int agent_register(agent *a, const char *gpus_json);
/* logship's warning callback (ud: the agent). */
void agent_on_ship_warning(const char *msg, void *ud);

/* ---- supervise.c: signals and children --------------------------------------- */

/* Installs the handlers of SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD
 * (SIGPIPE ignored) and creates the wake-up pipe; *saved gets the old ones.
 * 0 or SQ_EIO. */
int agent_signals_install(saved_signals *saved);
/* Puts back what agent_signals_install replaced and closes the pipe. */
void agent_signals_restore(const saved_signals *saved);
/* The read end of the wake-up pipe (non-blocking): readable after a signal. */
int agent_wake_fd(void);
/* Writes a byte to the wake-up pipe; async-signal-safe. */
void agent_wake(void);
/* The signals a child must set back to their defaults (spawn_opts.reset). */
const sigset_t *agent_changed_signals(void);
/* True once a stop signal (SIGINT, SIGTERM, SIGHUP, SIGUSR1) came. */
bool agent_stop_signalled(void);
/* True when SIGCHLD came since seen->chld (which it updates). */
bool agent_sigchld_new(seen_signals *seen);
/* Acts on the signals that came since *seen: drain or stop (agent.h). */
void agent_handle_signals(agent *a, seen_signals *seen, double now);
/* Asks every trial to stop as preempted (sig: SIGTERM or SIGUSR1) and
 * every hook to end; SIGKILL after the grace. */
void agent_stop_all(agent *a, int sig, double now);
/* Asks a running trial to stop for why, unless it stops for a stronger
 * reason already; escalates to SIGKILL after the grace. */
void job_stop(agent *a, job *j, stop_reason why, int sig, double now);
/* Reaps the children and hooks that ended, freeing their slots. */
void agent_check_children(agent *a, double now);

/* ---- sweeps.c: the sweeps this agent claims from ------------------------------- */

/* Adds sweep s to the cache and returns it (owned by a); a sweep that cannot
 * run here is cached unusable, with one warning. */
agent_sweep *agent_sweep_add(agent *a, const store_sweep *s);
/* The cached sweep with this id, or NULL. */
agent_sweep *agent_sweep_find(agent *a, int64_t id);
void agent_sweep_free(agent_sweep *sw);
/* Lists the runnable sweeps again (see sweeps.c). 0 or the store's error. */
int agent_refresh_sweeps(agent *a, double now);

/* ---- claim.c: claiming --------------------------------------------------------------- */

/* Step 3 of the loop: completions that are due, then claims for the free
 * slots (unless draining, stopping or backing off). */
void agent_claim_work(agent *a, double now);
/* True when --gpus none: the agent has no GPUs and never probes. */
bool agent_gpus_none(const agent *a);
/* Registers the agent again with its GPU table, for `sweepq status`. */
void agent_gpu_register(agent *a);

/* ---- trial.c: starting and watching a trial -------------------------------------- */

/* Starts the attempt c of sw as a new job in a->jobs; one that cannot start
 * is recorded failed at once. */
void job_start(agent *a, agent_sweep *sw, const store_claimed *c);
void job_free(job *j);
/* Removes j from a->jobs and frees it (drops its GPUs, ships its log). */
void jobs_remove(agent *a, job *j);
/* Drops j's GPU reservation, if any. */
void job_gpu_drop(agent *a, job *j);
/* params.json and command.txt, once. 0 or SQ_EIO. */
int job_write_meta(job *j);
/* Reads what the trial wrote since the last time (at_end: all of it). */
void job_collect(agent *a, job *j, bool at_end);
/* Appends the collected metric rows, fenced. 0, SQ_ELEASE_LOST (rows
 * dropped) or a transient error (rows kept). */
int job_flush_rows(agent *a, job *j);
/* Ships a running trial's grown log tail (logship.h). */
void job_ship(agent *a, job *j, double now);
/* Ships an ended attempt's log tail once; queued when the store is away. */
void job_ship_final(agent *a, job *j);
/* Reads logs and metrics files of the running trials; appends rows; judges
 * the bands of the early_terminate rule they reached (SIGTERM, the grace,
 * SIGKILL and the outcome stopped for those the rule stops). */
void agent_tail_tick(agent *a, double now);

/* ---- lease.c: heartbeats ----------------------------------------------------------- */

/* Renews the leases of all running trials in one store_heartbeat; acts on
 * lost leases and cancellations; schedules the next one. */
void agent_heartbeat(agent *a, double now);
/* When a lease claimed or renewed by a request sent at `sent` (mono) stops
 * being trusted here. */
double agent_lease_until(const agent_sweep *sw, double sent);
/* Marks STOP_EXPIRED (and kills) every live job whose lease_until passed. */
void agent_lease_check(agent *a, double now);
/* The watchdog (lease.c): install sets up SIGALRM and its timer (0 or
 * SQ_EIO), restore undoes it; set adds or moves the deadline of the process
 * group pgid, clear removes it (call it before the child is reaped). */
int agent_lease_watch_install(void);
void agent_lease_watch_restore(void);
void agent_lease_watch_set(pid_t pgid, double until);
void agent_lease_watch_clear(pid_t pgid);

/* ---- outcome.c: how an attempt ended ------------------------------------------------ */

/* Settles the jobs whose child was reaped: output read, outcome recorded. */
void agent_settle_jobs(agent *a, double now);
/* Writes j's rows and outcome; removes j, or keeps it for a retry on a
 * transient error (j->bo). */
void job_record(agent *a, job *j, double now);

/* ---- complete.c: completions ---------------------------------------------------------- */

/* Claims the completion of sw and runs its on_complete when this agent won. */
void agent_try_complete(agent *a, agent_sweep *sw, double now);
/* Finds this agent's sweeps that ended unseen and completes them. */
int agent_complete_ended_sweeps(agent *a, double now);
/* run's end: every named sweep is done everywhere, or cannot run here. */
bool agent_sweeps_done(agent *a, double now);
/* A hook was reaped with status st: its end is recorded (or retried). */
void agent_hook_ended(agent *a, hook *h, int exit_code, int term_signal, double now);
/* Renews the hooks' leases and records the ends not yet recorded; removes
 * the hooks that are done with. */
void agent_hooks_tick(agent *a, double now);

#endif
