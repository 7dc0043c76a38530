/*
 * store.h - the one interface to where sweeps, trials, attempts, metrics and
 * agents live. Backends: sqlite (now), postgresql and an http client
 * (later). Callers never see SQL or transport.
 *
 * TRIAL STATE MACHINE
 *
 *             claim (lease, attempt+1)
 *   pending ───────────────────────────▶ running ──exit 0──▶ succeeded
 *      ▲  ▲                                │ │ │
 *      │  └──── preempted (signal) ────────┘ │ └─exit≠0 / timeout─▶ failed*
 *      │                                     │
 *      └──── lease expired (reaper) ─────────┘      * back to pending while
 *                                                     failures < max_attempts
 *   pending|running ──cancel──▶ cancelled
 *   running ──early_terminate rule (a band reached, below the threshold)──▶ stopped
 *
 *   transition                          performed by
 *   pending   -> running                store_claim
 *   running   -> running (renew)        store_heartbeat
 *   running   -> succeeded              store_finish(OUTCOME_SUCCEEDED)
 *   running   -> failed | pending       store_finish(OUTCOME_FAILED/TIMED_OUT)
 *   running   -> pending                store_finish(OUTCOME_PREEMPTED)
 *   running   -> stopped                store_finish(OUTCOME_STOPPED)
 *   running   -> pending | failed       store_reap (lease expired = a crash)
 *   pending|running -> cancelled        store_cancel
 *   failed|cancelled -> pending         store_retry
 *   pending   -> succeeded              store_import_result
 *   (none)    -> running                store_add_claim (a bayes proposal)
 *
 * INVARIANTS
 *   1. A trial's `attempt` is the fencing token. Each claim increments it.
 *      Every write about a running trial names (trial_id, attempt); when it
 *      is not the trial's current running attempt the write changes nothing
 *      and returns SQ_ELEASE_LOST.
 *   2. `failures` counts attempts that used up a try: failure, timeout, and
 *      lease expiry (a crash). Preemption and cancel do not. A trial whose
 *      failures reach max_attempts is failed for good.
 *   3. A succeeded trial never changes again (short of `retry` of failed
 *      or cancelled trials, which never touches succeeded ones): each trial
 *      succeeds at most once.
 *   4. Creating a sweep with the same name and spec changes nothing but
 *      its tags; an edited spec adds its new trial keys; a different
 *      command or settings are refused. Tags only grow: creating an existing
 *      sweep adds the definition's new tags after the stored ones.
 *   5. A sweep's completion (its on_complete) is a lease like a trial's: at
 *      most one caller holds it at a time, and it is recorded done only by
 *      its holder (store_complete_update SUCCEEDED), or given up after the
 *      sweep's max_attempts failures. A holder that dies loses it when the
 *      lease expires, and another caller wins it again.
 *   6. Lease times are judged by the store's clock (the local clock for
 *      sqlite, the database's for postgresql, the server's for http).
 *   7. stopped (early-terminated by the sweep's early_terminate rule) is
 *      final like succeeded: no try is used, `retry` never touches it, and
 *      it counts as done for a sweep's completion. The trial keeps the step
 *      it was stopped at (stopped_step) and the metrics it reached.
 *   8. An open-ended sweep with total > 0 never holds more than total
 *      trials, however many callers add them at once (store_add_claim), and
 *      is finished once it holds total trials and all are final.
 *
 * Every function returns 0 or a negative SQ_E* code with sq_error_msg() set.
 * SQ_EBUSY and SQ_EIO are transient: the caller may retry the same call.
 * Out-parameters are owned by the caller and freed with the matching _free.
 */
#ifndef SQ_STORE_H
#define SQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;

typedef enum {
    TRIAL_PENDING = 0,
    TRIAL_RUNNING,
    TRIAL_SUCCEEDED,
    TRIAL_FAILED,
    TRIAL_CANCELLED,
    TRIAL_STOPPED, /* early-terminated: final, never retried */
} trial_state;

typedef enum {
    SWEEP_ACTIVE = 0,
    SWEEP_PAUSED,
    SWEEP_CANCELLED,
    SWEEP_FINISHED, /* every trial final (derived; stored for cheap listing) */
} sweep_state;

