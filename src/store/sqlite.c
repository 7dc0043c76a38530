/*
 * sqlite.c - the embedded store: one SQLite file shared by every process on
 * one machine (store_sqlite_backend, selected by "sqlite:PATH" or a path).
 *
 * How it stays correct with many processes:
 *   - WAL journal, so readers never block the one writer; synchronous=NORMAL
 *     (a power cut may lose the last commits but never corrupts the file).
 *   - Every write is one BEGIN IMMEDIATE transaction: the write lock is taken
 *     up front, so a transaction never fails halfway on a stale snapshot and
 *     a read-then-write (claim, fencing checks) sees no interleaved writer.
 *   - The busy handler polls the write lock at short random intervals
 *     (BUSY_MIN_US..BUSY_MAX_US) until BUSY_DEADLINE: SQLite's default
 *     handler sleeps in growing steps and can leave a writer asleep for
 *     hundreds of ms while others take turns. Past the deadline: SQ_EBUSY.
 *   - Fencing: every write about a running trial has "AND attempt = ? AND
 *     state = 1" in its WHERE; no row changed means the lease is lost.
 *   - Times come from time_now(), the local clock (one machine).
 *
 * What a claim and a finish cost is the measure of this file (bench/
 * lifecycle.c): each is one transaction of few statements (reap, claim;
 * finish, settle), writing few pages (see schema_sqlite.h). Statements are
 * prepared once per connection (stmt_get) and reset after use; only the
 * list queries with variable filters are prepared per call.
 *
 * A sweep becomes finished in the transaction that ends its last open
 * trial (S_SETTLE after finish, import and set_sweep_state, S_SETTLE_ALL
 * after a reap), and active again when trials are added or retried.
 */
#include "util/common.h"

#include "store/backend.h"
#include "store/schema_sqlite.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUSY_MIN_US 100    /* the first waits sleep 50..150 us, growing to */
#define BUSY_MAX_US 2000   /* 50..2050 us from the 19th on */
#define BUSY_DEADLINE 10.0 /* seconds */
/* An agent is alive when seen within max(2 x the largest lease TTL, this). */
#define AGENT_ALIVE_MIN 120.0

/* ---- statements ---------------------------------------------------------- */

/* Counts come from the partial indexes (INDEXED BY keeps the planner from
 * scanning all of a sweep's trials instead); succeeded = total - the rest. */
#define COUNT_IN(index, st)                                                                        \
    "(SELECT count(*) FROM trials t INDEXED BY " index " WHERE t.sweep_id = sweeps.id AND "        \
    "t.state = " st ")"
/* clang-format off */
#define SWEEP_COLS                                                                                 \
    "SELECT id, name, state, spec_json, spec_yaml, command_json, tags_json, metric_name, "       \
    "maximize, max_attempts, lease_ttl, timeout, cpus, gpus, gpu_memory, open_ended, total, "      \
    "next_number, created_at, updated_at, finished_at, n_total, "                                  \
    COUNT_IN("trials_pending", "0") ", "                                                           \
    COUNT_IN("trials_running", "1") ", "                                                           \
    COUNT_IN("trials_failed", "3") ", "                                                            \
    COUNT_IN("trials_cancelled", "4") ", "                                                         \
    "completion_claimed, " COUNT_IN("trials_stopped", "5") " FROM sweeps"
/* clang-format on */

/* clang-format off */
#define HAS_PENDING(id)                                                                            \
    "EXISTS (SELECT 1 FROM trials INDEXED BY trials_pending WHERE sweep_id = " id                  \
    " AND state = 0)"
/* clang-format on */
#define HAS_RUNNING(id)                                                                            \
    "EXISTS (SELECT 1 FROM trials INDEXED BY trials_running WHERE state = 1 AND sweep_id = " id ")"
/* The sweep (a row of sweeps) should now be finished: all its trials are
 * final, and it is active or paused and holds all its trials (not
 * open-ended, or an open-ended one that reached its cap). */
#define NOW_FINISHED(id)                                                                           \
    "(state IN (0, 1) AND (open_ended = 0 OR (total > 0 AND n_total >= total)) AND "               \
    "NOT " HAS_PENDING(id) " AND NOT " HAS_RUNNING(id) ")"

/* The sweep name is column 2: a join for one trial, a bound value for lists. */
#define TRIAL_COLS(name_expr)                                                                      \
    "SELECT t.id, t.sweep_id, " name_expr ", t.number, t.key, t.params_json, t.state, "            \
    "t.attempt, t.failures, t.agent_id, t.lease_expires, t.created_at, t.started_at, "             \
    "t.finished_at, t.exit_code, t.term_signal, t.last_outcome, t.error, t.metrics_json, "         \
    "t.cancel_requested, t.stopped_step"

/* A trial's next state when an attempt ends: ?uses_try and the failures that
 * then reach max_attempts make it failed, else ?next. */
