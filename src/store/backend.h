/*
 * backend.h - what a store backend implements (private to src/store/).
 *
 * A backend is one constant table of function pointers, as libgit2's
 * refdb_backend: store.c picks the table by the URL's scheme, checks the
 * arguments every backend would otherwise check again, clears the
 * out-parameters, and calls the slot. A backend therefore sees only valid
 * arguments, out-parameters already set to NULL/0, and writes them only on
 * success.
 *
 * Each backend allocates its own handle with `struct store` as its first
 * member, so `store *` converts to the backend's type and back.
 *
 * Versioning: `version` is STORE_BACKEND_VERSION at the time the table was
 * written. Slots are only ever appended; store_open refuses a table with
 * another version, so a backend built against an older layout cannot be
 * called through slots it does not have.
 */
#ifndef SQ_STORE_BACKEND_H
#define SQ_STORE_BACKEND_H

#include "store/store.h"

#define STORE_BACKEND_VERSION 6

struct store {
    const struct store_backend *backend;
    char *url; /* as given to store_open; freed by store_close */
};

typedef struct store_backend {
    int version;        /* STORE_BACKEND_VERSION */
    const char *scheme; /* "sqlite": URLs "sqlite:..." select this table */

    /* location: the URL with "scheme:" removed. Allocates the handle and
     * sets its base.backend; store.c sets base.url afterwards. */
    int (*open)(store **out, const char *url, const char *location);
    /* Frees the handle and everything it holds except base.url. */
    void (*close)(store *st);
    /* The store's clock: seconds since the epoch. */
    double (*now)(store *st);

    /* sweeps: the semantics of the store.h function of the same name */
    int (*create_sweep)(store *st, const store_sweep_def *def, int64_t *out_id,
                        uint64_t *out_added);
    int (*add_trials)(store *st, int64_t sweep_id, const store_trial_def *trials, size_t n,
                      uint64_t *out_added);
    int (*get_sweep)(store *st, const char *name, store_sweep **out);
    /* f is never NULL (store.c passes an all-zero filter for NULL). */
    int (*list_sweeps)(store *st, const store_sweep_filter *f, store_sweep **out, size_t *n);
    /* state is SWEEP_ACTIVE (resume) or SWEEP_PAUSED (pause). */
    int (*set_sweep_state)(store *st, const char *name, sweep_state state);
    int (*cancel)(store *st, const char *name, uint64_t *out_n);
    int (*retry)(store *st, const char *name, bool failed, bool cancelled, uint64_t *out_n);
    int (*gc)(store *st, double before, char ***out_names, size_t *out_n);
    int (*claim_completion)(store *st, int64_t sweep_id, const char *by, bool *won);

    /* trials */
    int (*list_trials)(store *st, const store_trial_query *q, store_trial **out, size_t *n);
    int (*get_trial)(store *st, const char *sweep, uint64_t number, store_trial **out);
    int (*list_attempts)(store *st, int64_t trial_id, store_attempt **out, size_t *n);

    /* agents */
    int (*register_agent)(store *st, const store_agent_info *a);
    int (*deregister_agent)(store *st, const char *agent_id);
    int (*list_agents)(store *st, store_agent **out, size_t *n);

    /* the lifecycle of a trial: claim, heartbeat, finish, metrics, reap */
    int (*claim)(store *st, const char *agent_id, int64_t sweep_id, size_t max, store_claimed **out,
                 size_t *n);
    int (*heartbeat)(store *st, const char *agent_id, store_lease *leases, size_t n);
    int (*finish)(store *st, int64_t trial_id, int attempt, const store_result *r);
    int (*append_metrics)(store *st, int64_t trial_id, int attempt, const char *rows_json);
    int (*get_metrics)(store *st, int64_t trial_id, char **out_json);
    int (*reap)(store *st, uint64_t *out_n);
    int (*import_result)(store *st, int64_t trial_id, const char *metrics_json);

    /* version 2: log tails. put_log gets len <= STORE_LOG_MAX (store.c keeps
     * the last bytes) and attempt >= 1; get_log gets attempt >= 0. */
    int (*put_log)(store *st, int64_t trial_id, int attempt, const char *text, size_t len);
    int (*get_log)(store *st, int64_t trial_id, int attempt, char **out, size_t *len);

    /* version 3: idempotent claims (store_claim_request). request_id is
     * never NULL here (store.c calls claim for NULL), never empty and at
     * most STORE_REQUEST_ID_MAX bytes. */
    int (*claim_request)(store *st, const char *agent_id, const char *request_id, int64_t sweep_id,
                         size_t max, store_claimed **out, size_t *n);

    /* version 4: the values at a band (store_band_values). name is not
     * blank, step <= INT64_MAX. */
    int (*band_values)(store *st, int64_t sweep_id, const char *name, uint64_t step,
                       bool completed_only, double **out, size_t *n);
    /* version 5: the claim of a bayes proposal (store_add_claim). def's
     * number is >= 1, its key and params_json are non-empty. */
    int (*add_claim)(store *st, const char *agent_id, int64_t sweep_id, const store_trial_def *def,
                     store_claimed **out, size_t *n);

    /* version 6: the completion's lease (store_complete_update); `by` is
     * not blank and `what` one of the three. */
    int (*complete_update)(store *st, int64_t sweep_id, const char *by, completion_update what);
} store_backend;

/* Helpers every backend shares (store.c). */

/* True when a and b are both NULL or equal strings. */
bool store_same_text(const char *a, const char *b);

/* A stored JSON array of tags into *tags (NULL when none) and *ntags; text
 * that is not an array reads as no tags. The caller frees the strings and
 * the array. */
void store_tags_parse(const char *tags_json, char ***tags, size_t *ntags);

/*
 * The tags to store for def as a compact JSON array: the stored ones
 * (stored_json, a JSON array; NULL for a new sweep) in their order, then
 * def's tags not among them, in def's order; duplicates dropped. *changed
 * (may be NULL): whether def added any. The caller frees.
 */
char *store_tags_json(const char *stored_json, const store_sweep_def *def, bool *changed);

/*
 * Compares a stored sweep's execution settings (old: only max_attempts,
 * cpus, gpus, gpu_memory, metric_name, maximize and open_ended are read)
 * with def's: "" when the same, else the differences ("max_attempts 3 -> 5,
 * gpus 0 -> 1"); the caller frees.
 */
char *store_settings_diff(const store_sweep_def *old, const store_sweep_def *def);

/*
 * Records the SQ_ELEASE_LOST message for a write ("record the end", ...)
 * about (trial_id, attempt) that is no longer current, saying what the trial
 * is now (found false: it was deleted); returns SQ_ELEASE_LOST.
 */
int store_lease_lost(const char *what, int64_t trial_id, int attempt, bool found, int state,
                     int current_attempt);

/* The backends compiled into this build. */
extern const store_backend store_sqlite_backend;
extern const store_backend store_postgres_backend; /* postgresql:// and postgres:// */
extern const store_backend store_http_backend;     /* http:// and https:// (sweepq serve) */

#endif