typedef enum {
    OUTCOME_NONE = 0, /* attempt still running */
    OUTCOME_SUCCEEDED,
    OUTCOME_FAILED, /* non-zero exit or killed by a signal */
    OUTCOME_TIMED_OUT,
    OUTCOME_PREEMPTED, /* agent stopped it (signal); no try used */
    OUTCOME_LOST,      /* lease expired: the agent vanished */
    OUTCOME_CANCELLED,
    OUTCOME_STOPPED, /* the early_terminate rule stopped it; no try used */
} attempt_outcome;

const char *trial_state_name(trial_state s); /* "pending", ... */
int trial_state_parse(const char *name, trial_state *out);
const char *sweep_state_name(sweep_state s);
const char *attempt_outcome_name(attempt_outcome o);

/* ---- opening ---------------------------------------------------------- */

/*
 * Opens the store named by url: "sqlite:PATH", or a plain PATH (no scheme).
 * The directory of PATH must exist (SQ_EIO otherwise: the workspace makes it).
 * Creates the database and its schema when missing, migrates an older one.
 * SQ_EINVAL for an unknown scheme, SQ_EIO when it cannot be opened.
 */
int store_open(store **out, const char *url);
void store_close(store *st); /* NULL is a no-op */
/* The URL it was opened with; borrowed. */
const char *store_url(const store *st);
/* The store's clock (seconds since the epoch). */
double store_now(store *st);
/*
 * True for a store this process reads and writes itself (a SQLite file): a
 * call's answer cannot be lost on the way back, so a caller need not pay
 * for idempotent requests (store_claim_request) there.
 */
bool store_is_embedded(const store *st);
/* The same for a store URL, before opening it: "sqlite:PATH" or a plain path. */
bool store_url_is_embedded(const char *url);
/* Whether url carries a password ("scheme://user:password@host..."): such a
 * URL is kept out of argv and trials' environments. */
bool store_url_has_password(const char *url);
/* The file an embedded store's URL names ("sqlite:PATH", "sqlite://PATH" or
 * PATH: PATH), newly allocated; NULL for other stores and ":memory:". The
 * agent watches it to notice a store deleted or replaced under it. */
char *store_url_file(const char *url);

/*
 * A project's write token (.sweepq/server.token) is sent only to the
 * servers it belongs to: those listed in .sweepq/server.url, one origin
 * ("http://127.0.0.1:8600") a line, which `sweepq serve` appends when it
 * starts with the project's token. An http(s) store whose origin is not
 * listed gets the token only from $SWEEPQ_TOKEN or --token-file
 * ($SWEEPQ_TOKEN_FILE), so a URL pointed elsewhere (a typo, a proxy, a
 * listener of another user on another port) never receives it.
 *
 * store_http_record_server adds url's origin to DIR/server.url (dir is the
 * project's .sweepq/; the file is made with mode 0600); a wildcard host
 * (0.0.0.0, [::]) is recorded as 127.0.0.1, [::1] and localhost. 0 or
 * SQ_EIO / SQ_EINVAL (not an http(s) URL).
 */
int store_http_record_server(const char *dir, const char *url);

/* ---- sweeps ------------------------------------------------------------ */

typedef struct store_trial_def {
    uint64_t number;         /* 1-based, stable */
    const char *key;         /* spec_params_key */
    const char *params_json; /* compact JSON object, keys in the spec's order */
} store_trial_def;

typedef struct store_sweep_def {
    const char *name;
    const char *spec_json;    /* canonical JSON of the spec: identity and conflicts */
    const char *spec_yaml;    /* the file's text, kept as the frozen copy */
    const char *command_json; /* the command template; a change is a conflict */
    const char **tags;
    size_t ntags;
    const char *metric_name; /* NULL if none */
    bool maximize;
    int max_attempts;
    double lease_ttl;    /* seconds */
    double timeout;      /* seconds, 0 = none */
    int cpus, gpus;      /* per trial */
    uint64_t gpu_memory; /* bytes per trial, 0 = none */
    bool open_ended;     /* agents add trials: random without run_cap, bayes */
    uint64_t total;      /* expected trial count; for an open-ended sweep the most
                            trials it may hold (bayes run_cap), 0: no bound */
    const store_trial_def *trials;
    size_t ntrials;
} store_sweep_def;

typedef struct store_counts {
    uint64_t pending, running, succeeded, failed, cancelled, stopped;
} store_counts;