#define EXHAUSTED "failures + 1 >= (SELECT max_attempts FROM sweeps s WHERE s.id = trials.sweep_id)"

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SWEEP_BY_NAME,
    S_SWEEP_ID_STATE,
    S_SWEEP_STATE_BY_ID,
    S_SWEEP_FOR_CREATE,
    S_SWEEP_INSERT,
    S_SWEEP_EDIT,
    S_SWEEP_TAGS,
    S_SWEEP_ADDED,
    S_SWEEP_SET_STATE,
    S_SETTLE,
    S_SETTLE_ALL,
    S_TRIAL_INSERT,
    S_TRIAL_KEYS,
    S_TRIAL_FENCE,
    S_TRIAL_GET,
    S_REAP_TRIALS,
    S_CLAIM,
    S_CLAIM_REQ_GET,
    S_CLAIM_REQ_PUT,
    S_CLAIM_REQ_DELETE,
    S_CLAIM_REPLAY,
    S_FINISH,
    S_RENEW,
    S_AGENT_SEEN,
    S_AGENT_REGISTER,
    S_AGENT_DELETE,
    S_AGENTS,
    S_MAX_TTL,
    S_METRICS_PATCH,
    S_METRIC_INSERT,
    S_METRICS_GET,
    S_BAND_VALUES,
    S_IMPORT,
    S_ATTEMPTS,
    S_CANCEL_TRIALS,
    S_CANCEL_SWEEP,
    S_RETRY,
    S_REOPEN,
    S_GC_LIST,
    S_GC_DELETE,
    S_COMPLETION,
    S_COMPLETION_RENEW,
    S_COMPLETION_DONE,
    S_COMPLETION_FAILED,
    S_LOG_PUT,
    S_LOG_GET,
    S_ADD_CLAIM_SWEEP,
    S_ADD_CLAIM_KEY,
    S_ADD_CLAIM_INSERT,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SWEEP_BY_NAME] = SWEEP_COLS " WHERE name = ?1",
    [S_SWEEP_ID_STATE] = "SELECT id, state FROM sweeps WHERE name = ?1",
    [S_SWEEP_STATE_BY_ID] = "SELECT state FROM sweeps WHERE id = ?1",
    [S_SWEEP_FOR_CREATE] = "SELECT id, spec_json, command_json, max_attempts, cpus, gpus, "
                           "gpu_memory, metric_name, maximize, open_ended, tags_json "
                           "FROM sweeps WHERE name = ?1",
    [S_SWEEP_INSERT] = "INSERT INTO sweeps(name, spec_json, spec_yaml, command_json, tags_json, "
                       "metric_name, maximize, max_attempts, lease_ttl, timeout, cpus, gpus, "
                       "gpu_memory, open_ended, total, created_at, updated_at) VALUES "
                       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                       "?16)",
    [S_SWEEP_EDIT] = "UPDATE sweeps SET spec_json = ?2, spec_yaml = ?3, tags_json = ?4, "
                     "lease_ttl = ?5, timeout = ?6, total = ?7, updated_at = ?8 WHERE id = ?1",
    [S_SWEEP_TAGS] = "UPDATE sweeps SET tags_json = ?2, updated_at = ?3 WHERE id = ?1",
    /* After adding ?2 trials: count them, and a finished sweep runs again. */
    [S_SWEEP_ADDED] = "UPDATE sweeps SET n_total = n_total + ?2, "
                      "next_number = max(next_number, ?3), updated_at = ?4, "
                      "finished_at = CASE WHEN ?2 > 0 AND state = 3 THEN 0 ELSE finished_at END, "
                      "state = CASE WHEN ?2 > 0 AND state = 3 THEN 0 ELSE state END WHERE id = ?1",
    [S_SWEEP_SET_STATE] = "UPDATE sweeps SET state = ?2, updated_at = ?3 WHERE id = ?1",
    /* After a trial's end: finish the sweep when that was its last open
     * trial, and keep updated_at within 10 s of the last activity without
     * writing the sweep's row on every finish. */
    [S_SETTLE] =
        "UPDATE sweeps SET updated_at = ?2, "
        "finished_at = CASE WHEN " NOW_FINISHED(
            "?1") " THEN ?2 ELSE finished_at END, "
                  "state = CASE WHEN " NOW_FINISHED(
                      "?1") " THEN 3 ELSE state END "
                            "WHERE id = ?1 AND (updated_at < ?2 - 10 OR " NOW_FINISHED("?1") ")",
    [S_SETTLE_ALL] = "UPDATE sweeps SET state = 3, finished_at = ?1, updated_at = ?1 "
                     "WHERE " NOW_FINISHED("sweeps.id"),
    [S_TRIAL_INSERT] = "INSERT INTO trials(sweep_id, number, key, params_json, created_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(sweep_id, number) DO NOTHING",
    [S_TRIAL_KEYS] = "SELECT key FROM trials WHERE sweep_id = ?1",
    [S_TRIAL_FENCE] = "SELECT state, attempt, cancel_requested FROM trials WHERE id = ?1",
    [S_TRIAL_GET] = TRIAL_COLS("s.name") " FROM trials t JOIN sweeps s ON s.id = t.sweep_id "
                                         "WHERE s.name = ?1 AND t.number = ?2",
    [S_REAP_TRIALS] = "UPDATE trials SET failures = failures + 1, "
                      "state = CASE WHEN " EXHAUSTED " THEN 3 ELSE 0 END, "
                      "finished_at = ?1, last_outcome = 5, lease_expires = 0, "
                      "error = 'lease expired: agent ' || coalesce(agent_id, '?') || "
                      "' stopped renewing it' WHERE state = 1 AND lease_expires < ?1",
    /* Only from an active sweep; the trigger trials_archive keeps the
     * previous attempt of a trial that ran before. */
    [S_CLAIM] = "UPDATE trials SET state = 1, attempt = attempt + 1, agent_id = ?2, "
                "lease_expires = ?3 + (SELECT lease_ttl FROM sweeps WHERE id = ?1), "
                "started_at = ?3, finished_at = 0, last_outcome = 0, exit_code = -1, "
                "term_signal = 0, error = NULL, cancel_requested = 0, claim_request = ?5 "
                "WHERE id IN (SELECT id FROM trials WHERE sweep_id = ?1 AND state = 0 "
                "ORDER BY number LIMIT ?4) AND (SELECT state FROM sweeps WHERE id = ?1) = 0 "
                "RETURNING id, number, attempt, failures, params_json, key, lease_expires",
    [S_CLAIM_REQ_GET] = "SELECT request_id FROM claim_requests WHERE agent_id = ?1 "
                        "AND sweep_id = ?2",
    [S_CLAIM_REQ_PUT] = "INSERT INTO claim_requests(agent_id, sweep_id, request_id, claimed_at) "
                        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(agent_id, sweep_id) DO UPDATE SET "
                        "request_id = excluded.request_id, claimed_at = excluded.claimed_at",
    [S_CLAIM_REQ_DELETE] = "DELETE FROM claim_requests WHERE agent_id = ?1",
    /* A re-claim sets agent_id and claim_request anew, so a running trial
     * that still has both is at the attempt the request made. */
    [S_CLAIM_REPLAY] = "SELECT id, number, attempt, failures, params_json, key, lease_expires "
                       "FROM trials INDEXED BY trials_running WHERE state = 1 AND sweep_id = ?1 "
                       "AND agent_id = ?2 AND claim_request = ?3",
    /* ?4: the outcome uses a try; ?5: the next state unless tries ran out. */
    [S_FINISH] = "UPDATE trials SET failures = failures + ?4, "
                 "state = CASE WHEN ?4 AND " EXHAUSTED " THEN 3 ELSE ?5 END, "
                 "finished_at = ?10, "
                 "last_outcome = ?3, exit_code = ?6, term_signal = ?7, error = ?8, "
                 "metrics_json = coalesce(?9, metrics_json), lease_expires = 0, "
                 "stopped_step = ?11 WHERE id = ?1 AND attempt = ?2 AND state = 1 "
                 "RETURNING sweep_id",
    [S_RENEW] = "UPDATE trials SET lease_expires = ?3 + "
                "(SELECT lease_ttl FROM sweeps s WHERE s.id = trials.sweep_id) "
                "WHERE id = ?1 AND attempt = ?2 AND state = 1",
    [S_AGENT_SEEN] = "INSERT INTO agents(id, started_at, last_seen) VALUES (?1, ?2, ?2) "
                     "ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen",
    [S_AGENT_REGISTER] = "INSERT INTO agents(id, host, pid, slots, gpus_json, version, "
                         "started_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) "
                         "ON CONFLICT(id) DO UPDATE SET host = excluded.host, "
                         "pid = excluded.pid, slots = excluded.slots, "
                         "gpus_json = excluded.gpus_json, version = excluded.version, "
                         "started_at = excluded.started_at, last_seen = excluded.last_seen",
    [S_AGENT_DELETE] = "DELETE FROM agents WHERE id = ?1",
    [S_AGENTS] = "SELECT a.id, a.host, a.pid, a.slots, a.gpus_json, a.version, a.started_at, "
                 "a.last_seen, (SELECT count(*) FROM trials t WHERE t.state = 1 AND "
                 "t.agent_id = a.id) FROM agents a ORDER BY a.started_at, a.id",
    [S_MAX_TTL] = "SELECT coalesce(max(lease_ttl), 0) FROM sweeps",
    [S_METRICS_PATCH] = "UPDATE trials SET metrics_json = json_patch(metrics_json, ?3) "
                        "WHERE id = ?1 AND attempt = ?2 AND state = 1",
    [S_METRIC_INSERT] = "INSERT INTO metrics(trial_id, attempt, step, time, name, value) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_METRICS_GET] = "SELECT json_group_array(json_object('attempt', attempt, 'step', step, "
                      "'time', time, 'name', name, 'value', value)) FROM (SELECT * FROM metrics "
                      "WHERE trial_id = ?1 ORDER BY attempt, rowid)",
    /* One value per trial: its current attempt's last row at the step
     * (metrics_trial_step finds it); ?4: succeeded trials only. */
    [S_BAND_VALUES] = "SELECT v FROM (SELECT (SELECT m.value FROM metrics m WHERE "
                      "m.trial_id = t.id AND m.attempt = t.attempt AND m.name = ?2 AND "
                      "m.step = ?3 ORDER BY m.rowid DESC LIMIT 1) AS v FROM trials t "
                      "WHERE t.sweep_id = ?1 AND t.attempt > 0 AND (?4 = 0 OR t.state = 2)) "
                      "WHERE v IS NOT NULL",
    [S_IMPORT] = "UPDATE trials SET state = 2, last_outcome = 1, metrics_json = ?2, "
                 "finished_at = ?3, error = NULL WHERE id = ?1 AND state = 0 RETURNING sweep_id",
    /* The archived attempts, then the last one from the trial's row. */
    [S_ATTEMPTS] = "SELECT attempt, agent_id, started_at, finished_at, outcome, exit_code, "
                   "signal, error FROM attempts WHERE trial_id = ?1 UNION ALL "
                   "SELECT attempt, agent_id, started_at, finished_at, last_outcome, exit_code, "
                   "term_signal, error FROM trials WHERE id = ?1 AND attempt > 0 ORDER BY 1",
    /* SET expressions see the old row: cancel_requested marks running ones. */
    [S_CANCEL_TRIALS] = "UPDATE trials SET state = 4, cancel_requested = (state = 1), "
                        "last_outcome = CASE WHEN state = 1 THEN 6 ELSE last_outcome END, "
                        "error = CASE WHEN state = 1 THEN 'cancelled by the user' "
                        "ELSE error END, lease_expires = 0, "
                        "finished_at = CASE WHEN state = 1 THEN ?2 ELSE finished_at END "
                        "WHERE sweep_id = ?1 AND state IN (0, 1)",
    [S_CANCEL_SWEEP] = "UPDATE sweeps SET state = 2, finished_at = ?2, updated_at = ?2 "
                       "WHERE id = ?1 AND state IN (0, 1)",
    [S_RETRY] = "UPDATE trials SET state = 0, failures = 0, cancel_requested = 0, "
                "lease_expires = 0 WHERE sweep_id = ?1 AND "
                "((state = 3 AND ?2) OR (state = 4 AND ?3))",
    [S_REOPEN] = "UPDATE sweeps SET state = 0, finished_at = 0, updated_at = ?2 "
                 "WHERE id = ?1 AND state IN (2, 3)",
    [S_GC_LIST] = "SELECT name FROM sweeps WHERE state IN (2, 3) AND finished_at > 0 "
                  "AND finished_at < ?1 ORDER BY id",
    [S_GC_DELETE] = "DELETE FROM sweeps WHERE state IN (2, 3) AND finished_at > 0 "
                    "AND finished_at < ?1",
    /* The completion's lease (store.h): completion_expires 0 means nobody
     * holds it; completion_claimed 1 means done (or given up). */
    [S_COMPLETION] = "UPDATE sweeps SET completion_by = ?2, completion_at = ?3, "
                     "completion_expires = ?3 + lease_ttl WHERE id = ?1 AND completion_claimed = 0 "
                     "AND completion_expires < ?3 AND completion_retry_at <= ?3 "
                     "AND state IN (2, 3) AND NOT " HAS_PENDING("?1") " AND NOT " HAS_RUNNING("?1"),
#define HOLDER                                                                                     \
    "id = ?1 AND completion_by = ?2 AND completion_claimed = 0 AND completion_expires > 0"
    [S_COMPLETION_RENEW] = "UPDATE sweeps SET completion_expires = ?3 + lease_ttl WHERE " HOLDER,
    [S_COMPLETION_DONE] = "UPDATE sweeps SET completion_claimed = 1, completion_expires = 0 "
                          "WHERE " HOLDER,
    [S_COMPLETION_FAILED] =
        "UPDATE sweeps SET completion_failures = completion_failures + 1, completion_expires = 0, "
        "completion_retry_at = ?3 + min(?5, min(?4, lease_ttl) * (1 << min(completion_failures, "
        "20))), "
        "completion_claimed = completion_failures + 1 >= max_attempts WHERE " HOLDER,
#undef HOLDER
    /* No row inserted: the trial does not exist. */
    [S_LOG_PUT] = "INSERT INTO logs(trial_id, attempt, updated_at, text) "
                  "SELECT id, ?2, ?3, ?4 FROM trials WHERE id = ?1 "
                  "ON CONFLICT(trial_id, attempt) DO UPDATE SET updated_at = excluded.updated_at, "
                  "text = excluded.text",
    /* ?2 = 0: the latest attempt stored. */
    [S_LOG_GET] = "SELECT text FROM logs WHERE trial_id = ?1 AND (?2 = 0 OR attempt = ?2) "
                  "ORDER BY attempt DESC LIMIT 1",
    [S_ADD_CLAIM_SWEEP] = "SELECT state, open_ended, total, n_total, next_number FROM sweeps "
                          "WHERE id = ?1",
    /* Column 7: the trial is this agent's first attempt, still running. */
    [S_ADD_CLAIM_KEY] = "SELECT id, number, attempt, failures, params_json, key, lease_expires, "
                        "state = 1 AND attempt = 1 AND agent_id = ?3 FROM trials "
                        "WHERE sweep_id = ?1 AND key = ?2",
    [S_ADD_CLAIM_INSERT] = "INSERT INTO trials(sweep_id, number, key, params_json, created_at, "
                           "state, attempt, agent_id, lease_expires, started_at) VALUES "
                           "(?1, ?2, ?3, ?4, ?5, 1, 1, ?6, ?5 + (SELECT lease_ttl FROM sweeps "
                           "WHERE id = ?1), ?5) RETURNING id, number, attempt, failures, "
                           "params_json, key, lease_expires",
};

typedef struct sqlite_store {
    struct store base; /* first: store * <-> sqlite_store * */
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[S_COUNT];
    double busy_since; /* time_mono() when the current wait for the lock began */
    uint64_t rng;      /* xorshift state for the busy handler's jitter */
} sqlite_store;

static sqlite_store *to_sqlite(store *st)
{
    return (sqlite_store *)st;
}

/* ---- errors ---------------------------------------------------------------- */

/* Maps a SQLite result code to an SQ_E* code with the message. */
static int db_fail(sqlite_store *s, int rc, const char *what)
{
    int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return sq_error_set(SQ_EBUSY,
                            "cannot %s: store '%s' is busy (another process held its write lock "
                            "for %.0f s): retry later",
                            what, s->path, BUSY_DEADLINE);
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    int code = SQ_ERROR;
    switch (prim) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM: code = SQ_EIO; break;
    case SQLITE_CONSTRAINT: code = SQ_ECONFLICT; break;
    default: break;
    }
    return sq_error_set(code, "cannot %s in store '%s': %s", what, s->path, msg);
}