typedef struct store_sweep {
    int64_t id;
    char *name;
    sweep_state state;
    char *spec_json, *spec_yaml, *command_json;
    char **tags;
    size_t ntags;
    char *metric_name;
    bool maximize;
    int max_attempts;
    double lease_ttl, timeout;
    int cpus, gpus;
    uint64_t gpu_memory;
    bool open_ended;
    uint64_t total;
    uint64_t next_number;                       /* one past the highest trial number stored */
    double created_at, updated_at, finished_at; /* 0 = not yet */
    store_counts counts;
    bool completion_claimed;
} store_sweep;

void store_sweep_free(store_sweep *s);
void store_sweeps_free(store_sweep *s, size_t n); /* an array of n */

/*
 * Creates the sweep, or finds the one with the same name. *out_id gets its
 * id; *out_added (may be NULL) the number of trials newly added. On an
 * existing sweep, def's tags not stored yet are added after the stored ones
 * (in def's order); none is removed.
 * SQ_ECONFLICT when a sweep of that name exists with another command_json
 * or other settings (message says what differs and how to proceed).
 */
int store_create_sweep(store *st, const store_sweep_def *def, int64_t *out_id, uint64_t *out_added);

/* Adds trials to an open-ended sweep; numbers already present are skipped. */
int store_add_trials(store *st, int64_t sweep_id, const store_trial_def *trials, size_t n,
                     uint64_t *out_added);

/* SQ_ENOTFOUND when there is no such sweep. */
int store_get_sweep(store *st, const char *name, store_sweep **out);

typedef struct store_sweep_filter {
    const char **names; /* NULL/0: all */
    size_t nnames;
    const char *tag;    /* NULL: any */
    double since;       /* created or updated at or after; 0: any */
    bool runnable_only; /* active, with pending trials (or open-ended) */
} store_sweep_filter;

int store_list_sweeps(store *st, const store_sweep_filter *f, store_sweep **out, size_t *n);

int store_set_sweep_state(store *st, const char *name, sweep_state state); /* pause/resume */

/* Cancels pending and running trials of the sweep; running ones are seen as
 * cancelled by their agent's next heartbeat. *out_n: trials cancelled. */
int store_cancel(store *st, const char *name, uint64_t *out_n);

/* Back to pending, failures reset: failed trials (failed=true) and/or
 * cancelled ones (both false: both); reopens a finished or cancelled sweep
 * when any trial went back (a paused one stays paused). */
int store_retry(store *st, const char *name, bool failed, bool cancelled, uint64_t *out_n);

/* Deletes sweeps that finished or were cancelled before `before`. */
int store_gc(store *st, double before, char ***out_names, size_t *out_n);

/*
 * Claims the lease of a finished sweep's completion for `by` (the agent's
 * id, its fencing token): *won is true when every trial is final, the sweep
 * is finished or cancelled, its completion is not done, no live lease holds
 * it (another holder's lease expired by the store's clock) and its retry
 * time has come. The lease lasts the sweep's lease_ttl. A completion done or
 * given up shows as completion_claimed in store_sweep.
 */
int store_claim_completion(store *st, int64_t sweep_id, const char *by, bool *won);

typedef enum {
    COMPLETION_RENEW,     /* the lease runs lease_ttl from now again */
    COMPLETION_SUCCEEDED, /* on_complete exited 0 (or there is none): done */
    COMPLETION_FAILED,    /* it failed: the lease is dropped; it can be won
                           * again after COMPLETION_BACKOFF seconds (or the
                           * sweep's lease_ttl when shorter), doubled per
                           * failure, at most COMPLETION_BACKOFF_MAX; it is
                           * given up (done) after max_attempts failures */
} completion_update;

#define COMPLETION_BACKOFF 10
#define COMPLETION_BACKOFF_MAX 600

/* What the holder `by` of a completion's lease reports (see above). 0, or
 * SQ_ELEASE_LOST when `by` does not hold it (its lease expired and another
 * caller won it, or it is done): stop the hook, record nothing. */
int store_complete_update(store *st, int64_t sweep_id, const char *by, completion_update what);

/* ---- trials ------------------------------------------------------------ */

typedef struct store_trial {
    int64_t id;
    int64_t sweep_id;
    char *sweep_name;
    uint64_t number;
    char *key;
    char *params_json;
    trial_state state;
    int attempt; /* current/last attempt number (fencing token) */
    int failures;
    char *agent_id; /* running: who holds it */
    double lease_expires;
    double created_at, started_at, finished_at;
    int exit_code;   /* -1 if none */
    int term_signal; /* 0 if none */
    attempt_outcome last_outcome;
    char *error;        /* "CUDA out of memory", "timed out after 30s", ... */
    char *metrics_json; /* final metrics {"loss": 0.2}; "{}" if none */
    bool cancel_requested;
    uint64_t stopped_step; /* stopped: the step of the metric it was stopped at; else 0 */
} store_trial;

void store_trial_free(store_trial *t);
void store_trials_free(store_trial *t, size_t n);

typedef struct store_trial_query {
    const char *sweep;       /* name, required */
    int state;               /* -1: any; else a trial_state */
    const char *sort_metric; /* NULL: by number */
    bool descending;
    size_t limit; /* 0: all */
} store_trial_query;

int store_list_trials(store *st, const store_trial_query *q, store_trial **out, size_t *n);
int store_get_trial(store *st, const char *sweep, uint64_t number, store_trial **out);

typedef struct store_attempt {
    int attempt;
    char *agent_id;
    double started_at, finished_at;
    attempt_outcome outcome;
    int exit_code, term_signal;
    char *error;
} store_attempt;

void store_attempts_free(store_attempt *a, size_t n);
int store_list_attempts(store *st, int64_t trial_id, store_attempt **out, size_t *n);

/* ---- agents: claim, heartbeat, finish ---------------------------------- */

typedef struct store_agent_info {
    const char *id; /* unique: host:pid:random */
    const char *host;
    int pid;
    int slots;             /* CPU slots */
    const char *gpus_json; /* the GPUs it has, or NULL */
    const char *version;
} store_agent_info;

int store_register_agent(store *st, const store_agent_info *a);
int store_deregister_agent(store *st, const char *agent_id);

typedef struct store_agent {
    char *id, *host, *gpus_json, *version;
    int pid, slots, running;
    double started_at, last_seen;
    bool alive; /* last_seen within 2x the largest lease TTL (>= 120 s) */
} store_agent;
void store_agents_free(store_agent *a, size_t n);
int store_list_agents(store *st, store_agent **out, size_t *n);

/* One claimed trial. (The typedef is not store_claim: that name is the
 * function below, and C gives typedefs and functions one namespace;
 * `struct store_claim` names it too.) */
typedef struct store_claim {
    int64_t trial_id;
    int64_t sweep_id;
    uint64_t number;
    int attempt;  /* the fencing token to quote in every write */
    int failures; /* earlier failed tries */
    bool resume;  /* an earlier attempt ran */
    char *params_json;
    char *key;
    double lease_expires;
} store_claimed;

void store_claims_free(store_claimed *c, size_t n);

/*
 * Claims up to max pending trials of one active sweep for agent_id, lowest
 * numbers first: each becomes running with attempt+1 and a lease of the
 * sweep's lease_ttl. Reaps expired leases first. *n may be 0 (nothing to
 * claim). SQ_ENOTFOUND if the sweep is gone.
 */
int store_claim(store *st, const char *agent_id, int64_t sweep_id, size_t max, store_claimed **out,
                size_t *n);

/* The longest request id store_claim_request takes, in bytes. */
#define STORE_REQUEST_ID_MAX 200

/*
 * store_claim made idempotent by a client-chosen request_id (NULL: exactly
 * store_claim), so that a claim whose answer was lost (SQ_EIO after the
 * store committed it) can be sent again without orphaning what it claimed:
 * a claim repeated with the same (agent_id, request_id) returns the trials
 * the first one claimed that are still running under that agent and
 * attempt, and claims nothing new. The store remembers an agent's latest
 * request id for each sweep (until the agent deregisters or the sweep is
 * deleted), so an agent uses a new id for each claim, and the same one
 * again only to retry a claim that failed with SQ_EIO or SQ_EBUSY.
 * SQ_EINVAL for an empty request_id or one longer than STORE_REQUEST_ID_MAX.
 */
int store_claim_request(store *st, const char *agent_id, const char *request_id, int64_t sweep_id,
                        size_t max, store_claimed **out, size_t *n);