/* ---- statements and transactions ---------------------------------------- */

/* The cached statement id, prepared on first use, reset and unbound. */
static int stmt_get(sqlite_store *s, enum stmt_id id, sqlite3_stmt **out)
{
    *out = NULL;
    if (!s->stmts[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmts[id], NULL);
        if (rc != SQLITE_OK) /* busy reading the schema, or a damaged file */
            return db_fail(s, rc, "prepare a statement");
    }
    sqlite3_reset(s->stmts[id]);
    sqlite3_clear_bindings(s->stmts[id]);
    *out = s->stmts[id];
    return 0;
}

/* Steps q: 1 for a row, 0 when done (q is then reset), or an SQ_E* code. */
static int step(sqlite_store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(q);
    if (rc == SQLITE_DONE)
        return 0;
    return db_fail(s, rc, what);
}

/* Runs a statement that returns no rows to its end. */
static int step_done(sqlite_store *s, sqlite3_stmt *q, const char *what)
{
    int rc = step(s, q, what);
    if (rc == 1) {
        sqlite3_reset(q);
        return 0;
    }
    return rc;
}

static int run_cached(sqlite_store *s, enum stmt_id id, const char *what)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, id, &q);
    return rc < 0 ? rc : step_done(s, q, what);
}

static int tx_begin(sqlite_store *s)
{
    return run_cached(s, S_BEGIN, "start a write");
}

static int tx_commit(sqlite_store *s)
{
    return run_cached(s, S_COMMIT, "commit a write");
}

/* Rolls back the open transaction, if any; keeps the caller's error message. */
static void tx_rollback(sqlite_store *s)
{
    if (sqlite3_get_autocommit(s->db))
        return;
    char saved[512];
    int code = sq_error_code();
    snprintf(saved, sizeof saved, "%s", sq_error_msg());
    if (run_cached(s, S_ROLLBACK, "roll back") < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sq_error_set(code, "%s", saved);
}

static char *col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static void bind_text(sqlite3_stmt *q, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(q, i, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

/* ---- opening ---------------------------------------------------------- */

/*
 * Waits for the lock in short random sleeps so that a writer polls often and
 * none is left asleep for long; gives up (SQLITE_BUSY) after BUSY_DEADLINE.
 */
static int busy_handler(void *arg, int count)
{
    sqlite_store *s = arg;
    double now = time_mono();
    if (count == 0)
        s->busy_since = now;
    else if (now - s->busy_since > BUSY_DEADLINE)
        return 0;
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    long span = count < 19 ? BUSY_MIN_US * (count + 1) : BUSY_MAX_US;
    long us = BUSY_MIN_US / 2 + (long)(s->rng % (uint64_t)span);
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

static int exec_sql(sqlite_store *s, const char *sql, const char *what)
{
    char *err = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        int prim = rc & 0xff;
        int code = prim == SQLITE_BUSY || prim == SQLITE_LOCKED ? SQ_EBUSY
                   : prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN || prim == SQLITE_FULL
                       ? SQ_EIO
                       : SQ_ERROR;
        rc = sq_error_set(code, "cannot %s in store '%s': %s", what, s->path,
                          err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

static int pragma_int(sqlite_store *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK) {
        rc = db_fail(s, rc, "read the schema");
        goto out;
    }
    rc = step(s, q, "read the schema");
    if (rc == 1) {
        *out = sqlite3_column_int64(q, 0);
        rc = 0;
    } else if (rc == 0) {
        *out = 0;
    }
out:
    sqlite3_finalize(q);
    return rc;
}

/* Brings the schema to the latest version in one transaction. */
static int migrate(sqlite_store *s)
{
    const int64_t latest = (int64_t)ARRAY_SIZE(schema_sqlite_migrations);
    int64_t version = 0, app = 0, tables = 0;
    int rc = pragma_int(s, "PRAGMA user_version", &version);
    if (rc < 0 || version == latest)
        return rc;

    rc = tx_begin(s);
    if (rc < 0)
        return rc;
    /* Read again under the write lock: another process may have migrated. */
    if ((rc = pragma_int(s, "PRAGMA user_version", &version)) < 0 ||
        (rc = pragma_int(s, "PRAGMA application_id", &app)) < 0 ||
        (rc = pragma_int(s, "SELECT count(*) FROM sqlite_master", &tables)) < 0)
        goto out;
    if (version > latest) {
        rc = sq_error_set(SQ_EINVAL,
                          "cannot open store '%s': its schema version %lld is newer than this "
                          "sweepq's (%lld): use a newer sweepq",
                          s->path, (long long)version, (long long)latest);
        goto out;
    }
    if (version == 0 && (tables > 0 || (app != 0 && app != SCHEMA_SQLITE_APPLICATION_ID))) {
        rc = sq_error_set(SQ_EINVAL,
                          "cannot open store '%s': the file is a SQLite database of another "
                          "program: pass --store with another path",
                          s->path);
        goto out;
    }
    for (int64_t v = version; v < latest; v++) {
        char what[64];
        snprintf(what, sizeof what, "migrate the schema to version %lld", (long long)v + 1);
        if ((rc = exec_sql(s, schema_sqlite_migrations[v], what)) < 0)
            goto out;
    }
    char *sql = xasprintf("PRAGMA user_version = %lld; PRAGMA application_id = %d;",
                          (long long)latest, SCHEMA_SQLITE_APPLICATION_ID);
    rc = exec_sql(s, sql, "record the schema version");
    free(sql);
    if (rc == 0)
        rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

static void sqlite_close(store *st)
{
    sqlite_store *s = to_sqlite(st);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    if (s->db)
        sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* "sqlite:PATH", "sqlite://PATH" (so sqlite:///abs/x.db is /abs/x.db) or PATH. */
static int sqlite_open(store **out, const char *url, const char *location)
{
    sqlite_store *s = xcalloc(1, sizeof *s);
    int rc = 0;
    if (strncmp(location, "//", 2) == 0)
        location += 2;
    s->path = xstrdup(location);
    s->rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(time_mono() * 1e9) ^ 1;

    if (!*s->path) {
        rc = sq_error_set(SQ_EINVAL, "cannot open store '%s': no path after 'sqlite:'", url);
        goto out;
    }
    if (strcmp(s->path, ":memory:") != 0) {
        char *copy = xstrdup(s->path);
        const char *dir = dirname(copy);
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            rc = sq_error_set(SQ_EIO,
                              "cannot open store '%s': directory '%s' does not exist: run "
                              "'sweepq init' there or pass --store with another path",
                              s->path, dir);
            free(copy);
            goto out;
        }
        free(copy);
        /* A new store is private (0600): SQLite gives its -wal and -shm
         * files the database's mode. An existing file keeps its mode. */
        int fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int src = sqlite3_open_v2(s->path, &s->db, flags, NULL);
    if (src != SQLITE_OK) {
        rc = sq_error_set(SQ_EIO, "cannot open store '%s': %s", s->path,
                          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_handler(s->db, busy_handler, s);

    /* journal_mode answers with the mode it got; anything but wal is an error
     * (a read-only directory, or a file system without shared memory). */
    sqlite3_stmt *q = NULL;
    src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(s, src, "open the store");
        if (rc == SQ_ERROR) /* SQLITE_NOTADB and the like */
            rc = SQ_EIO;
        goto out;
    }
    rc = step(s, q, "switch the store to WAL");
    if (rc == 1) {
        const char *mode = (const char *)sqlite3_column_text(q, 0);
        rc = mode && strcmp(mode, "wal") == 0
                 ? 0
                 : sq_error_set(SQ_EIO, "cannot open store '%s': journal mode is '%s', not wal",
                                s->path, mode ? mode : "?");
    } else if (rc == SQ_ERROR) {
        rc = sq_error_set(SQ_EIO, "%s", sq_error_msg()); /* not a database */
    }
    sqlite3_finalize(q);
    if (rc < 0)
        goto out;
    rc = exec_sql(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", "open the store");
    if (rc == 0)
        rc = migrate(s);
out:
    if (rc < 0) {
        sqlite_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static double sqlite_now(store *st)
{
    return time_now();
}

/* ---- reading rows ------------------------------------------------------- */

/* Fills s from a row of SWEEP_COLS. */
static void read_sweep(sqlite3_stmt *q, store_sweep *s)
{
    memset(s, 0, sizeof *s);
    s->id = sqlite3_column_int64(q, 0);
    s->name = col_text(q, 1);
    s->state = (sweep_state)sqlite3_column_int(q, 2);
    s->spec_json = col_text(q, 3);
    s->spec_yaml = col_text(q, 4);
    s->command_json = col_text(q, 5);
    store_tags_parse((const char *)sqlite3_column_text(q, 6), &s->tags, &s->ntags);
    s->metric_name = col_text(q, 7);
    s->maximize = sqlite3_column_int(q, 8) != 0;
    s->max_attempts = sqlite3_column_int(q, 9);
    s->lease_ttl = sqlite3_column_double(q, 10);
    s->timeout = sqlite3_column_double(q, 11);
    s->cpus = sqlite3_column_int(q, 12);
    s->gpus = sqlite3_column_int(q, 13);
    s->gpu_memory = (uint64_t)sqlite3_column_int64(q, 14);
    s->open_ended = sqlite3_column_int(q, 15) != 0;
    s->total = (uint64_t)sqlite3_column_int64(q, 16);
    s->next_number = (uint64_t)sqlite3_column_int64(q, 17);
    s->created_at = sqlite3_column_double(q, 18);
    s->updated_at = sqlite3_column_double(q, 19);
    s->finished_at = sqlite3_column_double(q, 20);
    uint64_t total = (uint64_t)sqlite3_column_int64(q, 21);
    s->counts.pending = (uint64_t)sqlite3_column_int64(q, 22);
    s->counts.running = (uint64_t)sqlite3_column_int64(q, 23);
    s->counts.failed = (uint64_t)sqlite3_column_int64(q, 24);
    s->counts.cancelled = (uint64_t)sqlite3_column_int64(q, 25);
    s->counts.stopped = (uint64_t)sqlite3_column_int64(q, 27);
    uint64_t other = s->counts.pending + s->counts.running + s->counts.failed +
                     s->counts.cancelled + s->counts.stopped;
    s->counts.succeeded = total > other ? total - other : 0;
    s->completion_claimed = sqlite3_column_int(q, 26) != 0;
}

/* Fills t from a row of TRIAL_COLS. */
static void read_trial(sqlite3_stmt *q, store_trial *t)
{
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(q, 0);
    t->sweep_id = sqlite3_column_int64(q, 1);
    t->sweep_name = col_text(q, 2);
    t->number = (uint64_t)sqlite3_column_int64(q, 3);
    t->key = col_text(q, 4);
    t->params_json = col_text(q, 5);
    t->state = (trial_state)sqlite3_column_int(q, 6);
    t->attempt = sqlite3_column_int(q, 7);
    t->failures = sqlite3_column_int(q, 8);
    t->agent_id = col_text(q, 9);
    t->lease_expires = sqlite3_column_double(q, 10);
    t->created_at = sqlite3_column_double(q, 11);
    t->started_at = sqlite3_column_double(q, 12);
    t->finished_at = sqlite3_column_double(q, 13);
    t->exit_code = sqlite3_column_int(q, 14);
    t->term_signal = sqlite3_column_int(q, 15);
    t->last_outcome = (attempt_outcome)sqlite3_column_int(q, 16);
    t->error = col_text(q, 17);
    t->metrics_json = col_text(q, 18);
    if (!t->metrics_json)
        t->metrics_json = xstrdup("{}");
    t->cancel_requested = sqlite3_column_int(q, 19) != 0;
    t->stopped_step = (uint64_t)sqlite3_column_int64(q, 20);
}

/* The sweep's id and state by name; SQ_ENOTFOUND with the message. */
static int sweep_id_state(sqlite_store *s, const char *name, int64_t *id, int *state)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_SWEEP_ID_STATE, &q);
    if (rc < 0)
        return rc;
    bind_text(q, 1, name);
    rc = step(s, q, "find a sweep");
    if (rc == 0)
        return sq_error_set(SQ_ENOTFOUND, "no sweep named '%s' in store '%s'", name, s->path);
    if (rc < 0)
        return rc;
    *id = sqlite3_column_int64(q, 0);
    *state = sqlite3_column_int(q, 1);
    sqlite3_reset(q);
    return 0;
}

static int settle(sqlite_store *s, int64_t sweep_id, double now)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_SETTLE, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    sqlite3_bind_double(q, 2, now);
    return step_done(s, q, "update the sweep's state");
}

/* ---- sweeps ------------------------------------------------------------ */

/* The execution settings of an existing sweep, from S_SWEEP_FOR_CREATE's row;
 * "" when the same as def's, else what differs (store_settings_diff). */
static char *settings_diff(sqlite3_stmt *q, const store_sweep_def *def)
{
    store_sweep_def old = {
        .max_attempts = sqlite3_column_int(q, 3),
        .cpus = sqlite3_column_int(q, 4),
        .gpus = sqlite3_column_int(q, 5),
        .gpu_memory = (uint64_t)sqlite3_column_int64(q, 6),
        .metric_name = (const char *)sqlite3_column_text(q, 7),
        .maximize = sqlite3_column_int(q, 8) != 0,
        .open_ended = sqlite3_column_int(q, 9) != 0,
    };
    return store_settings_diff(&old, def);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a sweep's trials, sorted for bsearch; the caller frees. */
static int sweep_keys(sqlite_store *s, int64_t sweep_id, char ***out, size_t *n)
{
    char **v = NULL;
    size_t len = 0, cap = 0;
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_TRIAL_KEYS, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    while ((rc = step(s, q, "read trial keys")) == 1) {
        XGROW(v, cap, len + 1);
        v[len++] = col_text(q, 0);
    }
    if (len > 1)
        qsort(v, len, sizeof *v, cmp_str);
    *out = v;
    *n = len;
    return rc;
}

/*
 * Inserts trials; numbers already stored are skipped. With edit (an edited
 * grid), a trial whose key is stored already is skipped and one whose number
 * is taken by another key is SQ_ECONFLICT. *added: rows inserted;
 * *max_number: the highest number seen.
 *
 * There is no index on keys: only an edit needs them, so it reads the
 * sweep's keys once into a sorted array, and every insert of a new sweep
 * updates one index less (a million trials insert a third faster).
 */
static int insert_trials(sqlite_store *s, int64_t sweep_id, const char *sweep_name,
                         const store_trial_def *trials, size_t n, bool edit, double now,
                         uint64_t *added, uint64_t *max_number)
{
    char **keys = NULL;
    size_t nkeys = 0;
    sqlite3_stmt *ins;
    int rc = stmt_get(s, S_TRIAL_INSERT, &ins);
    if (rc == 0 && edit)
        rc = sweep_keys(s, sweep_id, &keys, &nkeys);
    if (rc < 0)
        goto out;
    sqlite3_bind_int64(ins, 1, sweep_id);
    sqlite3_bind_double(ins, 5, now);
    for (size_t i = 0; i < n; i++) {
        const store_trial_def *t = &trials[i];
        if (t->number > *max_number)
            *max_number = t->number;
        if (edit && nkeys && bsearch(&t->key, keys, nkeys, sizeof *keys, cmp_str))
            continue;
        sqlite3_bind_int64(ins, 2, (int64_t)t->number);
        sqlite3_bind_text(ins, 3, t->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, t->params_json, -1, SQLITE_STATIC);
        if ((rc = step_done(s, ins, "add a trial")) < 0)
            goto out;
        if (sqlite3_changes(s->db) == 1) {
            (*added)++;
        } else if (edit) {
            rc = sq_error_set(SQ_ECONFLICT,
                              "cannot update sweep '%s': trial %llu is taken by other "
                              "parameters, so the edited spec renumbers existing trials: add "
                              "new values at the end of a list, or use another 'name:' in the "
                              "spec",
                              sweep_name, (unsigned long long)t->number);
            goto out;
        }
    }
out:
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

static int count_added(sqlite_store *s, int64_t sweep_id, uint64_t added, uint64_t max_number,
                       double now)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_SWEEP_ADDED, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    sqlite3_bind_int64(q, 2, (int64_t)added);
    sqlite3_bind_int64(q, 3, (int64_t)max_number + 1);
    sqlite3_bind_double(q, 4, now);
    return step_done(s, q, "count new trials");
}

static int sqlite_create_sweep(store *st, const store_sweep_def *def, int64_t *out_id,
                               uint64_t *out_added)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    char *tags = NULL;
    char *diff = NULL;
    uint64_t added = 0, max_number = 0;
    int64_t id = 0;
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0)
        goto out;
    if ((rc = stmt_get(s, S_SWEEP_FOR_CREATE, &q)) < 0)
        goto out;
    bind_text(q, 1, def->name);
    rc = step(s, q, "find a sweep");
    if (rc < 0)
        goto out;
    if (rc == 1) { /* exists: the same, an edited grid, or a conflict */
        id = sqlite3_column_int64(q, 0);
        bool same_spec = store_same_text((const char *)sqlite3_column_text(q, 1), def->spec_json);
        bool same_command =
            store_same_text((const char *)sqlite3_column_text(q, 2), def->command_json);
        diff = settings_diff(q, def);
        /* tags given again add to the stored ones (a union): a --tag on a
         * later run finds the sweep by that tag too */
        bool new_tags = false;
        tags = store_tags_json((const char *)sqlite3_column_text(q, 10), def, &new_tags);
        sqlite3_reset(q);
        if (!same_command) {
            rc = sq_error_set(SQ_ECONFLICT,
                              "sweep '%s' exists with another command: use another 'name:' in "
                              "the spec, or cancel and delete the old one with 'sweepq cancel "
                              "%s' and 'sweepq gc --older-than 0'",
                              def->name, def->name);
            goto out;
        }
        if (*diff) {
            rc = sq_error_set(SQ_ECONFLICT,
                              "sweep '%s' exists with other settings (%s): use another 'name:' "
                              "in the spec, or cancel and delete the old one with 'sweepq "
                              "cancel %s' and 'sweepq gc --older-than 0'",
                              def->name, diff, def->name);
            goto out;
        }
        if (same_spec && !new_tags) {
            rc = tx_commit(s); /* nothing written */
            goto out;
        }
        if (same_spec) {
            if ((rc = stmt_get(s, S_SWEEP_TAGS, &q)) < 0)
                goto out;
            sqlite3_bind_int64(q, 1, id);
            bind_text(q, 2, tags);
            sqlite3_bind_double(q, 3, now);
            if ((rc = step_done(s, q, "add tags to a sweep")) < 0)
                goto out;
            rc = tx_commit(s);
            goto out;
        }
        if ((rc = insert_trials(s, id, def->name, def->trials, def->ntrials, true, now, &added,
                                &max_number)) < 0 ||
            (rc = stmt_get(s, S_SWEEP_EDIT, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, id);
        bind_text(q, 2, def->spec_json);
        bind_text(q, 3, def->spec_yaml);
        bind_text(q, 4, tags);
        sqlite3_bind_double(q, 5, def->lease_ttl);
        sqlite3_bind_double(q, 6, def->timeout);
        sqlite3_bind_int64(q, 7, (int64_t)def->total);
        sqlite3_bind_double(q, 8, now);
        if ((rc = step_done(s, q, "update a sweep")) < 0)
            goto out;
    } else {
        tags = store_tags_json(NULL, def, NULL);
        if ((rc = stmt_get(s, S_SWEEP_INSERT, &q)) < 0)
            goto out;
        bind_text(q, 1, def->name);
        bind_text(q, 2, def->spec_json);
        bind_text(q, 3, def->spec_yaml);
        bind_text(q, 4, def->command_json);
        bind_text(q, 5, tags);
        bind_text(q, 6, def->metric_name);
        sqlite3_bind_int(q, 7, def->maximize);
        sqlite3_bind_int(q, 8, def->max_attempts);
        sqlite3_bind_double(q, 9, def->lease_ttl);
        sqlite3_bind_double(q, 10, def->timeout);
        sqlite3_bind_int(q, 11, def->cpus);
        sqlite3_bind_int(q, 12, def->gpus);
        sqlite3_bind_int64(q, 13, (int64_t)def->gpu_memory);
        sqlite3_bind_int(q, 14, def->open_ended);
        sqlite3_bind_int64(q, 15, (int64_t)def->total);
        sqlite3_bind_double(q, 16, now);
        if ((rc = step_done(s, q, "create a sweep")) < 0)
            goto out;
        id = sqlite3_last_insert_rowid(s->db);
        /* A big insert touches many index pages: give it room in memory. */
        if (def->ntrials > 10000)
            sqlite3_exec(s->db, "PRAGMA cache_size = -262144", NULL, NULL, NULL);
        rc = insert_trials(s, id, def->name, def->trials, def->ntrials, false, now, &added,
                           &max_number);
        if (def->ntrials > 10000)
            sqlite3_exec(s->db, "PRAGMA cache_size = -2000", NULL, NULL, NULL);
        if (rc < 0)
            goto out;
    }
    if ((rc = count_added(s, id, added, max_number, now)) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    else {
        *out_id = id;
        *out_added = added;
    }
    if (def->ntrials > 10000)
        sqlite3_db_release_memory(s->db);
    free(tags);
    free(diff);
    return rc;
}

static int sqlite_add_trials(store *st, int64_t sweep_id, const store_trial_def *trials, size_t n,
                             uint64_t *out_added)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    uint64_t added = 0, max_number = 0;
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0)
        goto out;
    if ((rc = stmt_get(s, S_SWEEP_STATE_BY_ID, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, sweep_id);
    rc = step(s, q, "find a sweep");
    if (rc == 0)
        rc = sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'", (long long)sweep_id,
                          s->path);
    if (rc < 0)
        goto out;
    sqlite3_reset(q);
    if ((rc = insert_trials(s, sweep_id, "", trials, n, false, now, &added, &max_number)) < 0 ||
        (rc = count_added(s, sweep_id, added, max_number, now)) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    else
        *out_added = added;
    return rc;
}

static int sqlite_get_sweep(store *st, const char *name, store_sweep **out)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_SWEEP_BY_NAME, &q);
    if (rc < 0)
        return rc;
    bind_text(q, 1, name);
    rc = step(s, q, "read a sweep");
    if (rc == 0)
        return sq_error_set(SQ_ENOTFOUND, "no sweep named '%s' in store '%s'", name, s->path);
    if (rc < 0)
        return rc;
    *out = xmalloc(sizeof **out);
    read_sweep(q, *out);
    sqlite3_reset(q);
    return 0;
}

static int sqlite_list_sweeps(store *st, const store_sweep_filter *f, store_sweep **out, size_t *n)
{
    sqlite_store *s = to_sqlite(st);
    strbuf sql = SB_INIT;
    sqlite3_stmt *q = NULL;
    store_sweep *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0, arg = 1;

    sb_adds(&sql, SWEEP_COLS " WHERE 1");
    if (f->nnames) {
        sb_adds(&sql, " AND name IN (");
        for (size_t i = 0; i < f->nnames; i++)
            sb_adds(&sql, i ? ", ?" : "?");
        sb_adds(&sql, ")");
    }
    if (f->tag)
        sb_adds(&sql, " AND EXISTS (SELECT 1 FROM json_each(tags_json) WHERE value = ?)");
    if (f->since > 0)
        sb_adds(&sql, " AND (created_at >= ? OR updated_at >= ?)");
    if (f->runnable_only)
        sb_adds(&sql, " AND state = 0 AND (open_ended = 1 OR " HAS_PENDING("sweeps.id") ")");
    sb_adds(&sql, " ORDER BY created_at, id");

    int src = sqlite3_prepare_v2(s->db, sb_str(&sql), -1, &q, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(s, src, "list sweeps");
        goto out;
    }
    for (size_t i = 0; i < f->nnames; i++)
        bind_text(q, arg++, f->names[i]);
    if (f->tag)
        bind_text(q, arg++, f->tag);
    if (f->since > 0) {
        sqlite3_bind_double(q, arg++, f->since);
        sqlite3_bind_double(q, arg++, f->since);
    }
    while ((rc = step(s, q, "list sweeps")) == 1) {
        XGROW(v, cap, len + 1);
        read_sweep(q, &v[len++]);
    }
out:
    sqlite3_finalize(q);
    sb_release(&sql);
    if (rc < 0) {
        store_sweeps_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sqlite_set_sweep_state(store *st, const char *name, sweep_state state)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    int64_t id;
    int cur;
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = sweep_id_state(s, name, &id, &cur)) < 0)
        goto out;
    if (cur == SWEEP_CANCELLED) {
        rc = sq_error_set(SQ_ECONFLICT,
                          "cannot %s sweep '%s': it was cancelled: run 'sweepq retry %s "
                          "--cancelled' to run its cancelled trials again",
                          state == SWEEP_PAUSED ? "pause" : "resume", name, name);
        goto out;
    }
    if (cur != SWEEP_FINISHED && cur != (int)state) {
        if ((rc = stmt_get(s, S_SWEEP_SET_STATE, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int(q, 2, (int)state);
        sqlite3_bind_double(q, 3, now);
        if ((rc = step_done(s, q, "change a sweep's state")) < 0 || (rc = settle(s, id, now)) < 0)
            goto out;
    }
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

static int sqlite_cancel(store *st, const char *name, uint64_t *out_n)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    int64_t id;
    int cur;
    uint64_t n = 0;
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = sweep_id_state(s, name, &id, &cur)) < 0)
        goto out;
    enum stmt_id steps[] = {S_CANCEL_TRIALS, S_CANCEL_SWEEP};
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        if ((rc = stmt_get(s, steps[i], &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_double(q, 2, now);
        if ((rc = step_done(s, q, "cancel a sweep")) < 0)
            goto out;
        if (steps[i] == S_CANCEL_TRIALS)
            n = (uint64_t)sqlite3_changes64(s->db);
    }
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    else
        *out_n = n;
    return rc;
}

static int sqlite_retry(store *st, const char *name, bool failed, bool cancelled, uint64_t *out_n)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    int64_t id;
    int cur;
    uint64_t n = 0;
    sqlite3_stmt *q;
    if (!failed && !cancelled)
        failed = cancelled = true;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = sweep_id_state(s, name, &id, &cur)) < 0)
        goto out;
    if ((rc = stmt_get(s, S_RETRY, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int(q, 2, failed);
    sqlite3_bind_int(q, 3, cancelled);
    if ((rc = step_done(s, q, "retry trials")) < 0)
        goto out;
    n = (uint64_t)sqlite3_changes64(s->db);
    if (n > 0) {
        if ((rc = stmt_get(s, S_REOPEN, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_double(q, 2, now);
        if ((rc = step_done(s, q, "reopen a sweep")) < 0)
            goto out;
    }
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    else
        *out_n = n;
    return rc;
}

static int sqlite_gc(store *st, double before, char ***out_names, size_t *out_n)
{
    sqlite_store *s = to_sqlite(st);
    char **names = NULL;
    size_t len = 0, cap = 0;
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = stmt_get(s, S_GC_LIST, &q)) < 0)
        goto out;
    sqlite3_bind_double(q, 1, before);
    while ((rc = step(s, q, "list old sweeps")) == 1) {
        XGROW(names, cap, len + 1);
        names[len++] = col_text(q, 0);
    }
    if (rc < 0 || (rc = stmt_get(s, S_GC_DELETE, &q)) < 0)
        goto out;
    sqlite3_bind_double(q, 1, before);
    if ((rc = step_done(s, q, "delete old sweeps")) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0) {
        tx_rollback(s);
        for (size_t i = 0; i < len; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    *out_names = names;
    *out_n = len;
    return 0;
}

static int sqlite_claim_completion(store *st, int64_t sweep_id, const char *by, bool *won)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    bool got = false;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = stmt_get(s, S_COMPLETION, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, sweep_id);
    bind_text(q, 2, by);
    sqlite3_bind_double(q, 3, time_now());
    if ((rc = step_done(s, q, "claim a sweep's completion")) < 0)
        goto out;
    got = sqlite3_changes(s->db) == 1;
    if (!got) {
        if ((rc = stmt_get(s, S_SWEEP_STATE_BY_ID, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, sweep_id);
        rc = step(s, q, "find a sweep");
        if (rc == 0)
            rc = sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'",
                              (long long)sweep_id, s->path);
        if (rc < 0)
            goto out;
        sqlite3_reset(q);
    }
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    else
        *won = got;
    return rc;
}

static int sqlite_complete_update(store *st, int64_t sweep_id, const char *by,
                                  completion_update what)
{
    sqlite_store *s = to_sqlite(st);
    static const enum stmt_id ids[] = {[COMPLETION_RENEW] = S_COMPLETION_RENEW,
                                       [COMPLETION_SUCCEEDED] = S_COMPLETION_DONE,
                                       [COMPLETION_FAILED] = S_COMPLETION_FAILED};
    sqlite3_stmt *q;
    int rc = stmt_get(s, ids[what], &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    bind_text(q, 2, by);
    sqlite3_bind_double(q, 3, time_now());
    if (what == COMPLETION_FAILED) {
        sqlite3_bind_int(q, 4, COMPLETION_BACKOFF);
        sqlite3_bind_int(q, 5, COMPLETION_BACKOFF_MAX);
    }
    if ((rc = step_done(s, q, "update a sweep's completion")) < 0)
        return rc;
    if (sqlite3_changes(s->db) != 1)
        return sq_error_set(SQ_ELEASE_LOST,
                            "the completion of sweep %lld is no longer held by '%s': its lease "
                            "expired and another agent took it, or it is done",
                            (long long)sweep_id, by);
    return 0;
}

/* ---- trials ------------------------------------------------------------ */

static int sqlite_list_trials(store *st, const store_trial_query *qy, store_trial **out, size_t *n)
{
    sqlite_store *s = to_sqlite(st);
    strbuf sql = SB_INIT;
    sqlite3_stmt *q = NULL;
    store_trial *v = NULL;
    size_t len = 0, cap = 0;
    char *path = NULL;
    int64_t id;
    int cur;
    int rc = sweep_id_state(s, qy->sweep, &id, &cur);
    if (rc < 0)
        return rc;

    /* The state is written into the SQL so that the planner can use the
     * partial indexes of pending and running trials. */
    sb_adds(&sql, TRIAL_COLS("?1") " FROM trials t WHERE t.sweep_id = ?2");
    if (qy->state >= 0)
        sb_addf(&sql, " AND t.state = %d", qy->state);
    const char *dir = qy->descending ? "DESC" : "ASC";
    if (qy->sort_metric) {
        /* A quoted JSON path label: metric names may hold dots. */
        path = xasprintf("$.\"%s\"", qy->sort_metric);
        sb_addf(&sql,
                " ORDER BY json_extract(t.metrics_json, ?3) IS NULL, "
                "json_extract(t.metrics_json, ?3) %s, t.number",
                dir);
    } else {
        sb_addf(&sql, " ORDER BY t.number %s", dir);
    }
    sb_adds(&sql, " LIMIT ?4");

    int src = sqlite3_prepare_v2(s->db, sb_str(&sql), -1, &q, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(s, src, "list trials");
        goto out;
    }
    bind_text(q, 1, qy->sweep);
    sqlite3_bind_int64(q, 2, id);
    if (path)
        bind_text(q, 3, path);
    sqlite3_bind_int64(q, 4, qy->limit ? (int64_t)qy->limit : -1);
    while ((rc = step(s, q, "list trials")) == 1) {
        XGROW(v, cap, len + 1);
        read_trial(q, &v[len++]);
    }
out:
    sqlite3_finalize(q);
    sb_release(&sql);
    free(path);
    if (rc < 0) {
        store_trials_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sqlite_get_trial(store *st, const char *sweep, uint64_t number, store_trial **out)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_TRIAL_GET, &q);
    if (rc < 0)
        return rc;
    bind_text(q, 1, sweep);
    sqlite3_bind_int64(q, 2, (int64_t)number);
    rc = step(s, q, "read a trial");
    if (rc == 0) {
        int64_t id;
        int cur;
        rc = sweep_id_state(s, sweep, &id, &cur);
        if (rc == 0)
            rc = sq_error_set(SQ_ENOTFOUND, "no trial %llu in sweep '%s'",
                              (unsigned long long)number, sweep);
        return rc;
    }
    if (rc < 0)
        return rc;
    *out = xmalloc(sizeof **out);
    read_trial(q, *out);
    sqlite3_reset(q);
    return 0;
}

static int trial_exists(sqlite_store *s, int64_t trial_id)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_TRIAL_FENCE, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, trial_id);
    rc = step(s, q, "find a trial");
    if (rc == 0)
        return sq_error_set(SQ_ENOTFOUND, "no trial with id %lld in store '%s'",
                            (long long)trial_id, s->path);
    if (rc == 1)
        sqlite3_reset(q);
    return rc < 0 ? rc : 0;
}

static int sqlite_list_attempts(store *st, int64_t trial_id, store_attempt **out, size_t *n)
{
    sqlite_store *s = to_sqlite(st);
    store_attempt *v = NULL;
    size_t len = 0, cap = 0;
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_ATTEMPTS, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, trial_id);
    while ((rc = step(s, q, "list attempts")) == 1) {
        XGROW(v, cap, len + 1);
        store_attempt *a = &v[len++];
        a->attempt = sqlite3_column_int(q, 0);
        a->agent_id = col_text(q, 1);
        a->started_at = sqlite3_column_double(q, 2);
        a->finished_at = sqlite3_column_double(q, 3);
        a->outcome = (attempt_outcome)sqlite3_column_int(q, 4);
        a->exit_code = sqlite3_column_int(q, 5);
        a->term_signal = sqlite3_column_int(q, 6);
        a->error = col_text(q, 7);
    }
    if (rc == 0 && len == 0)
        rc = trial_exists(s, trial_id);
    if (rc < 0) {
        store_attempts_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* ---- agents ------------------------------------------------------------ */

static int sqlite_register_agent(store *st, const store_agent_info *a)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = stmt_get(s, S_AGENT_REGISTER, &q)) < 0)
        goto out;
    bind_text(q, 1, a->id);
    bind_text(q, 2, a->host);
    sqlite3_bind_int(q, 3, a->pid);
    sqlite3_bind_int(q, 4, a->slots);
    bind_text(q, 5, a->gpus_json);
    bind_text(q, 6, a->version);
    sqlite3_bind_double(q, 7, time_now());
    if ((rc = step_done(s, q, "register an agent")) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

static int sqlite_deregister_agent(store *st, const char *agent_id)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = stmt_get(s, S_AGENT_DELETE, &q)) < 0)
        goto out;
    bind_text(q, 1, agent_id);
    if ((rc = step_done(s, q, "deregister an agent")) < 0 ||
        (rc = stmt_get(s, S_CLAIM_REQ_DELETE, &q)) < 0)
        goto out;
    bind_text(q, 1, agent_id);
    if ((rc = step_done(s, q, "forget an agent's claim requests")) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

static int sqlite_list_agents(store *st, store_agent **out, size_t *n)
{
    sqlite_store *s = to_sqlite(st);
    store_agent *v = NULL;
    size_t len = 0, cap = 0;
    double now = time_now(), alive_for = AGENT_ALIVE_MIN;
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_MAX_TTL, &q);
    if (rc < 0)
        return rc;
    rc = step(s, q, "read lease times");
    if (rc == 1) {
        if (2 * sqlite3_column_double(q, 0) > alive_for)
            alive_for = 2 * sqlite3_column_double(q, 0);
        sqlite3_reset(q);
    }
    if (rc < 0 || (rc = stmt_get(s, S_AGENTS, &q)) < 0)
        return rc;
    while ((rc = step(s, q, "list agents")) == 1) {
        XGROW(v, cap, len + 1);
        store_agent *a = &v[len++];
        memset(a, 0, sizeof *a);
        a->id = col_text(q, 0);
        a->host = col_text(q, 1);
        a->pid = sqlite3_column_int(q, 2);
        a->slots = sqlite3_column_int(q, 3);
        a->gpus_json = col_text(q, 4);
        a->version = col_text(q, 5);
        a->started_at = sqlite3_column_double(q, 6);
        a->last_seen = sqlite3_column_double(q, 7);
        a->running = sqlite3_column_int(q, 8);
        a->alive = now - a->last_seen <= alive_for;
    }
    if (rc < 0) {
        store_agents_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* ---- claim, heartbeat, finish, reap ------------------------------------- */

/* Expires leases older than now inside the caller's transaction. */
static int reap_locked(sqlite_store *s, double now, uint64_t *out_n)
{
    sqlite3_stmt *q;
    int rc;
    *out_n = 0;
    if ((rc = stmt_get(s, S_REAP_TRIALS, &q)) < 0)
        return rc;
    sqlite3_bind_double(q, 1, now);
    if ((rc = step_done(s, q, "expire leases")) < 0)
        return rc;
    *out_n = (uint64_t)sqlite3_changes64(s->db);
    if (*out_n == 0)
        return 0;
    if ((rc = stmt_get(s, S_SETTLE_ALL, &q)) < 0)
        return rc;
    sqlite3_bind_double(q, 1, now);
    return step_done(s, q, "update sweep states");
}

static int cmp_claim(const void *a, const void *b)
{
    const store_claimed *x = a, *y = b;
    return (x->number > y->number) - (x->number < y->number);
}

/* Reads the claimed rows of q (S_CLAIM, S_CLAIM_REPLAY) into *v. */
static int read_claims(sqlite_store *s, sqlite3_stmt *q, int64_t sweep_id, store_claimed **v,
                       size_t *len, size_t *cap)
{
    int rc;
    while ((rc = step(s, q, "claim trials")) == 1) {
        XGROW(*v, *cap, *len + 1);
        store_claimed *c = &(*v)[(*len)++];
        c->trial_id = sqlite3_column_int64(q, 0);
        c->sweep_id = sweep_id;
        c->number = (uint64_t)sqlite3_column_int64(q, 1);
        c->attempt = sqlite3_column_int(q, 2);
        c->failures = sqlite3_column_int(q, 3);
        c->resume = c->attempt > 1;
        c->params_json = col_text(q, 4);
        c->key = col_text(q, 5);
        c->lease_expires = sqlite3_column_double(q, 6);
    }
    return rc;
}

/* True (1) when request_id is the agent's latest request for the sweep. */
static int claim_repeated(sqlite_store *s, const char *agent_id, const char *request_id,
                          int64_t sweep_id)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_CLAIM_REQ_GET, &q);
    if (rc < 0)
        return rc;
    bind_text(q, 1, agent_id);
    sqlite3_bind_int64(q, 2, sweep_id);
    if ((rc = step(s, q, "read a claim request")) == 1) {
        const char *last = (const char *)sqlite3_column_text(q, 0);
        rc = last && strcmp(last, request_id) == 0;
        sqlite3_reset(q);
    }
    return rc;
}

/*
 * store_claim (request_id NULL) and store_claim_request: one transaction
 * that reaps, then either replays a repeated request (the trials it claimed
 * that are still running under it) or claims anew and remembers the request.
 */
static int claim_common(sqlite_store *s, const char *agent_id, const char *request_id,
                        int64_t sweep_id, size_t max, store_claimed **out, size_t *n)
{
    double now = time_now();
    store_claimed *v = NULL;
    size_t len = 0, cap = 0;
    uint64_t reaped;
    sqlite3_stmt *q;
    int repeated = 0;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = reap_locked(s, now, &reaped)) < 0)
        goto out;
    if (request_id && (rc = repeated = claim_repeated(s, agent_id, request_id, sweep_id)) < 0)
        goto out;
    if ((rc = stmt_get(s, repeated ? S_CLAIM_REPLAY : S_CLAIM, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, sweep_id);
    bind_text(q, 2, agent_id);
    if (repeated) {
        bind_text(q, 3, request_id);
    } else {
        sqlite3_bind_double(q, 3, now);
        sqlite3_bind_int64(q, 4, max > INT64_MAX ? INT64_MAX : (int64_t)max);
        bind_text(q, 5, request_id);
    }
    if ((rc = read_claims(s, q, sweep_id, &v, &len, &cap)) < 0)
        goto out;
    if (len == 0) { /* nothing pending, not active, or no such sweep */
        if ((rc = stmt_get(s, S_SWEEP_STATE_BY_ID, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, sweep_id);
        if ((rc = step(s, q, "find a sweep")) < 0)
            goto out;
        sqlite3_reset(q);
        if (rc == 0) {
            /* Keep the reaping: commit, then report the missing sweep. */
            if ((rc = tx_commit(s)) == 0)
                rc = sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'",
                                  (long long)sweep_id, s->path);
            goto out;
        }
    }
    if (request_id && !repeated) {
        if ((rc = stmt_get(s, S_CLAIM_REQ_PUT, &q)) < 0)
            goto out;
        bind_text(q, 1, agent_id);
        sqlite3_bind_int64(q, 2, sweep_id);
        bind_text(q, 3, request_id);
        sqlite3_bind_double(q, 4, now);
        if ((rc = step_done(s, q, "remember a claim request")) < 0)
            goto out;
    }
    rc = tx_commit(s);
out:
    if (rc < 0) {
        tx_rollback(s);
        store_claims_free(v, len);
        return rc;
    }
    if (len > 1)
        qsort(v, len, sizeof *v, cmp_claim);
    *out = v;
    *n = len;
    return 0;
}

static int sqlite_claim(store *st, const char *agent_id, int64_t sweep_id, size_t max,
                        store_claimed **out, size_t *n)
{
    return claim_common(to_sqlite(st), agent_id, NULL, sweep_id, max, out, n);
}

static int sqlite_claim_request(store *st, const char *agent_id, const char *request_id,
                                int64_t sweep_id, size_t max, store_claimed **out, size_t *n)
{
    return claim_common(to_sqlite(st), agent_id, request_id, sweep_id, max, out, n);
}

/*
 * The sweep's row for store_add_claim: SQ_ENOTFOUND, SQ_EINVAL when it is
 * not open-ended; *room false when it takes no trial now (not active, or at
 * its cap); *next its next free number.
 */
static int add_claim_room(sqlite_store *s, int64_t sweep_id, bool *room, uint64_t *next)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_ADD_CLAIM_SWEEP, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    if ((rc = step(s, q, "find a sweep")) <= 0)
        return rc < 0 ? rc
                      : sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'",
                                     (long long)sweep_id, s->path);
    int state = sqlite3_column_int(q, 0);
    bool open_ended = sqlite3_column_int(q, 1) != 0;
    uint64_t total = (uint64_t)sqlite3_column_int64(q, 2);
    uint64_t held = (uint64_t)sqlite3_column_int64(q, 3);
    *next = (uint64_t)sqlite3_column_int64(q, 4);
    sqlite3_reset(q);
    if (!open_ended)
        return sq_error_set(SQ_EINVAL,
                            "cannot add a proposed trial to sweep %lld: it is not open-ended, all "
                            "its trials were made when it was created",
                            (long long)sweep_id);
    *room = state == SWEEP_ACTIVE && (total == 0 || held < total);
    return 0;
}

/* A trial of the sweep with def's key: 1 with its claim in *v when it is
 * agent_id's first attempt, still running; SQ_ECONFLICT when it is another's;
 * 0 when there is none. */
static int add_claim_replay(sqlite_store *s, const char *agent_id, int64_t sweep_id,
                            const store_trial_def *def, store_claimed **v, size_t *len)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_ADD_CLAIM_KEY, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    bind_text(q, 2, def->key);
    bind_text(q, 3, agent_id);
    if ((rc = step(s, q, "find a proposed trial")) <= 0)
        return rc;
    bool mine = sqlite3_column_int(q, 7) != 0;
    uint64_t number = (uint64_t)sqlite3_column_int64(q, 1);
    sqlite3_reset(q);
    if (!mine)
        return sq_error_set(SQ_ECONFLICT,
                            "cannot add a proposed trial: trial %llu of the sweep has its key "
                            "'%.40s' already; propose again with a new key",
                            (unsigned long long)number, def->key);
    size_t cap = 0;
    sqlite3_bind_int64(q, 1, sweep_id);
    bind_text(q, 2, def->key);
    bind_text(q, 3, agent_id);
    rc = read_claims(s, q, sweep_id, v, len, &cap);
    return rc < 0 ? rc : 1;
}

/* One transaction: the sweep's room, a repeat, or the insert of the claimed
 * trial at the next free number and the sweep's count. */
static int sqlite_add_claim(store *st, const char *agent_id, int64_t sweep_id,
                            const store_trial_def *def, store_claimed **out, size_t *n)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    store_claimed *v = NULL;
    size_t len = 0, cap = 0;
    bool room = false;
    uint64_t next = 0;
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = add_claim_room(s, sweep_id, &room, &next)) < 0 ||
        (rc = add_claim_replay(s, agent_id, sweep_id, def, &v, &len)) < 0)
        goto out;
    if (rc == 0 && room) {
        uint64_t number = def->number > next ? def->number : next;
        if ((rc = stmt_get(s, S_ADD_CLAIM_INSERT, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, sweep_id);
        sqlite3_bind_int64(q, 2, (int64_t)number);
        bind_text(q, 3, def->key);
        bind_text(q, 4, def->params_json);
        sqlite3_bind_double(q, 5, now);
        bind_text(q, 6, agent_id);
        if ((rc = read_claims(s, q, sweep_id, &v, &len, &cap)) < 0 ||
            (rc = count_added(s, sweep_id, len, number, now)) < 0)
            goto out;
    }
    rc = tx_commit(s);
out:
    if (rc < 0) {
        tx_rollback(s);
        store_claims_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* Reads the trial's fencing columns; *found false when the trial is gone. */
static int read_fence(sqlite_store *s, int64_t trial_id, bool *found, int *state, int *attempt,
                      bool *cancel_requested)
{
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_TRIAL_FENCE, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, trial_id);
    rc = step(s, q, "read a trial");
    if (rc < 0)
        return rc;
    *found = rc == 1;
    if (*found) {
        *state = sqlite3_column_int(q, 0);
        *attempt = sqlite3_column_int(q, 1);
        *cancel_requested = sqlite3_column_int(q, 2) != 0;
        sqlite3_reset(q);
    }
    return 0;
}

/* SQ_ELEASE_LOST with what the trial is now (store_lease_lost). */
static int lease_lost(sqlite_store *s, int64_t trial_id, int attempt, const char *what)
{
    bool found = false, cancel = false;
    int state = 0, cur = 0;
    int rc = read_fence(s, trial_id, &found, &state, &cur, &cancel);
    return rc < 0 ? rc : store_lease_lost(what, trial_id, attempt, found, state, cur);
}

static int sqlite_heartbeat(store *st, const char *agent_id, store_lease *leases, size_t n)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        store_lease *l = &leases[i];
        if ((rc = stmt_get(s, S_RENEW, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, l->trial_id);
        sqlite3_bind_int(q, 2, l->attempt);
        sqlite3_bind_double(q, 3, now);
        if ((rc = step_done(s, q, "renew a lease")) < 0)
            goto out;
        if (sqlite3_changes(s->db) == 1)
            continue;
        /* Not running with this attempt: cancelled by the user, or lost. */
        bool found, cancel = false;
        int state = 0, attempt = 0;
        if ((rc = read_fence(s, l->trial_id, &found, &state, &attempt, &cancel)) < 0)
            goto out;
        l->cancel = found && state == TRIAL_CANCELLED && attempt == l->attempt && cancel;
        l->lost = !l->cancel;
    }
    if ((rc = stmt_get(s, S_AGENT_SEEN, &q)) < 0)
        goto out;
    bind_text(q, 1, agent_id);
    sqlite3_bind_double(q, 2, now);
    if ((rc = step_done(s, q, "record an agent's heartbeat")) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

static int sqlite_finish(store *st, int64_t trial_id, int attempt, const store_result *r)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    sqlite3_stmt *q;
    int rc = 0;

    bool uses_try = r->outcome == OUTCOME_FAILED || r->outcome == OUTCOME_TIMED_OUT ||
                    r->outcome == OUTCOME_LOST;
    int next = r->outcome == OUTCOME_SUCCEEDED   ? TRIAL_SUCCEEDED
               : r->outcome == OUTCOME_CANCELLED ? TRIAL_CANCELLED
               : r->outcome == OUTCOME_STOPPED   ? TRIAL_STOPPED
                                                 : TRIAL_PENDING;
    if ((rc = tx_begin(s)) < 0 || (rc = stmt_get(s, S_FINISH, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, trial_id);
    sqlite3_bind_int(q, 2, attempt);
    sqlite3_bind_int(q, 3, r->outcome);
    sqlite3_bind_int(q, 4, uses_try);
    sqlite3_bind_int(q, 5, next);
    sqlite3_bind_int(q, 6, r->exit_code);
    sqlite3_bind_int(q, 7, r->term_signal);
    bind_text(q, 8, r->error);
    bind_text(q, 9, r->metrics_json);
    sqlite3_bind_double(q, 10, now);
    sqlite3_bind_int64(q, 11, r->outcome == OUTCOME_STOPPED ? (int64_t)r->stopped_step : 0);
    rc = step(s, q, "record a trial's end");
    if (rc == 0) {
        rc = lease_lost(s, trial_id, attempt, "record the end");
        goto out;
    }
    if (rc < 0)
        goto out;
    int64_t sweep_id = sqlite3_column_int64(q, 0);
    if ((rc = step(s, q, "record a trial's end")) < 0 || /* RETURNING: run to the end */
        (rc = settle(s, sweep_id, now)) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

/* Adds the rows of one metrics object to the metrics table and to latest. */
static int insert_metric_row(sqlite_store *s, sqlite3_stmt *q, json_t *row, double now,
                             json_t *latest)
{
    json_t *step_v = json_object_get(row, "step"), *time_v = json_object_get(row, "time");
    if (json_is_number(step_v))
        sqlite3_bind_int64(q, 3, (int64_t)json_number_value(step_v));
    else
        sqlite3_bind_null(q, 3);
    sqlite3_bind_double(q, 4, json_is_number(time_v) ? json_number_value(time_v) : now);
    const char *name;
    json_t *value;
    json_object_foreach(row, name, value)
    {
        if (!json_is_number(value) || strcmp(name, "step") == 0 || strcmp(name, "time") == 0)
            continue;
        sqlite3_bind_text(q, 5, name, -1, SQLITE_STATIC);
        sqlite3_bind_double(q, 6, json_number_value(value));
        int rc = step_done(s, q, "record a metric");
        if (rc < 0)
            return rc;
        json_object_set(latest, name, value);
    }
    return 0;
}

static int sqlite_append_metrics(store *st, int64_t trial_id, int attempt, const char *rows_json)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    json_error_t err;
    json_t *rows = json_loads(rows_json, JSON_DECODE_ANY, &err);
    json_t *latest = json_object();
    char *patch = NULL;
    sqlite3_stmt *q;
    int rc = 0;
    if (json_is_object(rows)) { /* one row alone is fine too */
        json_t *arr = json_array();
        json_array_append_new(arr, rows);
        rows = arr;
    }
    if (!json_is_array(rows)) {
        rc = sq_error_set(SQ_EINVAL,
                          "invalid metrics of trial %lld: expected a JSON array of objects%s%s",
                          (long long)trial_id, rows ? "" : ": ", rows ? "" : err.text);
        goto out;
    }
    if ((rc = tx_begin(s)) < 0 || (rc = stmt_get(s, S_METRIC_INSERT, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, trial_id);
    sqlite3_bind_int(q, 2, attempt);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (json_is_object(row) && (rc = insert_metric_row(s, q, row, now, latest)) < 0)
            goto out;
    }
    /* The fence comes last so that it also covers the inserts above. */
    /* 15 digits, as SQLite writes numbers: 0.6 stays 0.6, not 0.59999999999999998. */
    char *text = json_dumps(latest, JSON_COMPACT | JSON_REAL_PRECISION(15));
    patch = xstrdup(text ? text : "{}");
    free(text);
    if ((rc = stmt_get(s, S_METRICS_PATCH, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, trial_id);
    sqlite3_bind_int(q, 2, attempt);
    bind_text(q, 3, patch);
    if ((rc = step_done(s, q, "record metrics")) < 0)
        goto out;
    if (sqlite3_changes(s->db) != 1) {
        rc = lease_lost(s, trial_id, attempt, "record metrics");
        goto out;
    }
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    json_decref(rows);
    json_decref(latest);
    free(patch);
    return rc;
}

static int sqlite_get_metrics(store *st, int64_t trial_id, char **out_json)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    int rc = trial_exists(s, trial_id);
    if (rc < 0 || (rc = stmt_get(s, S_METRICS_GET, &q)) < 0)
        return rc;
    sqlite3_bind_int64(q, 1, trial_id);
    rc = step(s, q, "read metrics");
    if (rc < 0)
        return rc;
    char *text = rc == 1 ? col_text(q, 0) : NULL;
    sqlite3_reset(q);
    *out_json = text ? text : xstrdup("[]");
    return 0;
}

static int sqlite_band_values(store *st, int64_t sweep_id, const char *name, uint64_t at,
                              bool completed_only, double **out, size_t *n)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    double *v = NULL;
    size_t len = 0, cap = 0;
    int rc = stmt_get(s, S_SWEEP_STATE_BY_ID, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    rc = step(s, q, "find a sweep");
    sqlite3_reset(q);
    if (rc == 0)
        return sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'",
                            (long long)sweep_id, s->path);
    if (rc < 0 || (rc = stmt_get(s, S_BAND_VALUES, &q)) < 0)
        return rc;
    sqlite3_bind_int64(q, 1, sweep_id);
    sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (int64_t)at);
    sqlite3_bind_int(q, 4, completed_only);
    while ((rc = step(s, q, "read the values at a step")) == 1) {
        XGROW(v, cap, len + 1);
        v[len++] = sqlite3_column_double(q, 0);
    }
    sqlite3_reset(q);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sqlite_reap(store *st, uint64_t *out_n)
{
    sqlite_store *s = to_sqlite(st);
    uint64_t n = 0;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = reap_locked(s, time_now(), &n)) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    else
        *out_n = n;
    return rc;
}

static int sqlite_import_result(store *st, int64_t trial_id, const char *metrics_json)
{
    sqlite_store *s = to_sqlite(st);
    double now = time_now();
    sqlite3_stmt *q;
    int rc = 0;
    if ((rc = tx_begin(s)) < 0 || (rc = stmt_get(s, S_IMPORT, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, trial_id);
    bind_text(q, 2, metrics_json);
    sqlite3_bind_double(q, 3, now);
    rc = step(s, q, "import a result");
    if (rc == 0) {
        bool found, cancel;
        int state = 0, attempt = 0;
        if ((rc = read_fence(s, trial_id, &found, &state, &attempt, &cancel)) < 0)
            goto out;
        rc = found ? sq_error_set(SQ_ECONFLICT,
                                  "cannot import a result for trial %lld: it is %s, not pending",
                                  (long long)trial_id, trial_state_name((trial_state)state))
                   : sq_error_set(SQ_ENOTFOUND, "no trial with id %lld in store '%s'",
                                  (long long)trial_id, s->path);
        goto out;
    }
    if (rc < 0)
        goto out;
    int64_t sweep_id = sqlite3_column_int64(q, 0);
    if ((rc = step(s, q, "import a result")) < 0 || (rc = settle(s, sweep_id, now)) < 0)
        goto out;
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

/* ---- log tails ---------------------------------------------------------- */

static int sqlite_put_log(store *st, int64_t trial_id, int attempt, const char *text, size_t len)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    int rc = tx_begin(s);
    if (rc < 0 || (rc = stmt_get(s, S_LOG_PUT, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, trial_id);
    sqlite3_bind_int(q, 2, attempt);
    sqlite3_bind_double(q, 3, time_now());
    sqlite3_bind_blob64(q, 4, text, len, SQLITE_STATIC);
    if ((rc = step_done(s, q, "store a log")) < 0)
        goto out;
    if (sqlite3_changes(s->db) != 1) {
        rc = sq_error_set(SQ_ENOTFOUND, "no trial with id %lld in store '%s'", (long long)trial_id,
                          s->path);
        goto out;
    }
    rc = tx_commit(s);
out:
    if (rc < 0)
        tx_rollback(s);
    return rc;
}

static int sqlite_get_log(store *st, int64_t trial_id, int attempt, char **out, size_t *len)
{
    sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *q;
    int rc = stmt_get(s, S_LOG_GET, &q);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(q, 1, trial_id);
    sqlite3_bind_int(q, 2, attempt);
    rc = step(s, q, "read a log");
    if (rc == 0) {
        if ((rc = trial_exists(s, trial_id)) < 0)
            return rc;
        if (attempt)
            return sq_error_set(SQ_ENOTFOUND, "no log of trial %lld attempt %d in store '%s'",
                                (long long)trial_id, attempt, s->path);
        return sq_error_set(SQ_ENOTFOUND, "no log of trial %lld in store '%s'", (long long)trial_id,
                            s->path);
    }
    if (rc < 0)
        return rc;
    const void *blob = sqlite3_column_blob(q, 0);
    size_t n = (size_t)sqlite3_column_bytes(q, 0);
    char *text = xmalloc(n + 1);
    if (n)
        memcpy(text, blob, n);
    text[n] = '\0';
    sqlite3_reset(q);
    *out = text;
    *len = n;
    return 0;
}

const store_backend store_sqlite_backend = {
    .version = STORE_BACKEND_VERSION,
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .now = sqlite_now,
    .create_sweep = sqlite_create_sweep,
    .add_trials = sqlite_add_trials,
    .get_sweep = sqlite_get_sweep,
    .list_sweeps = sqlite_list_sweeps,
    .set_sweep_state = sqlite_set_sweep_state,
    .cancel = sqlite_cancel,
    .retry = sqlite_retry,
    .gc = sqlite_gc,
    .claim_completion = sqlite_claim_completion,
    .complete_update = sqlite_complete_update,
    .list_trials = sqlite_list_trials,
    .get_trial = sqlite_get_trial,
    .list_attempts = sqlite_list_attempts,
    .register_agent = sqlite_register_agent,
    .deregister_agent = sqlite_deregister_agent,
    .list_agents = sqlite_list_agents,
    .claim = sqlite_claim,
    .heartbeat = sqlite_heartbeat,
    .finish = sqlite_finish,
    .append_metrics = sqlite_append_metrics,
    .get_metrics = sqlite_get_metrics,
    .reap = sqlite_reap,
    .import_result = sqlite_import_result,
    .put_log = sqlite_put_log,
    .get_log = sqlite_get_log,
    .claim_request = sqlite_claim_request,
    .band_values = sqlite_band_values,
    .add_claim = sqlite_add_claim,
};