/*
 * The claim of a bayes proposal: inserts trial def into the open-ended sweep
 * sweep_id already claimed by agent_id (running, attempt 1, a lease of the
 * sweep's lease_ttl), in one step that never lets the sweep hold more than
 * its total trials (run_cap; 0: no bound). The step is short and waits on
 * no caller's model computation: callers propose first, then call this.
 *
 * def->number is the number its proposer expected (one past the highest it
 * saw); when another proposal took it meanwhile the trial gets the next free
 * number (one past the highest stored), and *out says which: two proposals
 * at once both get a trial. def->key must be unique to the proposal.
 *
 * *n is 1 with the claim in *out, or 0 when nothing was added: the sweep is
 * not active (paused, cancelled, finished) or holds total trials already.
 * A def whose key the sweep already holds is this call repeated after its
 * answer was lost: when that trial is running under agent_id at attempt 1,
 * its claim comes back again and nothing is added; otherwise SQ_ECONFLICT.
 * SQ_ENOTFOUND when there is no such sweep; SQ_EINVAL when it is not
 * open-ended (its trials were all made when it was created).
 */
int store_add_claim(store *st, const char *agent_id, int64_t sweep_id, const store_trial_def *def,
                    store_claimed **out, size_t *n);

typedef struct store_lease {
    int64_t trial_id;
    int attempt;
    /* out: what the agent must do */
    bool lost;   /* no longer this attempt: kill the child, write nothing */
    bool cancel; /* cancelled by the user: kill the child */
} store_lease;

/*
 * One batched write: renews the leases the agent still holds and records
 * its liveness. Sets lost/cancel on each lease.
 */
int store_heartbeat(store *st, const char *agent_id, store_lease *leases, size_t n);

typedef struct store_result {
    attempt_outcome outcome;
    int exit_code; /* -1 if killed by a signal */
    int term_signal;
    const char *error;        /* one line, or NULL */
    const char *metrics_json; /* final metrics object, or NULL */
    uint64_t stopped_step;    /* OUTCOME_STOPPED: the band's step; else ignored */
} store_result;

/*
 * Records the end of an attempt, fenced by (trial_id, attempt). Transitions
 * per the state machine. SQ_ELEASE_LOST when the attempt is not current.
 */
int store_finish(store *st, int64_t trial_id, int attempt, const store_result *r);

/* Appends metric rows (a JSON array of objects, each with an optional
 * "step"), fenced like store_finish. */
int store_append_metrics(store *st, int64_t trial_id, int attempt, const char *rows_json);

/* The time series of one trial as a JSON array of {"attempt","step","time",
 * "name","value"}; caller frees. */
int store_get_metrics(store *st, int64_t trial_id, char **out_json);

/*
 * The values of metric `name` at `step` in the sweep's trials: one per
 * trial whose current attempt recorded that metric at that step (its last
 * row there), whatever the trial's state now, so finished and stopped
 * trials count too (as W&B's hyperband counts them); completed_only: only
 * succeeded trials (the median stopping rule). Rows without a number
 * (not-a-number) are left out. *out (caller frees; NULL when *n is 0) in
 * no particular order. SQ_ENOTFOUND if the sweep is gone.
 */
int store_band_values(store *st, int64_t sweep_id, const char *name, uint64_t step,
                      bool completed_only, double **out, size_t *n);

/* Expires leases whose time has passed (store clock); *out_n reaped. */
int store_reap(store *st, uint64_t *out_n);

/* Marks a pending trial succeeded with metrics, not run (import). */
int store_import_result(store *st, int64_t trial_id, const char *metrics_json);

/* ---- log tails ---------------------------------------------------------- */

/* The most bytes of one attempt's log a store keeps: the last ones. */
#define STORE_LOG_MAX (256 * 1024)
/* Stores (replaces) the tail of attempt `attempt` of trial_id's log; text
 * longer than STORE_LOG_MAX keeps its last STORE_LOG_MAX bytes. Not fenced:
 * a lost attempt's log is still worth reading. SQ_ENOTFOUND: no such trial. */
int store_put_log(store *st, int64_t trial_id, int attempt, const char *text, size_t len);
/* attempt 0: the latest stored. *out (NUL-terminated, caller frees) and *len;
 * SQ_ENOTFOUND when none is stored. */
int store_get_log(store *st, int64_t trial_id, int attempt, char **out, size_t *len);

#endif
