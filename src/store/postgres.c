/*
 * postgres.c - the shared store: one PostgreSQL database that agents on many
 * machines use directly (store_postgres_backend, selected by
 * "postgresql://..." or "postgres://...").
 *
 * The whole URL goes to libpq's PQconnectdbParams (or, for
 * "postgresql:KEYWORDS", the keyword string after the scheme), so libpq's URL
 * and keyword forms, PGPASSWORD, ~/.pgpass and sslmode work as libpq
 * documents them.
 *
 * libpq is not linked: the first open loads libpq.so.5 with dlopen (pq_load)
 * and calls go through the table pq (pq.exec is PQexec). An agent that uses
 * a SQLite store then never maps libpq and the TLS, Kerberos and LDAP
 * libraries it pulls in, which were most of the agent's resident memory.
 *
 * How it stays correct with many machines:
 *   - Every time is the database's: NOW_EPOCH in the SQL, never time_now().
 *   - Every operation is one transaction (or one statement) at READ
 *     COMMITTED, run by run_op: a serialization failure or a deadlock rolls
 *     back and runs it again, up to TX_TRIES times, then SQ_EBUSY.
 *   - Claims lock pending rows with FOR UPDATE SKIP LOCKED on the partial
 *     index trials_pending, so claimers never wait on each other and never
 *     get the same trial. A claim starts its index scan past the numbers its
 *     connection claimed before (pg_store.hint) while sweeps.reopened says
 *     no trial went back to pending: the head of trials_pending holds the
 *     dead entries of claimed trials until a vacuum, and walking them made
 *     each claim slower as a sweep went on (160 index and heap pages per
 *     claim after 40,000 claims, against 7 from the hint).
 *   - Fencing: every write about a running trial has "attempt = $ AND
 *     state = 1" in its WHERE; no row changed means the lease is lost.
 *   - A sweep becomes finished in the transaction that ends its last open
 *     trial (settle). Two agents ending the last two trials at once must not
 *     each see the other's trial still running: settle first locks one
 *     pending trial of the sweep (the highest, FOR UPDATE SKIP LOCKED, away
 *     from claimers); if it finds one, the sweep is not finishing and
 *     whoever changes that trial waits for this commit. If it finds none, it
 *     locks the sweep's row and checks again in a new statement, so the
 *     enders of the last trials check one after the other and the last one
 *     sees them all.
 *   - A broken connection is SQ_EIO (transient: the agent retries while its
 *     trials keep running); the next call reconnects, waiting a backoff
 *     that doubles from BACKOFF_MIN to BACKOFF_MAX while the server stays
 *     away. A commit whose answer was lost is reported as SQ_EIO too; the
 *     fencing makes a repeated finish harmless (SQ_ELEASE_LOST).
 *
 * Statements are prepared once per connection (named "sN" by their id).
 */
#include "util/common.h"

#include "store/backend.h"
#include "store/schema_postgres.h"
#include "util/dynlib.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <libpq-fe.h> /* the types; the functions come from pq_load */
#include <unistd.h>

#define TX_TRIES 8            /* runs of a transaction that hit serialization failures */
#define BACKOFF_MIN 0.05      /* seconds before the first reconnect */
#define BACKOFF_MAX 2.0       /* the longest wait between reconnects */
#define AGENT_ALIVE_MIN 120.0 /* as sqlite.c */
#define INSERT_CHUNK 5000     /* trials per INSERT ... unnest */
#define MAX_PARAMS 20
#define FULL_SCAN_EVERY 64   /* claims between scans of the pending index from its start */
#define CONNECT_TIMEOUT "10" /* seconds, unless the URL says otherwise */

/* ---- libpq, loaded at run time ------------------------------------------- */

/* libpq's functions that this file calls, each named as in libpq minus the
 * "PQ" prefix; typed from libpq-fe.h, so a call is checked as a direct one. */
static struct {
    __typeof__(PQclear) *clear;
    __typeof__(PQcmdTuples) *cmdTuples;
    __typeof__(PQconnectdbParams) *connectdbParams;
    __typeof__(PQenterPipelineMode) *enterPipelineMode;
    __typeof__(PQerrorMessage) *errorMessage;
    __typeof__(PQexec) *exec;
    __typeof__(PQexecParams) *execParams;
    __typeof__(PQexecPrepared) *execPrepared;
    __typeof__(PQexitPipelineMode) *exitPipelineMode;
    __typeof__(PQfinish) *finish;
    __typeof__(PQgetResult) *getResult;
    __typeof__(PQgetisnull) *getisnull;
    __typeof__(PQgetvalue) *getvalue;
    __typeof__(PQntuples) *ntuples;
    __typeof__(PQpipelineSync) *pipelineSync;
    __typeof__(PQprepare) *prepare;
    __typeof__(PQresultErrorField) *resultErrorField;
    __typeof__(PQresultErrorMessage) *resultErrorMessage;
    __typeof__(PQresultStatus) *resultStatus;
    __typeof__(PQsendQueryParams) *sendQueryParams;
    __typeof__(PQsendQueryPrepared) *sendQueryPrepared;
    __typeof__(PQsetNoticeProcessor) *setNoticeProcessor;
    __typeof__(PQstatus) *status;
    __typeof__(PQtransactionStatus) *transactionStatus;
} pq;

/* Every slot of pq with its symbol (the static assert below keeps the two
 * lists the same length). */
static const dynlib_symbol pq_symbols[] = {
    {"PQclear", (void **)&pq.clear},
    {"PQcmdTuples", (void **)&pq.cmdTuples},
    {"PQconnectdbParams", (void **)&pq.connectdbParams},
    {"PQenterPipelineMode", (void **)&pq.enterPipelineMode},
    {"PQerrorMessage", (void **)&pq.errorMessage},
    {"PQexec", (void **)&pq.exec},
    {"PQexecParams", (void **)&pq.execParams},
    {"PQexecPrepared", (void **)&pq.execPrepared},
    {"PQexitPipelineMode", (void **)&pq.exitPipelineMode},
    {"PQfinish", (void **)&pq.finish},
    {"PQgetResult", (void **)&pq.getResult},
    {"PQgetisnull", (void **)&pq.getisnull},
    {"PQgetvalue", (void **)&pq.getvalue},
    {"PQntuples", (void **)&pq.ntuples},
    {"PQpipelineSync", (void **)&pq.pipelineSync},
    {"PQprepare", (void **)&pq.prepare},
    {"PQresultErrorField", (void **)&pq.resultErrorField},
    {"PQresultErrorMessage", (void **)&pq.resultErrorMessage},
    {"PQresultStatus", (void **)&pq.resultStatus},
    {"PQsendQueryParams", (void **)&pq.sendQueryParams},
    {"PQsendQueryPrepared", (void **)&pq.sendQueryPrepared},
    {"PQsetNoticeProcessor", (void **)&pq.setNoticeProcessor},
    {"PQstatus", (void **)&pq.status},
    {"PQtransactionStatus", (void **)&pq.transactionStatus},
};
_Static_assert(sizeof pq == ARRAY_SIZE(pq_symbols) * sizeof(void (*)(void)),
               "pq and pq_symbols must list the same functions");

static dynlib pq_lib = {
    .soname = "libpq.so.5",
    .what = "PostgreSQL's client library",
    .package = "libpq5",
    .minimum = "libpq 14", /* the pipeline functions came in libpq 14 */
    .symbols = pq_symbols,
    .nsymbols = ARRAY_SIZE(pq_symbols),
};

/* Loads libpq once per process (thread-safe). Returns 0, or SQ_EINVAL with
 * the message "cannot open store 'shown': ..." when it cannot be used. */
static int pq_load(const char *shown)
{
    int rc = dynlib_load(&pq_lib);
    if (rc)
        return sq_error_set(rc, "cannot open store '%s': %s", shown, sq_error_msg());
    return 0;
}

#define NOW_EPOCH "extract(epoch from now())::float8"

/* clang-format off */
#define COUNT_IN(st) \
    "(SELECT count(*) FROM trials t WHERE t.sweep_id = sweeps.id AND t.state = " st ")"
#define SWEEP_COLS                                                                                 \
    "SELECT id, name, state, spec_json, spec_yaml, command_json, tags_json, metric_name, "       \
    "maximize, max_attempts, lease_ttl, timeout, cpus, gpus, gpu_memory, open_ended, total, "      \
    "next_number, created_at, updated_at, finished_at, n_total, "                                  \
    COUNT_IN("0") ", " COUNT_IN("1") ", " COUNT_IN("3") ", " COUNT_IN("4") ", "                    \
    "completion_claimed, " COUNT_IN("5") " FROM sweeps"
#define HAS_STATE(id, st) "EXISTS (SELECT 1 FROM trials WHERE sweep_id = " id " AND state = " st ")"
#define NOW_FINISHED(id) \
    "(state IN (0, 1) AND (NOT open_ended OR (total > 0 AND n_total >= total)) AND NOT " \
    HAS_STATE(id, "0") " AND NOT " HAS_STATE(id, "1") ")"
#define TRIAL_COLS(name_expr)                                                                      \
    "SELECT t.id, t.sweep_id, " name_expr ", t.number, t.key, t.params_json, t.state, "            \
    "t.attempt, t.failures, t.agent_id, t.lease_expires, t.created_at, t.started_at, "             \
    "t.finished_at, t.exit_code, t.term_signal, t.last_outcome, t.error, t.metrics_json::text, "   \
    "t.cancel_requested, t.stopped_step"
/* S_CLAIM's text: request the claim_request to set, guard more of the WHERE. */
#define CLAIM_SQL(request, guard)                                                                  \
    "UPDATE trials SET state = 1, attempt = attempt + 1, agent_id = $2, "                          \
    "lease_expires = " NOW_EPOCH " + (SELECT lease_ttl FROM sweeps WHERE id = $1), "               \
    "started_at = " NOW_EPOCH ", finished_at = 0, last_outcome = 0, exit_code = -1, "              \
    "term_signal = 0, error = NULL, cancel_requested = false, claim_request = " request " "        \
    "WHERE " guard "id IN (SELECT id FROM trials WHERE sweep_id = $1 AND state = 0 AND number >= " \
    "(SELECT CASE WHEN reopened = $5 THEN $4 ELSE 0 END FROM sweeps WHERE id = $1 "                \
    "AND state = 0) ORDER BY number LIMIT $3 FOR UPDATE SKIP LOCKED) "                             \
    "RETURNING id, number, attempt, failures, params_json, key, lease_expires, "                   \
    "(SELECT reopened FROM sweeps WHERE id = $1)"
/* clang-format on */

enum stmt_id {
    S_NOW,
    S_SWEEP_BY_NAME,
    S_SWEEP_ID_STATE,
    S_SWEEP_STATE_BY_ID,
    S_SWEEP_FOR_CREATE,
    S_SWEEP_INSERT,
    S_SWEEP_EDIT,
    S_SWEEP_TAGS,
    S_SWEEP_ADDED,
    S_SWEEP_SET_STATE,
    S_REOPENED,
    S_PENDING_PROBE,
    S_PENDING_PROBE_BY_TRIAL,
    S_SWEEP_LOCK,
    S_SETTLE,
    S_TOUCH,
    S_TRIAL_INSERT,
    S_TRIAL_KEYS,
    S_TRIAL_FENCE,
    S_TRIAL_GET,
    S_REAP,
    S_CLAIM,
    S_CLAIM_REQ,
    S_CLAIM_REQ_PUT,
    S_CLAIM_REPLAY,
    S_FINISH,
    S_HEARTBEAT,
    S_AGENT_REGISTER,
    S_AGENT_DELETE,
    S_AGENTS,
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
    S_GC,
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
    [S_NOW] = "SELECT extract(epoch from clock_timestamp())::float8, " NOW_EPOCH ", "
              "(SELECT coalesce(max(lease_ttl), 0) FROM sweeps)",
    [S_SWEEP_BY_NAME] = SWEEP_COLS " WHERE name = $1",
    [S_SWEEP_ID_STATE] = "SELECT id, state FROM sweeps WHERE name = $1",
    [S_SWEEP_STATE_BY_ID] = "SELECT state FROM sweeps WHERE id = $1",
    [S_SWEEP_FOR_CREATE] = "SELECT id, spec_json, command_json, max_attempts, cpus, gpus, "
                           "gpu_memory, metric_name, maximize, open_ended, tags_json "
                           "FROM sweeps WHERE name = $1 FOR UPDATE",
    /* ON CONFLICT: a sweep of that name created at the same moment by
     * another machine; the caller reads it and goes on as if it existed. */
    [S_SWEEP_INSERT] =
        "INSERT INTO sweeps(name, spec_json, spec_yaml, command_json, tags_json, "
        "metric_name, maximize, max_attempts, lease_ttl, timeout, cpus, gpus, "
        "gpu_memory, open_ended, total, created_at, updated_at) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, " NOW_EPOCH
        ", " NOW_EPOCH ") ON CONFLICT (name) DO NOTHING RETURNING id",
    [S_SWEEP_EDIT] =
        "UPDATE sweeps SET spec_json = $2, spec_yaml = $3, tags_json = $4, "
        "lease_ttl = $5, timeout = $6, total = $7, updated_at = " NOW_EPOCH " WHERE id = $1",
    [S_SWEEP_TAGS] = "UPDATE sweeps SET tags_json = $2, updated_at = " NOW_EPOCH " WHERE id = $1",
    [S_SWEEP_ADDED] = "UPDATE sweeps SET n_total = n_total + $2, "
                      "reopened = reopened + CASE WHEN $2 > 0 THEN 1 ELSE 0 END, "
                      "next_number = greatest(next_number, $3), updated_at = " NOW_EPOCH ", "
                      "finished_at = CASE WHEN $2 > 0 AND state = 3 THEN 0 ELSE finished_at END, "
                      "state = CASE WHEN $2 > 0 AND state = 3 THEN 0 ELSE state END WHERE id = $1",
    /* Trials of the sweep went back to pending: claims' hints are void. */
    [S_REOPENED] = "UPDATE sweeps SET reopened = reopened + 1 WHERE id = $1",
    [S_SWEEP_SET_STATE] = "UPDATE sweeps SET state = $2, updated_at = " NOW_EPOCH " WHERE id = $1",
    [S_PENDING_PROBE] = "SELECT id FROM trials WHERE sweep_id = $1 AND state = 0 "
                        "ORDER BY number DESC LIMIT 1 FOR UPDATE SKIP LOCKED",
    /* The same for the sweep of trial $1 (finish sends it with its update). */
    [S_PENDING_PROBE_BY_TRIAL] = "SELECT id FROM trials WHERE sweep_id = (SELECT sweep_id FROM "
                                 "trials WHERE id = $1) AND state = 0 "
                                 "ORDER BY number DESC LIMIT 1 FOR UPDATE SKIP LOCKED",
    [S_SWEEP_LOCK] = "SELECT state FROM sweeps WHERE id = $1 FOR NO KEY UPDATE",
    [S_SETTLE] = "UPDATE sweeps SET state = 3, finished_at = " NOW_EPOCH ", updated_at = " NOW_EPOCH
                 " WHERE id = $1 AND " NOW_FINISHED("$1"),
    /* Keeps updated_at within 10 s of the last activity without writing the
     * sweep's row on every finish. */
    [S_TOUCH] = "UPDATE sweeps SET updated_at = " NOW_EPOCH
                " WHERE id = $1 AND updated_at < " NOW_EPOCH " - 10",
    [S_TRIAL_INSERT] = "INSERT INTO trials(sweep_id, number, key, params_json, created_at) "
                       "SELECT $1, n, k, p, " NOW_EPOCH " FROM unnest($2::bigint[], $3::text[], "
                       "$4::text[]) AS u(n, k, p) ON CONFLICT (sweep_id, number) DO NOTHING "
                       "RETURNING number",
    [S_TRIAL_KEYS] = "SELECT key FROM trials WHERE sweep_id = $1",
    [S_TRIAL_FENCE] = "SELECT state, attempt, cancel_requested FROM trials WHERE id = $1",
    [S_TRIAL_GET] = TRIAL_COLS("s.name") " FROM trials t JOIN sweeps s ON s.id = t.sweep_id "
                                         "WHERE s.name = $1 AND t.number = $2",
    [S_REAP] = "UPDATE trials t SET failures = t.failures + 1, "
               "state = CASE WHEN t.failures + 1 >= s.max_attempts THEN 3 ELSE 0 END, "
               "finished_at = " NOW_EPOCH ", last_outcome = 5, lease_expires = 0, "
               "error = 'lease expired: agent ' || coalesce(t.agent_id, '?') || "
               "' stopped renewing it' FROM sweeps s WHERE s.id = t.sweep_id AND t.id IN "
               "(SELECT id FROM trials WHERE state = 1 AND lease_expires < " NOW_EPOCH
               " FOR UPDATE SKIP LOCKED) RETURNING t.sweep_id",
    /* One statement: lock the lowest pending trials nobody else holds, make
     * them running. The trigger trials_archive keeps an earlier attempt. */
    [S_CLAIM] = CLAIM_SQL("NULL", ""),
    /* The same for request $6, only when S_CLAIM_REQ_PUT stored it in this
     * transaction (a new request, not a repeat). */
    [S_CLAIM_REQ] = CLAIM_SQL("$6", "EXISTS (SELECT 1 FROM claim_requests WHERE "
                                    "agent_id = $2 AND sweep_id = $1 AND "
                                    "claimed_tx = txid_current()) AND "),
    /* A row back: the request is new (or the sweep's first from the agent);
     * none: a repeat of the latest, or no such sweep. */
    [S_CLAIM_REQ_PUT] =
        "INSERT INTO claim_requests(agent_id, sweep_id, request_id, claimed_at, claimed_tx) "
        "SELECT $1, id, $3, " NOW_EPOCH ", txid_current() FROM sweeps WHERE id = $2 "
        "ON CONFLICT (agent_id, sweep_id) DO UPDATE SET request_id = excluded.request_id, "
        "claimed_at = excluded.claimed_at, claimed_tx = excluded.claimed_tx "
        "WHERE claim_requests.request_id <> excluded.request_id RETURNING 1",
    /* A re-claim sets agent_id and claim_request anew, so a running trial
     * that still has both is at the attempt the request made. */
    [S_CLAIM_REPLAY] = "SELECT id, number, attempt, failures, params_json, key, lease_expires "
                       "FROM trials WHERE state = 1 AND sweep_id = $1 AND agent_id = $2 "
                       "AND claim_request = $3",
    /* $4: the outcome uses a try; $5: the next state unless tries ran out. */
    [S_FINISH] = "UPDATE trials t SET failures = t.failures + $4, "
                 "state = CASE WHEN $4 = 1 AND t.failures + 1 >= s.max_attempts THEN 3 "
                 "ELSE $5 END, finished_at = " NOW_EPOCH ", last_outcome = $3, exit_code = $6, "
                 "term_signal = $7, error = $8, metrics_json = coalesce($9::jsonb, "
                 "t.metrics_json), lease_expires = 0, stopped_step = $10 FROM sweeps s "
                 "WHERE t.id = $1 AND "
                 "t.attempt = $2 AND t.state = 1 AND s.id = t.sweep_id "
                 "RETURNING t.sweep_id, t.state",
    /* One statement for the whole batch: renew, mark the agent seen, and
     * say for each lease whether it was renewed or cancelled. */
    [S_HEARTBEAT] =
        "WITH l AS (SELECT * FROM unnest($2::bigint[], $3::int[]) AS l(id, attempt)), "
        "renewed AS (UPDATE trials t SET lease_expires = " NOW_EPOCH " + s.lease_ttl "
        "FROM l, sweeps s WHERE t.id = l.id AND t.attempt = l.attempt AND t.state = 1 "
        "AND s.id = t.sweep_id RETURNING t.id), "
        "seen AS (INSERT INTO agents(id, started_at, last_seen) VALUES ($1, " NOW_EPOCH
        ", " NOW_EPOCH ") ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen) "
        "SELECT l.id, l.attempt, r.id IS NOT NULL, coalesce(t.state = 4 AND "
        "t.attempt = l.attempt AND t.cancel_requested, false) FROM l "
        "LEFT JOIN renewed r ON r.id = l.id LEFT JOIN trials t ON t.id = l.id",
    [S_AGENT_REGISTER] = "INSERT INTO agents(id, host, pid, slots, gpus_json, version, "
                         "started_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, " NOW_EPOCH
                         ", " NOW_EPOCH ") ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
                         "pid = excluded.pid, slots = excluded.slots, "
                         "gpus_json = excluded.gpus_json, version = excluded.version, "
                         "started_at = excluded.started_at, last_seen = excluded.last_seen",
    [S_AGENT_DELETE] = "WITH r AS (DELETE FROM claim_requests WHERE agent_id = $1) "
                       "DELETE FROM agents WHERE id = $1",
    [S_AGENTS] = "SELECT a.id, a.host, a.pid, a.slots, a.gpus_json, a.version, a.started_at, "
                 "a.last_seen, (SELECT count(*) FROM trials t WHERE t.state = 1 AND "
                 "t.agent_id = a.id) FROM agents a ORDER BY a.started_at, a.id",
    [S_METRICS_PATCH] = "UPDATE trials SET metrics_json = metrics_json || $3::jsonb "
                        "WHERE id = $1 AND attempt = $2 AND state = 1",
    [S_METRIC_INSERT] = "INSERT INTO metrics(trial_id, attempt, step, time, name, value) "
                        "SELECT $1, $2, s, coalesce(tm, " NOW_EPOCH "), n, v FROM "
                        "unnest($3::bigint[], $4::float8[], $5::text[], $6::float8[]) "
                        "AS u(s, tm, n, v)",
    [S_METRICS_GET] = "SELECT attempt, step, time, name, value FROM metrics WHERE trial_id = $1 "
                      "ORDER BY attempt, seq",
    /* One value per trial: its current attempt's last row at the step
     * (metrics_trial_step finds it); $4: succeeded trials only. */
    [S_BAND_VALUES] = "SELECT v FROM (SELECT (SELECT m.value FROM metrics m WHERE "
                      "m.trial_id = t.id AND m.attempt = t.attempt AND m.name = $2 AND "
                      "m.step = $3 ORDER BY m.seq DESC LIMIT 1) AS v FROM trials t "
                      "WHERE t.sweep_id = $1 AND t.attempt > 0 AND "
                      "(NOT $4::boolean OR t.state = 2)) b WHERE v IS NOT NULL",
    [S_IMPORT] = "UPDATE trials SET state = 2, last_outcome = 1, metrics_json = $2::jsonb, "
                 "finished_at = " NOW_EPOCH ", error = NULL WHERE id = $1 AND state = 0 "
                 "RETURNING sweep_id",
    [S_ATTEMPTS] = "SELECT attempt, agent_id, started_at, finished_at, outcome, exit_code, "
                   "signal, error FROM attempts WHERE trial_id = $1 UNION ALL "
                   "SELECT attempt, agent_id, started_at, finished_at, last_outcome, exit_code, "
                   "term_signal, error FROM trials WHERE id = $1 AND attempt > 0 ORDER BY 1",
    [S_CANCEL_TRIALS] = "UPDATE trials SET state = 4, cancel_requested = (state = 1), "
                        "last_outcome = CASE WHEN state = 1 THEN 6 ELSE last_outcome END, "
                        "error = CASE WHEN state = 1 THEN 'cancelled by the user' "
                        "ELSE error END, lease_expires = 0, "
                        "finished_at = CASE WHEN state = 1 THEN " NOW_EPOCH
                        " ELSE finished_at END WHERE sweep_id = $1 AND state IN (0, 1)",
    [S_CANCEL_SWEEP] = "UPDATE sweeps SET state = 2, finished_at = " NOW_EPOCH
                       ", updated_at = " NOW_EPOCH " WHERE id = $1 AND state IN (0, 1)",
    [S_RETRY] = "UPDATE trials SET state = 0, failures = 0, cancel_requested = false, "
                "lease_expires = 0 WHERE sweep_id = $1 AND "
                "((state = 3 AND $2::boolean) OR (state = 4 AND $3::boolean))",
    [S_REOPEN] = "UPDATE sweeps SET state = 0, finished_at = 0, updated_at = " NOW_EPOCH
                 " WHERE id = $1 AND state IN (2, 3)",
    [S_GC] = "WITH d AS (DELETE FROM sweeps WHERE state IN (2, 3) AND finished_at > 0 "
             "AND finished_at < $1 RETURNING id, name) SELECT name FROM d ORDER BY id",
    /* The completion's lease (store.h): completion_expires 0 means nobody
     * holds it; completion_claimed means done (or given up). */
    [S_COMPLETION] =
        "UPDATE sweeps SET completion_by = $2, completion_at = " NOW_EPOCH ", "
        "completion_expires = " NOW_EPOCH " + lease_ttl WHERE id = $1 AND NOT completion_claimed "
        "AND completion_expires < " NOW_EPOCH " AND completion_retry_at <= " NOW_EPOCH " "
        "AND state IN (2, 3) AND NOT " HAS_STATE("$1", "0") " AND NOT " HAS_STATE("$1", "1"),
#define HOLDER                                                                                     \
    "id = $1 AND completion_by = $2 AND NOT completion_claimed AND completion_expires > 0"
    [S_COMPLETION_RENEW] = "UPDATE sweeps SET completion_expires = " NOW_EPOCH " + lease_ttl "
                           "WHERE " HOLDER,
    [S_COMPLETION_DONE] = "UPDATE sweeps SET completion_claimed = true, completion_expires = 0 "
                          "WHERE " HOLDER,
    [S_COMPLETION_FAILED] =
        "UPDATE sweeps SET completion_failures = completion_failures + 1, completion_expires = 0, "
        "completion_retry_at = " NOW_EPOCH " + least($4::float8, least($3::float8, lease_ttl) * "
        "power(2, least(completion_failures, 20))), "
        "completion_claimed = completion_failures + 1 >= max_attempts WHERE " HOLDER,
#undef HOLDER
    /* No row returned: the trial does not exist. */
    [S_LOG_PUT] = "INSERT INTO logs(trial_id, attempt, updated_at, text) "
                  "SELECT id, $2, " NOW_EPOCH ", decode($3, 'hex') FROM trials WHERE id = $1 "
                  "ON CONFLICT (trial_id, attempt) DO UPDATE SET updated_at = excluded.updated_at, "
                  "text = excluded.text RETURNING attempt",
    /* $2 = 0: the latest attempt stored. */
    [S_LOG_GET] = "SELECT encode(text, 'hex') FROM logs WHERE trial_id = $1 "
                  "AND ($2 = 0 OR attempt = $2) ORDER BY attempt DESC LIMIT 1",
    /* Proposals to one sweep add their trials one after the other (a short
     * lock: the model ran before), so none passes the cap. */
    [S_ADD_CLAIM_SWEEP] = "SELECT state, open_ended, total, n_total, next_number FROM sweeps "
                          "WHERE id = $1 FOR NO KEY UPDATE",
    /* Column 7: the trial is this agent's first attempt, still running. */
    [S_ADD_CLAIM_KEY] = "SELECT id, number, attempt, failures, params_json, key, lease_expires, "
                        "state = 1 AND attempt = 1 AND agent_id = $3 FROM trials "
                        "WHERE sweep_id = $1 AND key = $2",
    [S_ADD_CLAIM_INSERT] = "INSERT INTO trials(sweep_id, number, key, params_json, created_at, "
                           "state, attempt, agent_id, lease_expires, started_at) SELECT $1, $2, "
                           "$3, $4, " NOW_EPOCH ", 1, 1, $5, " NOW_EPOCH " + lease_ttl, " NOW_EPOCH
                           " FROM sweeps WHERE id = $1 RETURNING id, number, attempt, failures, "
                           "params_json, key, lease_expires",
};

typedef struct pg_store {
    struct store base; /* first: store * <-> pg_store * */
    PGconn *conn;
    char *conninfo; /* the URL as given: libpq parses it */
    char *shown;    /* the URL without its password, for messages */
    bool prepared[S_COUNT];
    bool broken;     /* the connection is gone: reconnect before the next call */
    bool retryable;  /* the last error was a serialization failure or deadlock */
    double backoff;  /* seconds to wait before the next reconnect */
    double retry_at; /* time_mono() of the next reconnect */
    uint64_t rng;
    /* Where this connection's next claim starts looking: one past the
     * highest number it claimed last (claims are done in number order, so
     * below it lie the dead index entries of claimed trials). The claim
     * ignores it when sweeps.reopened moved since (a trial of the sweep went
     * back to pending: reaped, retried, failed with tries left, preempted,
     * or trials were added); it scans from the start every FULL_SCAN_EVERY
     * claims and when it found fewer than it asked for. */
    int64_t hint_sweep;
    uint64_t hint;
    int64_t hint_epoch; /* sweeps.reopened when the hint was taken */
    unsigned claims_since_full;
} pg_store;

static pg_store *to_pg(store *st)
{
    return (pg_store *)st;
}

/* ---- parameters ------------------------------------------------------------- */

/* Text parameters for one statement; NULL values are SQL NULL. */
typedef struct pargs {
    int n;
    const char *v[MAX_PARAMS];
    char buf[MAX_PARAMS][32];
} pargs;

static void pa_text(pargs *p, const char *t)
{
    if (p->n >= MAX_PARAMS)
        SQ_BUG("too many statement parameters");
    p->v[p->n++] = t;
}

static void pa_int(pargs *p, int64_t x)
{
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%lld", (long long)x);
    pa_text(p, p->buf[p->n]);
}

static void pa_dbl(pargs *p, double x)
{
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%.17g", x);
    pa_text(p, p->buf[p->n]);
}

static void pa_bool(pargs *p, bool b)
{
    pa_text(p, b ? "true" : "false");
}

/* Appends s as an element of a PostgreSQL array literal ("..." quoted). */
static void array_add_text(strbuf *sb, const char *s)
{
    sb_addc(sb, sb->len > 1 ? ',' : '{');
    if (!s) {
        sb_adds(sb, "NULL");
        return;
    }
    sb_addc(sb, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_addc(sb, '\\');
        sb_addc(sb, *s);
    }
    sb_addc(sb, '"');
}

static void array_start(strbuf *sb)
{
    sb_reset(sb);
    sb_addc(sb, ' '); /* placeholder for '{', so len > 1 marks a later element */
}

/* The literal: "{...}"; an empty array is "{}". */
static const char *array_end(strbuf *sb)
{
    if (sb->len == 1)
        sb_addc(sb, '{');
    sb_addc(sb, '}');
    return sb_str(sb) + 1;
}

/* ---- errors -------------------------------------------------------------- */

/* The message of res (or the connection) without its trailing newline. */
static const char *pg_message(pg_store *s, const PGresult *res, char *buf, size_t size)
{
    const char *m = res ? pq.resultErrorMessage(res) : "";
    if (!m || !*m)
        m = s->conn ? pq.errorMessage(s->conn) : "no connection";
    snprintf(buf, size, "%s", m);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    for (char *c = buf; *c; c++) {
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    }
    return buf;
}

/* Maps a failed result (or a NULL one) to an SQ_E* code with the message. */
static int pg_fail(pg_store *s, const PGresult *res, const char *what)
{
    const char *state = res ? pq.resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512];
    pg_message(s, res, msg, sizeof msg);
    s->retryable = false;
    if (!s->conn || pq.status(s->conn) == CONNECTION_BAD ||
        (state && strncmp(state, "08", 2) == 0) || (state && strncmp(state, "57P", 3) == 0)) {
        s->broken = true;
        return sq_error_set(SQ_EIO,
                            "cannot %s: lost the connection to store '%s': %s: the next call "
                            "reconnects",
                            what, s->shown, msg);
    }
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
                  strcmp(state, "55P03") == 0)) {
        s->retryable = true;
        return sq_error_set(SQ_EBUSY, "cannot %s in store '%s': %s: retry later", what, s->shown,
                            msg);
    }
    int code = state && strcmp(state, "23505") == 0    ? SQ_ECONFLICT
               : state && strncmp(state, "22", 2) == 0 ? SQ_EINVAL
                                                       : SQ_ERROR;
    return sq_error_set(code, "cannot %s in store '%s': %s", what, s->shown, msg);
}

/* ---- statements -------------------------------------------------------------- */

/* Checks res; on success *out gets it (or it is cleared when out is NULL). */
static int take_result(pg_store *s, PGresult *res, PGresult **out, const char *what)
{
    ExecStatusType st = res ? pq.resultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pg_fail(s, res, what);
        pq.clear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        pq.clear(res);
    return 0;
}

/* Prepares statement id on this connection (once) and names it. */
static int q_prepare(pg_store *s, enum stmt_id id, char name[16], const char *what)
{
    snprintf(name, 16, "s%d", (int)id);
    if (s->prepared[id])
        return 0;
    int rc = take_result(s, pq.prepare(s->conn, name, stmt_sql[id], 0, NULL), NULL, what);
    if (rc == 0)
        s->prepared[id] = true;
    return rc;
}

/* Runs the cached statement id (prepared on first use on this connection). */
static int q_run(pg_store *s, enum stmt_id id, const pargs *p, PGresult **out, const char *what)
{
    char name[16];
    if (out)
        *out = NULL;
    int rc = q_prepare(s, id, name, what);
    if (rc < 0)
        return rc;
    PGresult *res = pq.execPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    return take_result(s, res, out, what);
}

/* One statement of a pipeline: the cached statement id, or sql when set. */
typedef struct pstep {
    enum stmt_id id;
    const char *sql;
    const pargs *p;
} pstep;

/* The connection is in a state this file cannot trust: drop it. */
static int pipe_broken(pg_store *s, const char *what)
{
    char msg[512];
    pg_message(s, NULL, msg, sizeof msg);
    s->broken = true;
    s->retryable = false;
    return sq_error_set(SQ_EIO,
                        "cannot %s: lost the connection to store '%s': %s: the next call "
                        "reconnects",
                        what, s->shown, msg);
}

/*
 * Sends n statements in one libpq pipeline (one network round trip) and
 * reads their results: out[i] gets step i's (the caller clears them). The
 * first failure is returned and the steps after it did not run; inside a
 * transaction the caller then rolls back. This is how a claim or a finish
 * costs two round trips instead of four or five.
 */
static int q_pipeline(pg_store *s, const pstep *steps, size_t n, PGresult **out, const char *what)
{
    char names[8][16];
    int rc = 0;
    if (n > ARRAY_SIZE(names))
        SQ_BUG("pipeline of %zu statements", n);
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!steps[i].sql)
            rc = q_prepare(s, steps[i].id, names[i], what);
    }
    if (rc < 0)
        return rc;
    if (!pq.enterPipelineMode(s->conn))
        return pipe_broken(s, what);
    for (size_t i = 0; i < n; i++) {
        const pargs *p = steps[i].p;
        int np = p ? p->n : 0;
        const char *const *v = p ? p->v : NULL;
        int ok = steps[i].sql
                     ? pq.sendQueryParams(s->conn, steps[i].sql, np, NULL, v, NULL, NULL, 0)
                     : pq.sendQueryPrepared(s->conn, names[i], np, v, NULL, NULL, 0);
        if (!ok)
            return pipe_broken(s, what);
    }
    if (!pq.pipelineSync(s->conn))
        return pipe_broken(s, what);
    for (size_t i = 0; i < n; i++) {
        PGresult *r = pq.getResult(s->conn);
        if (!r || pq.status(s->conn) == CONNECTION_BAD) {
            pq.clear(r);
            rc = pipe_broken(s, what);
            goto out;
        }
        ExecStatusType st = pq.resultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            out[i] = r;
        } else {
            if (st != PGRES_PIPELINE_ABORTED && rc == 0)
                rc = pg_fail(s, r, what);
            pq.clear(r);
        }
        PGresult *end = pq.getResult(s->conn); /* each statement's results end with NULL */
        if (end) {
            pq.clear(end);
            rc = pipe_broken(s, what);
            goto out;
        }
    }
    PGresult *sync = pq.getResult(s->conn);
    bool synced = sync && pq.resultStatus(sync) == PGRES_PIPELINE_SYNC;
    pq.clear(sync);
    if (!synced || !pq.exitPipelineMode(s->conn))
        rc = pipe_broken(s, what);
out:
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) {
            pq.clear(out[i]);
            out[i] = NULL;
        }
    }
    return rc;
}

/* Runs SQL built per call (list queries with variable filters). */
static int q_sql(pg_store *s, const char *sql, const pargs *p, PGresult **out, const char *what)
{
    if (out)
        *out = NULL;
    PGresult *res = pq.execParams(s->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0);
    return take_result(s, res, out, what);
}

static char *col_text(const PGresult *r, int row, int col)
{
    return pq.getisnull(r, row, col) ? NULL : xstrdup(pq.getvalue(r, row, col));
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return pq.getisnull(r, row, col) ? 0 : strtoll(pq.getvalue(r, row, col), NULL, 10);
}

static int col_int(const PGresult *r, int row, int col)
{
    return (int)col_i64(r, row, col);
}

static double col_dbl(const PGresult *r, int row, int col)
{
    return pq.getisnull(r, row, col) ? 0 : strtod(pq.getvalue(r, row, col), NULL);
}

static bool col_bool(const PGresult *r, int row, int col)
{
    return !pq.getisnull(r, row, col) && pq.getvalue(r, row, col)[0] == 't';
}

/* jsonb text ("{"a": 1}") as compact JSON ("{"a":1}"), as sqlite hands it out. */
static char *compact_json(const char *text)
{
    if (!text)
        return xstrdup("{}");
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    char *out = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    char *copy = xstrdup(out ? out : text);
    free(out);
    return copy;
}

/* ---- connections and transactions ------------------------------------------ */

static void disconnect(pg_store *s)
{
    if (s->conn)
        pq.finish(s->conn);
    s->conn = NULL;
    memset(s->prepared, 0, sizeof s->prepared);
}

/*
 * Connects with conninfo, under defaults that conninfo (or the PG*
 * environment) overrides: give up connecting after CONNECT_TIMEOUT, and
 * notice a peer that vanished mid-call within about half a minute (TCP
 * keepalives and a user timeout) rather than the system's hours, so that an
 * agent cut off from the database gets SQ_EIO and keeps its trials running.
 */
static PGconn *connect_with_defaults(const char *conninfo)
{
    static const char *const keys[] = {"connect_timeout",     "keepalives_idle",
                                       "keepalives_interval", "keepalives_count",
                                       "tcp_user_timeout",    "dbname"};
    static const char *const envs[] = {"PGCONNECT_TIMEOUT", NULL, NULL, NULL, NULL, NULL};
    static const char *const defaults[] = {CONNECT_TIMEOUT, "10", "5", "3", "30000", NULL};
    const char *k[ARRAY_SIZE(keys) + 1], *v[ARRAY_SIZE(keys) + 1];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (envs[i] && getenv(envs[i]))
            continue;
        k[n] = keys[i];
        v[n++] = defaults[i] ? defaults[i] : conninfo; /* dbname last: expanded, it wins */
    }
    k[n] = v[n] = NULL;
    return pq.connectdbParams(k, v, 1);
}

/*
 * Makes sure there is a working connection: after a loss, waits out the
 * backoff and connects anew (prepared statements are per connection).
 */
static int ensure_conn(pg_store *s)
{
    if (s->conn && !s->broken && pq.status(s->conn) == CONNECTION_OK)
        return 0;
    double wait = s->retry_at - time_mono();
    if (wait > 0)
        time_sleep(wait);
    disconnect(s);
    s->conn = connect_with_defaults(s->conninfo);
    if (s->conn && pq.status(s->conn) == CONNECTION_OK) {
        s->broken = false;
        s->backoff = 0;
        s->retry_at = 0;
        pq.setNoticeProcessor(s->conn, NULL, NULL);
        return 0;
    }
    char msg[512];
    pg_message(s, NULL, msg, sizeof msg);
    s->broken = true;
    s->backoff = s->backoff <= 0 ? BACKOFF_MIN : s->backoff * 2;
    if (s->backoff > BACKOFF_MAX)
        s->backoff = BACKOFF_MAX;
    s->retry_at = time_mono() + s->backoff;
    return sq_error_set(SQ_EIO, "cannot connect to store '%s': %s: retrying in %.2f s", s->shown,
                        msg, s->backoff);
}

static int simple(pg_store *s, const char *sql, const char *what)
{
    return take_result(s, pq.exec(s->conn, sql), NULL, what);
}

/* Rolls back after an error; keeps the caller's error message. */
static void rollback(pg_store *s)
{
    if (s->broken || !s->conn || pq.transactionStatus(s->conn) == PQTRANS_IDLE)
        return;
    char saved[512];
    int code = sq_error_code();
    snprintf(saved, sizeof saved, "%s", sq_error_msg());
    bool retry = s->retryable;
    pq.clear(pq.exec(s->conn, "ROLLBACK"));
    s->retryable = retry;
    sq_error_set(code, "%s", saved);
}

typedef int (*op_fn)(pg_store *s, void *arg);

/*
 * Runs fn in a transaction (tx) or on its own (one statement is its own
 * transaction). A serialization failure or deadlock runs it again after a
 * short random pause: fn must start from its argument's initial state each
 * time (it resets what it hands out).
 */
static int run_op(pg_store *s, bool tx, op_fn fn, void *arg)
{
    int rc = 0;
    for (int tries = 1;; tries++) {
        if ((rc = ensure_conn(s)) < 0)
            return rc;
        s->retryable = false;
        rc = tx ? simple(s, "BEGIN", "start a transaction") : 0;
        if (rc == 0)
            rc = fn(s, arg);
        if (rc == 0 && tx)
            rc = simple(s, "COMMIT", "commit a transaction");
        if (rc == 0)
            return 0;
        rollback(s);
        if (!s->retryable || tries >= TX_TRIES)
            return rc;
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        time_sleep(0.001 * (double)(1 + s->rng % (uint64_t)(2 << tries)));
    }
}

/* ---- opening ------------------------------------------------------------- */

/* The URL with a password (URL or keyword form) replaced by "***". */
static char *redact(const char *url)
{
    char *out = xstrdup(url);
    char *p = strstr(out, "://");
    if (p) {
        char *auth = p + 3, *end = auth + strcspn(auth, "/?");
        char *at = memchr(auth, '@', (size_t)(end - auth));
        char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            char *r = xasprintf("%.*s:***%s", (int)(colon - out), out, at);
            free(out);
            out = r;
        }
    }
    p = strstr(out, "password=");
    if (p) {
        char *end = p + 9 + strcspn(p + 9, " &");
        char *r = xasprintf("%.*s***%s", (int)(p + 9 - out), out, end);
        free(out);
        out = r;
    }
    return out;
}

static int migrate_fn(pg_store *s, void *arg)
{
    const int64_t latest = (int64_t)ARRAY_SIZE(schema_postgres_migrations);
    PGresult *r = NULL;
    pargs p = {0};
    pa_int(&p, SCHEMA_POSTGRES_LOCK);
    int rc = q_sql(s, "SELECT pg_advisory_xact_lock($1)", &p, NULL, "lock the schema");
    if (rc == 0)
        rc = simple(s, "SET LOCAL client_min_messages = warning", "create the schema");
    if (rc == 0)
        rc = simple(s, "CREATE TABLE IF NOT EXISTS sweepq_schema (version int NOT NULL)",
                    "create the schema table");
    if (rc == 0)
        rc = q_sql(s, "SELECT coalesce(max(version), 0) FROM sweepq_schema", NULL, &r,
                   "read the schema version");
    if (rc < 0)
        return rc;
    int64_t version = col_i64(r, 0, 0);
    pq.clear(r);
    if (version > latest)
        return sq_error_set(SQ_EINVAL,
                            "cannot open store '%s': its schema version %lld is newer than this "
                            "sweepq's (%lld): use a newer sweepq",
                            s->shown, (long long)version, (long long)latest);
    for (int64_t v = version; v < latest; v++) {
        char what[64];
        snprintf(what, sizeof what, "migrate the schema to version %lld", (long long)v + 1);
        if ((rc = simple(s, schema_postgres_migrations[v], what)) < 0)
            return rc;
    }
    if (version == latest)
        return 0;
    pargs q = {0};
    pa_int(&q, latest);
    if ((rc = simple(s, "DELETE FROM sweepq_schema", "record the schema version")) < 0)
        return rc;
    return q_sql(s, "INSERT INTO sweepq_schema(version) VALUES ($1)", &q, NULL,
                 "record the schema version");
}

static void pg_close(store *st)
{
    pg_store *s = to_pg(st);
    disconnect(s);
    free(s->conninfo);
    free(s->shown);
    free(s);
}

static int pg_open(store **out, const char *url, const char *location)
{
    pg_store *s = xcalloc(1, sizeof *s);
    /* "postgresql://..." is a libpq URL; "postgresql:host=h dbname=d" carries
     * libpq's keyword form after the scheme. */
    s->conninfo = xstrdup(strncmp(location, "//", 2) == 0 ? url : location);
    s->shown = redact(url);
    s->rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(time_mono() * 1e9) ^ 1;
    int rc = pq_load(s->shown);
    if (rc < 0)
        goto out;
    rc = ensure_conn(s); /* its message names the store */
    if (rc < 0)
        goto out;
    rc = run_op(s, true, migrate_fn, NULL);
out:
    if (rc < 0) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

/* The database's clock; the local one only while the database is away
 * (this slot has no error channel; every lease time is judged in SQL). */
static double pg_now(store *st)
{
    pg_store *s = to_pg(st);
    PGresult *r = NULL;
    if (ensure_conn(s) < 0 || q_run(s, S_NOW, NULL, &r, "read the clock") < 0)
        return time_now();
    double now = col_dbl(r, 0, 0);
    pq.clear(r);
    return now;
}

/* ---- reading rows ---------------------------------------------------------- */

static void read_sweep(const PGresult *q, int i, store_sweep *s)
{
    memset(s, 0, sizeof *s);
    s->id = col_i64(q, i, 0);
    s->name = col_text(q, i, 1);
    s->state = (sweep_state)col_int(q, i, 2);
    s->spec_json = col_text(q, i, 3);
    s->spec_yaml = col_text(q, i, 4);
    s->command_json = col_text(q, i, 5);
    store_tags_parse(pq.getvalue(q, i, 6), &s->tags, &s->ntags);
    s->metric_name = col_text(q, i, 7);
    s->maximize = col_bool(q, i, 8);
    s->max_attempts = col_int(q, i, 9);
    s->lease_ttl = col_dbl(q, i, 10);
    s->timeout = col_dbl(q, i, 11);
    s->cpus = col_int(q, i, 12);
    s->gpus = col_int(q, i, 13);
    s->gpu_memory = (uint64_t)col_i64(q, i, 14);
    s->open_ended = col_bool(q, i, 15);
    s->total = (uint64_t)col_i64(q, i, 16);
    s->next_number = (uint64_t)col_i64(q, i, 17);
    s->created_at = col_dbl(q, i, 18);
    s->updated_at = col_dbl(q, i, 19);
    s->finished_at = col_dbl(q, i, 20);
    uint64_t total = (uint64_t)col_i64(q, i, 21);
    s->counts.pending = (uint64_t)col_i64(q, i, 22);
    s->counts.running = (uint64_t)col_i64(q, i, 23);
    s->counts.failed = (uint64_t)col_i64(q, i, 24);
    s->counts.cancelled = (uint64_t)col_i64(q, i, 25);
    s->counts.stopped = (uint64_t)col_i64(q, i, 27);
    uint64_t other = s->counts.pending + s->counts.running + s->counts.failed +
                     s->counts.cancelled + s->counts.stopped;
    s->counts.succeeded = total > other ? total - other : 0;
    s->completion_claimed = col_bool(q, i, 26);
}

static void read_trial(const PGresult *q, int i, store_trial *t)
{
    memset(t, 0, sizeof *t);
    t->id = col_i64(q, i, 0);
    t->sweep_id = col_i64(q, i, 1);
    t->sweep_name = col_text(q, i, 2);
    t->number = (uint64_t)col_i64(q, i, 3);
    t->key = col_text(q, i, 4);
    t->params_json = col_text(q, i, 5);
    t->state = (trial_state)col_int(q, i, 6);
    t->attempt = col_int(q, i, 7);
    t->failures = col_int(q, i, 8);
    t->agent_id = col_text(q, i, 9);
    t->lease_expires = col_dbl(q, i, 10);
    t->created_at = col_dbl(q, i, 11);
    t->started_at = col_dbl(q, i, 12);
    t->finished_at = col_dbl(q, i, 13);
    t->exit_code = col_int(q, i, 14);
    t->term_signal = col_int(q, i, 15);
    t->last_outcome = (attempt_outcome)col_int(q, i, 16);
    t->error = col_text(q, i, 17);
    t->metrics_json = compact_json(pq.getisnull(q, i, 18) ? NULL : pq.getvalue(q, i, 18));
    t->cancel_requested = col_bool(q, i, 19);
    t->stopped_step = (uint64_t)col_i64(q, i, 20);
}

static int sweep_id_state(pg_store *s, const char *name, int64_t *id, int *state)
{
    *id = 0; /* defined on every return, so no caller reads garbage */
    *state = 0;
    PGresult *r;
    pargs p = {0};
    pa_text(&p, name);
    int rc = q_run(s, S_SWEEP_ID_STATE, &p, &r, "find a sweep");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 0)
        rc = sq_error_set(SQ_ENOTFOUND, "no sweep named '%s' in store '%s'", name, s->shown);
    else {
        *id = col_i64(r, 0, 0);
        *state = col_int(r, 0, 1);
    }
    pq.clear(r);
    return rc;
}

static int sweep_exists(pg_store *s, int64_t sweep_id)
{
    PGresult *r;
    pargs p = {0};
    pa_int(&p, sweep_id);
    int rc = q_run(s, S_SWEEP_STATE_BY_ID, &p, &r, "find a sweep");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 0)
        rc = sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'", (long long)sweep_id,
                          s->shown);
    pq.clear(r);
    return rc;
}

/* Runs a statement with one id parameter; *changed gets the rows it touched. */
static int run_id(pg_store *s, enum stmt_id id, int64_t arg, uint64_t *changed, const char *what)
{
    PGresult *r;
    pargs p = {0};
    pa_int(&p, arg);
    int rc = q_run(s, id, &p, &r, what);
    if (rc < 0)
        return rc;
    if (changed)
        *changed = strtoull(pq.cmdTuples(r), NULL, 10);
    pq.clear(r);
    return 0;
}

/*
 * After a trial of the sweep ended (inside the caller's transaction):
 * finishes the sweep when that was its last open trial. See the file
 * comment for why it locks a pending trial or the sweep's row first.
 */
static int settle(pg_store *s, int64_t sweep_id)
{
    PGresult *r;
    pargs p = {0};
    pa_int(&p, sweep_id);
    uint64_t n = 0;
    int rc = q_run(s, S_PENDING_PROBE, &p, &r, "update the sweep's state");
    if (rc < 0)
        return rc;
    int pending = pq.ntuples(r);
    pq.clear(r);
    if (pending == 0) {
        if ((rc = run_id(s, S_SWEEP_LOCK, sweep_id, NULL, "lock a sweep")) < 0 ||
            (rc = run_id(s, S_SETTLE, sweep_id, &n, "update the sweep's state")) < 0)
            return rc;
    }
    return n ? 0 : run_id(s, S_TOUCH, sweep_id, NULL, "update the sweep's state");
}

/* ---- sweeps ------------------------------------------------------------ */

/* As sqlite.c's: the stored settings from the row, compared by
 * store_settings_diff. */
static char *settings_diff(const PGresult *q, const store_sweep_def *def)
{
    store_sweep_def old = {
        .max_attempts = col_int(q, 0, 3),
        .cpus = col_int(q, 0, 4),
        .gpus = col_int(q, 0, 5),
        .gpu_memory = (uint64_t)col_i64(q, 0, 6),
        .metric_name = pq.getisnull(q, 0, 7) ? NULL : pq.getvalue(q, 0, 7),
        .maximize = col_bool(q, 0, 8),
        .open_ended = col_bool(q, 0, 9),
    };
    return store_settings_diff(&old, def);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The keys of a sweep's trials, sorted for bsearch; the caller frees. */
static int sweep_keys(pg_store *s, int64_t sweep_id, char ***out, size_t *n)
{
    PGresult *r;
    pargs p = {0};
    pa_int(&p, sweep_id);
    int rc = q_run(s, S_TRIAL_KEYS, &p, &r, "read trial keys");
    if (rc < 0)
        return rc;
    size_t len = (size_t)pq.ntuples(r);
    char **v = xcalloc(len ? len : 1, sizeof *v);
    for (size_t i = 0; i < len; i++)
        v[i] = col_text(r, (int)i, 0);
    pq.clear(r);
    if (len > 1)
        qsort(v, len, sizeof *v, cmp_str);
    *out = v;
    *n = len;
    return 0;
}

/*
 * Inserts trials in chunks of INSERT_CHUNK rows per statement; numbers
 * already stored are skipped. With edit, a trial whose key is stored is
 * skipped and one whose number is taken by another key is SQ_ECONFLICT.
 */
static int insert_trials(pg_store *s, int64_t sweep_id, const char *sweep_name,
                         const store_trial_def *trials, size_t n, bool edit, uint64_t *added,
                         uint64_t *max_number)
{
    char **keys = NULL;
    size_t nkeys = 0;
    strbuf nums = SB_INIT, ks = SB_INIT, ps = SB_INIT;
    uint64_t *sent = xcalloc(INSERT_CHUNK, sizeof *sent);
    int rc = edit ? sweep_keys(s, sweep_id, &keys, &nkeys) : 0;
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t nsent = 0;
        array_start(&nums);
        array_start(&ks);
        array_start(&ps);
        for (; i < n && nsent < INSERT_CHUNK; i++) {
            const store_trial_def *t = &trials[i];
            if (t->number > *max_number)
                *max_number = t->number;
            if (edit && nkeys && bsearch(&t->key, keys, nkeys, sizeof *keys, cmp_str))
                continue;
            sb_addc(&nums, nums.len > 1 ? ',' : '{');
            sb_addf(&nums, "%llu", (unsigned long long)t->number);
            array_add_text(&ks, t->key);
            array_add_text(&ps, t->params_json);
            sent[nsent++] = t->number;
        }
        if (nsent == 0)
            continue;
        pargs p = {0};
        pa_int(&p, sweep_id);
        pa_text(&p, array_end(&nums));
        pa_text(&p, array_end(&ks));
        pa_text(&p, array_end(&ps));
        PGresult *r;
        if ((rc = q_run(s, S_TRIAL_INSERT, &p, &r, "add trials")) < 0)
            break;
        size_t got = (size_t)pq.ntuples(r);
        *added += got;
        if (edit && got < nsent) {
            /* the first number sent that was not inserted names the conflict */
            uint64_t *ins = xcalloc(got ? got : 1, sizeof *ins);
            for (size_t j = 0; j < got; j++)
                ins[j] = (uint64_t)col_i64(r, (int)j, 0);
            qsort(ins, got, sizeof *ins, cmp_u64);
            uint64_t taken = 0;
            for (size_t j = 0; j < nsent && !taken; j++) {
                if (!got || !bsearch(&sent[j], ins, got, sizeof *ins, cmp_u64))
                    taken = sent[j];
            }
            free(ins);
            rc = sq_error_set(SQ_ECONFLICT,
                              "cannot update sweep '%s': trial %llu is taken by other "
                              "parameters, so the edited spec renumbers existing trials: add "
                              "new values at the end of a list, or use another 'name:' in the "
                              "spec",
                              sweep_name, (unsigned long long)taken);
        }
        pq.clear(r);
    }
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    free(sent);
    sb_release(&nums);
    sb_release(&ks);
    sb_release(&ps);
    return rc;
}

static int count_added(pg_store *s, int64_t sweep_id, uint64_t added, uint64_t max_number)
{
    pargs p = {0};
    pa_int(&p, sweep_id);
    pa_int(&p, (int64_t)added);
    pa_int(&p, (int64_t)max_number + 1);
    return q_run(s, S_SWEEP_ADDED, &p, NULL, "count new trials");
}

typedef struct create_op {
    const store_sweep_def *def;
    int64_t id;
    uint64_t added;
} create_op;

/* The existing sweep (locked): the same, an edited grid, or a conflict. */
static int create_existing(pg_store *s, create_op *op, const PGresult *q, uint64_t *max_number)
{
    const store_sweep_def *def = op->def;
    op->id = col_i64(q, 0, 0);
    bool same_spec = store_same_text(pq.getvalue(q, 0, 1), def->spec_json);
    bool same_command = store_same_text(pq.getvalue(q, 0, 2), def->command_json);
    char *diff = settings_diff(q, def);
    /* tags given again add to the stored ones (a union), as in sqlite.c */
    bool new_tags = false;
    char *tags = store_tags_json(pq.getvalue(q, 0, 10), def, &new_tags);
    int rc = 0;
    if (!same_command) {
        rc = sq_error_set(SQ_ECONFLICT,
                          "sweep '%s' exists with another command: use another 'name:' in "
                          "the spec, or cancel and delete the old one with 'sweepq cancel "
                          "%s' and 'sweepq gc --older-than 0'",
                          def->name, def->name);
    } else if (*diff) {
        rc = sq_error_set(SQ_ECONFLICT,
                          "sweep '%s' exists with other settings (%s): use another 'name:' "
                          "in the spec, or cancel and delete the old one with 'sweepq "
                          "cancel %s' and 'sweepq gc --older-than 0'",
                          def->name, diff, def->name);
    } else if (!same_spec) {
        rc = insert_trials(s, op->id, def->name, def->trials, def->ntrials, true, &op->added,
                           max_number);
        if (rc == 0) {
            pargs p = {0};
            pa_int(&p, op->id);
            pa_text(&p, def->spec_json);
            pa_text(&p, def->spec_yaml);
            pa_text(&p, tags);
            pa_dbl(&p, def->lease_ttl);
            pa_dbl(&p, def->timeout);
            pa_int(&p, (int64_t)def->total);
            rc = q_run(s, S_SWEEP_EDIT, &p, NULL, "update a sweep");
        }
        if (rc == 0)
            rc = count_added(s, op->id, op->added, *max_number);
    } else if (new_tags) {
        pargs p = {0};
        pa_int(&p, op->id);
        pa_text(&p, tags);
        rc = q_run(s, S_SWEEP_TAGS, &p, NULL, "add tags to a sweep");
    }
    free(diff);
    free(tags);
    return rc;
}

static int create_fn(pg_store *s, void *arg)
{
    create_op *op = arg;
    const store_sweep_def *def = op->def;
    uint64_t max_number = 0;
    PGresult *r = NULL;
    op->id = 0;
    op->added = 0;
    pargs p = {0};
    pa_text(&p, def->name);
    int rc = q_run(s, S_SWEEP_FOR_CREATE, &p, &r, "find a sweep");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 0) {
        pq.clear(r);
        pargs q = {0};
        pa_text(&q, def->name);
        pa_text(&q, def->spec_json);
        pa_text(&q, def->spec_yaml);
        pa_text(&q, def->command_json);
        char *tags = store_tags_json(NULL, def, NULL);
        pa_text(&q, tags);
        pa_text(&q, def->metric_name);
        pa_bool(&q, def->maximize);
        pa_int(&q, def->max_attempts);
        pa_dbl(&q, def->lease_ttl);
        pa_dbl(&q, def->timeout);
        pa_int(&q, def->cpus);
        pa_int(&q, def->gpus);
        pa_int(&q, (int64_t)def->gpu_memory);
        pa_bool(&q, def->open_ended);
        pa_int(&q, (int64_t)def->total);
        rc = q_run(s, S_SWEEP_INSERT, &q, &r, "create a sweep");
        free(tags);
        if (rc < 0)
            return rc;
        if (pq.ntuples(r) == 1) {
            op->id = col_i64(r, 0, 0);
            pq.clear(r);
            if ((rc = insert_trials(s, op->id, def->name, def->trials, def->ntrials, false,
                                    &op->added, &max_number)) < 0)
                return rc;
            return count_added(s, op->id, op->added, max_number);
        }
        /* Another machine created it meanwhile (and committed: ON CONFLICT
         * waited for it); this statement's new snapshot sees it. */
        pq.clear(r);
        if ((rc = q_run(s, S_SWEEP_FOR_CREATE, &p, &r, "find a sweep")) < 0)
            return rc;
        if (pq.ntuples(r) == 0) {
            pq.clear(r);
            return sq_error_set(SQ_EBUSY,
                                "cannot create sweep '%s': it was deleted while "
                                "being created: run the command again",
                                def->name);
        }
    }
    rc = create_existing(s, op, r, &max_number);
    pq.clear(r);
    return rc;
}

static int pg_create_sweep(store *st, const store_sweep_def *def, int64_t *out_id,
                           uint64_t *out_added)
{
    pg_store *s = to_pg(st);
    create_op op = {.def = def};
    int rc = run_op(s, true, create_fn, &op);
    if (rc < 0)
        return rc;
    *out_id = op.id;
    *out_added = op.added;
    return 0;
}

typedef struct add_op {
    int64_t sweep_id;
    const store_trial_def *trials;
    size_t n;
    uint64_t added;
} add_op;

static int add_fn(pg_store *s, void *arg)
{
    add_op *op = arg;
    uint64_t max_number = 0;
    op->added = 0;
    int rc = sweep_exists(s, op->sweep_id);
    if (rc == 0)
        rc = insert_trials(s, op->sweep_id, "", op->trials, op->n, false, &op->added, &max_number);
    if (rc == 0)
        rc = count_added(s, op->sweep_id, op->added, max_number);
    return rc;
}

static int pg_add_trials(store *st, int64_t sweep_id, const store_trial_def *trials, size_t n,
                         uint64_t *out_added)
{
    add_op op = {.sweep_id = sweep_id, .trials = trials, .n = n};
    int rc = run_op(to_pg(st), true, add_fn, &op);
    if (rc == 0)
        *out_added = op.added;
    return rc;
}

typedef struct read_op {
    const char *name;
    int64_t id;
    uint64_t number;
    const store_sweep_filter *filter;
    const store_trial_query *query;
    store_sweep *sweeps;
    store_trial *trials;
    store_attempt *attempts;
    store_agent *agents;
    size_t n;
} read_op;

static int get_sweep_fn(pg_store *s, void *arg)
{
    read_op *op = arg;
    PGresult *r;
    pargs p = {0};
    pa_text(&p, op->name);
    int rc = q_run(s, S_SWEEP_BY_NAME, &p, &r, "read a sweep");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 0)
        rc = sq_error_set(SQ_ENOTFOUND, "no sweep named '%s' in store '%s'", op->name, s->shown);
    else {
        op->sweeps = xmalloc(sizeof *op->sweeps);
        read_sweep(r, 0, op->sweeps);
    }
    pq.clear(r);
    return rc;
}

static int pg_get_sweep(store *st, const char *name, store_sweep **out)
{
    read_op op = {.name = name};
    int rc = run_op(to_pg(st), false, get_sweep_fn, &op);
    if (rc == 0)
        *out = op.sweeps;
    return rc;
}

static int list_sweeps_fn(pg_store *s, void *arg)
{
    read_op *op = arg;
    const store_sweep_filter *f = op->filter;
    strbuf sql = SB_INIT;
    pargs p = {0};
    PGresult *r = NULL;
    sb_adds(&sql, SWEEP_COLS " WHERE true");
    strbuf names = SB_INIT;
    if (f->nnames) {
        array_start(&names);
        for (size_t i = 0; i < f->nnames; i++)
            array_add_text(&names, f->names[i]);
        pa_text(&p, array_end(&names));
        sb_addf(&sql, " AND name = ANY($%d::text[])", p.n);
    }
    if (f->tag) {
        pa_text(&p, f->tag);
        sb_addf(&sql, " AND tags_json::jsonb ? $%d", p.n);
    }
    if (f->since > 0) {
        pa_dbl(&p, f->since);
        sb_addf(&sql, " AND (created_at >= $%d OR updated_at >= $%d)", p.n, p.n);
    }
    if (f->runnable_only)
        sb_adds(&sql, " AND state = 0 AND (open_ended OR " HAS_STATE("sweeps.id", "0") ")");
    sb_adds(&sql, " ORDER BY created_at, id");
    int rc = q_sql(s, sb_str(&sql), &p, &r, "list sweeps");
    sb_release(&sql);
    sb_release(&names);
    if (rc < 0)
        return rc;
    op->n = (size_t)pq.ntuples(r);
    op->sweeps = op->n ? xcalloc(op->n, sizeof *op->sweeps) : NULL;
    for (size_t i = 0; i < op->n; i++)
        read_sweep(r, (int)i, &op->sweeps[i]);
    pq.clear(r);
    return 0;
}

static int pg_list_sweeps(store *st, const store_sweep_filter *f, store_sweep **out, size_t *n)
{
    read_op op = {.filter = f};
    int rc = run_op(to_pg(st), false, list_sweeps_fn, &op);
    if (rc < 0)
        return rc;
    *out = op.sweeps;
    *n = op.n;
    return 0;
}

typedef struct name_op {
    const char *name;
    sweep_state state;
    bool failed, cancelled;
    uint64_t n;
} name_op;

static int set_state_fn(pg_store *s, void *arg)
{
    name_op *op = arg;
    int64_t id;
    int cur;
    int rc = sweep_id_state(s, op->name, &id, &cur);
    if (rc < 0)
        return rc;
    if (cur == SWEEP_CANCELLED)
        return sq_error_set(SQ_ECONFLICT,
                            "cannot %s sweep '%s': it was cancelled: run 'sweepq retry %s "
                            "--cancelled' to run its cancelled trials again",
                            op->state == SWEEP_PAUSED ? "pause" : "resume", op->name, op->name);
    if (cur == SWEEP_FINISHED || cur == (int)op->state)
        return 0;
    pargs p = {0};
    pa_int(&p, id);
    pa_int(&p, (int)op->state);
    rc = q_run(s, S_SWEEP_SET_STATE, &p, NULL, "change a sweep's state");
    return rc < 0 ? rc : settle(s, id);
}

static int pg_set_sweep_state(store *st, const char *name, sweep_state state)
{
    name_op op = {.name = name, .state = state};
    return run_op(to_pg(st), true, set_state_fn, &op);
}

static int cancel_fn(pg_store *s, void *arg)
{
    name_op *op = arg;
    int64_t id;
    int cur;
    int rc = sweep_id_state(s, op->name, &id, &cur);
    if (rc == 0)
        rc = run_id(s, S_CANCEL_TRIALS, id, &op->n, "cancel a sweep");
    if (rc == 0)
        rc = run_id(s, S_CANCEL_SWEEP, id, NULL, "cancel a sweep");
    return rc;
}

static int pg_cancel(store *st, const char *name, uint64_t *out_n)
{
    name_op op = {.name = name};
    int rc = run_op(to_pg(st), true, cancel_fn, &op);
    if (rc == 0)
        *out_n = op.n;
    return rc;
}

static int retry_fn(pg_store *s, void *arg)
{
    name_op *op = arg;
    int64_t id;
    int cur;
    int rc = sweep_id_state(s, op->name, &id, &cur);
    if (rc < 0)
        return rc;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, id);
    pa_bool(&p, op->failed);
    pa_bool(&p, op->cancelled);
    if ((rc = q_run(s, S_RETRY, &p, &r, "retry trials")) < 0)
        return rc;
    op->n = strtoull(pq.cmdTuples(r), NULL, 10);
    pq.clear(r);
    if (op->n && (rc = run_id(s, S_REOPENED, id, NULL, "reopen a sweep")) < 0)
        return rc;
    return op->n ? run_id(s, S_REOPEN, id, NULL, "reopen a sweep") : 0;
}

static int pg_retry(store *st, const char *name, bool failed, bool cancelled, uint64_t *out_n)
{
    if (!failed && !cancelled)
        failed = cancelled = true;
    name_op op = {.name = name, .failed = failed, .cancelled = cancelled};
    int rc = run_op(to_pg(st), true, retry_fn, &op);
    if (rc == 0)
        *out_n = op.n;
    return rc;
}

typedef struct gc_op {
    double before;
    char **names;
    size_t n;
} gc_op;

static int gc_fn(pg_store *s, void *arg)
{
    gc_op *op = arg;
    PGresult *r;
    pargs p = {0};
    pa_dbl(&p, op->before);
    int rc = q_run(s, S_GC, &p, &r, "delete old sweeps");
    if (rc < 0)
        return rc;
    op->n = (size_t)pq.ntuples(r);
    op->names = op->n ? xcalloc(op->n, sizeof *op->names) : NULL;
    for (size_t i = 0; i < op->n; i++)
        op->names[i] = col_text(r, (int)i, 0);
    pq.clear(r);
    return 0;
}

static int pg_gc(store *st, double before, char ***out_names, size_t *out_n)
{
    gc_op op = {.before = before};
    int rc = run_op(to_pg(st), false, gc_fn, &op);
    if (rc < 0)
        return rc;
    *out_names = op.names;
    *out_n = op.n;
    return 0;
}

typedef struct completion_op {
    int64_t sweep_id;
    const char *by;
    bool won;
} completion_op;

static int completion_fn(pg_store *s, void *arg)
{
    completion_op *op = arg;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->sweep_id);
    pa_text(&p, op->by);
    int rc = q_run(s, S_COMPLETION, &p, &r, "claim a sweep's completion");
    if (rc < 0)
        return rc;
    op->won = strcmp(pq.cmdTuples(r), "1") == 0;
    pq.clear(r);
    return op->won ? 0 : sweep_exists(s, op->sweep_id);
}

static int pg_claim_completion(store *st, int64_t sweep_id, const char *by, bool *won)
{
    completion_op op = {.sweep_id = sweep_id, .by = by};
    int rc = run_op(to_pg(st), true, completion_fn, &op);
    if (rc == 0)
        *won = op.won;
    return rc;
}

typedef struct complete_update_op {
    int64_t sweep_id;
    const char *by;
    completion_update what;
} complete_update_op;

static int complete_update_fn(pg_store *s, void *arg)
{
    static const enum stmt_id ids[] = {[COMPLETION_RENEW] = S_COMPLETION_RENEW,
                                       [COMPLETION_SUCCEEDED] = S_COMPLETION_DONE,
                                       [COMPLETION_FAILED] = S_COMPLETION_FAILED};
    complete_update_op *op = arg;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->sweep_id);
    pa_text(&p, op->by);
    if (op->what == COMPLETION_FAILED) {
        pa_int(&p, COMPLETION_BACKOFF);
        pa_int(&p, COMPLETION_BACKOFF_MAX);
    }
    int rc = q_run(s, ids[op->what], &p, &r, "update a sweep's completion");
    if (rc < 0)
        return rc;
    bool held = strcmp(pq.cmdTuples(r), "1") == 0;
    pq.clear(r);
    if (!held)
        return sq_error_set(SQ_ELEASE_LOST,
                            "the completion of sweep %lld is no longer held by '%s': its lease "
                            "expired and another agent took it, or it is done",
                            (long long)op->sweep_id, op->by);
    return 0;
}

static int pg_complete_update(store *st, int64_t sweep_id, const char *by, completion_update what)
{
    complete_update_op op = {.sweep_id = sweep_id, .by = by, .what = what};
    return run_op(to_pg(st), false, complete_update_fn, &op);
}

/* ---- trials ------------------------------------------------------------ */

static int list_trials_fn(pg_store *s, void *arg)
{
    read_op *op = arg;
    const store_trial_query *qy = op->query;
    int64_t id;
    int cur;
    int rc = sweep_id_state(s, qy->sweep, &id, &cur);
    if (rc < 0)
        return rc;
    strbuf sql = SB_INIT;
    pargs p = {0};
    pa_text(&p, qy->sweep);
    pa_int(&p, id);
    /* The state is written into the SQL so that the planner can use the
     * partial indexes. */
    sb_adds(&sql, TRIAL_COLS("$1") " FROM trials t WHERE t.sweep_id = $2");
    if (qy->state >= 0)
        sb_addf(&sql, " AND t.state = %d", qy->state);
    const char *dir = qy->descending ? "DESC" : "ASC";
    if (qy->sort_metric) {
        pa_text(&p, qy->sort_metric);
        sb_addf(&sql,
                " ORDER BY jsonb_typeof(t.metrics_json -> $3) IS DISTINCT FROM 'number', "
                "CASE WHEN jsonb_typeof(t.metrics_json -> $3) = 'number' THEN "
                "(t.metrics_json ->> $3)::float8 END %s, t.number",
                dir);
    } else {
        sb_addf(&sql, " ORDER BY t.number %s", dir);
    }
    if (qy->limit)
        sb_addf(&sql, " LIMIT %zu", qy->limit);
    PGresult *r;
    rc = q_sql(s, sb_str(&sql), &p, &r, "list trials");
    sb_release(&sql);
    if (rc < 0)
        return rc;
    op->n = (size_t)pq.ntuples(r);
    op->trials = op->n ? xcalloc(op->n, sizeof *op->trials) : NULL;
    for (size_t i = 0; i < op->n; i++)
        read_trial(r, (int)i, &op->trials[i]);
    pq.clear(r);
    return 0;
}

static int pg_list_trials(store *st, const store_trial_query *q, store_trial **out, size_t *n)
{
    read_op op = {.query = q};
    int rc = run_op(to_pg(st), true, list_trials_fn, &op);
    if (rc < 0)
        return rc;
    *out = op.trials;
    *n = op.n;
    return 0;
}

static int get_trial_fn(pg_store *s, void *arg)
{
    read_op *op = arg;
    PGresult *r;
    pargs p = {0};
    pa_text(&p, op->name);
    pa_int(&p, (int64_t)op->number);
    int rc = q_run(s, S_TRIAL_GET, &p, &r, "read a trial");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 1) {
        op->trials = xmalloc(sizeof *op->trials);
        read_trial(r, 0, op->trials);
        pq.clear(r);
        return 0;
    }
    pq.clear(r);
    int64_t id;
    int cur;
    rc = sweep_id_state(s, op->name, &id, &cur);
    return rc < 0 ? rc
                  : sq_error_set(SQ_ENOTFOUND, "no trial %llu in sweep '%s'",
                                 (unsigned long long)op->number, op->name);
}

static int pg_get_trial(store *st, const char *sweep, uint64_t number, store_trial **out)
{
    read_op op = {.name = sweep, .number = number};
    int rc = run_op(to_pg(st), false, get_trial_fn, &op);
    if (rc == 0)
        *out = op.trials;
    return rc;
}

/* Reads the trial's fencing columns; *found false when it is gone. */
static int read_fence(pg_store *s, int64_t trial_id, bool *found, int *state, int *attempt,
                      bool *cancel_requested)
{
    PGresult *r;
    pargs p = {0};
    pa_int(&p, trial_id);
    int rc = q_run(s, S_TRIAL_FENCE, &p, &r, "read a trial");
    if (rc < 0)
        return rc;
    *found = pq.ntuples(r) == 1;
    if (*found) {
        *state = col_int(r, 0, 0);
        *attempt = col_int(r, 0, 1);
        *cancel_requested = col_bool(r, 0, 2);
    }
    pq.clear(r);
    return 0;
}

static int trial_exists(pg_store *s, int64_t trial_id)
{
    bool found = false, cancel;
    int state, attempt;
    int rc = read_fence(s, trial_id, &found, &state, &attempt, &cancel);
    if (rc == 0 && !found)
        rc = sq_error_set(SQ_ENOTFOUND, "no trial with id %lld in store '%s'", (long long)trial_id,
                          s->shown);
    return rc;
}

static int attempts_fn(pg_store *s, void *arg)
{
    read_op *op = arg;
    PGresult *r;
    pargs p = {0};
    store_attempts_free(op->attempts, op->n); /* from an earlier try of run_op */
    op->attempts = NULL;
    op->n = 0;
    pa_int(&p, op->id);
    int rc = q_run(s, S_ATTEMPTS, &p, &r, "list attempts");
    if (rc < 0)
        return rc;
    op->n = (size_t)pq.ntuples(r);
    op->attempts = op->n ? xcalloc(op->n, sizeof *op->attempts) : NULL;
    for (size_t i = 0; i < op->n; i++) {
        store_attempt *a = &op->attempts[i];
        int row = (int)i;
        a->attempt = col_int(r, row, 0);
        a->agent_id = col_text(r, row, 1);
        a->started_at = col_dbl(r, row, 2);
        a->finished_at = col_dbl(r, row, 3);
        a->outcome = (attempt_outcome)col_int(r, row, 4);
        a->exit_code = col_int(r, row, 5);
        a->term_signal = col_int(r, row, 6);
        a->error = col_text(r, row, 7);
    }
    pq.clear(r);
    return op->n ? 0 : trial_exists(s, op->id);
}

static int pg_list_attempts(store *st, int64_t trial_id, store_attempt **out, size_t *n)
{
    read_op op = {.id = trial_id};
    int rc = run_op(to_pg(st), false, attempts_fn, &op);
    if (rc < 0) {
        store_attempts_free(op.attempts, op.n);
        return rc;
    }
    *out = op.attempts;
    *n = op.n;
    return 0;
}

/* ---- agents ------------------------------------------------------------ */

static int register_fn(pg_store *s, void *arg)
{
    const store_agent_info *a = arg;
    pargs p = {0};
    pa_text(&p, a->id);
    pa_text(&p, a->host);
    pa_int(&p, a->pid);
    pa_int(&p, a->slots);
    pa_text(&p, a->gpus_json);
    pa_text(&p, a->version);
    return q_run(s, S_AGENT_REGISTER, &p, NULL, "register an agent");
}

static int pg_register_agent(store *st, const store_agent_info *a)
{
    return run_op(to_pg(st), false, register_fn, (void *)a);
}

static int deregister_fn(pg_store *s, void *arg)
{
    pargs p = {0};
    pa_text(&p, arg);
    return q_run(s, S_AGENT_DELETE, &p, NULL, "deregister an agent");
}

static int pg_deregister_agent(store *st, const char *agent_id)
{
    return run_op(to_pg(st), false, deregister_fn, (void *)agent_id);
}

static int agents_fn(pg_store *s, void *arg)
{
    read_op *op = arg;
    PGresult *r;
    int rc = q_run(s, S_NOW, NULL, &r, "read the clock");
    if (rc < 0)
        return rc;
    double now = col_dbl(r, 0, 1), alive_for = AGENT_ALIVE_MIN;
    if (2 * col_dbl(r, 0, 2) > alive_for)
        alive_for = 2 * col_dbl(r, 0, 2);
    pq.clear(r);
    if ((rc = q_run(s, S_AGENTS, NULL, &r, "list agents")) < 0)
        return rc;
    op->n = (size_t)pq.ntuples(r);
    op->agents = op->n ? xcalloc(op->n, sizeof *op->agents) : NULL;
    for (size_t i = 0; i < op->n; i++) {
        store_agent *a = &op->agents[i];
        int row = (int)i;
        a->id = col_text(r, row, 0);
        a->host = col_text(r, row, 1);
        a->pid = col_int(r, row, 2);
        a->slots = col_int(r, row, 3);
        a->gpus_json = col_text(r, row, 4);
        a->version = col_text(r, row, 5);
        a->started_at = col_dbl(r, row, 6);
        a->last_seen = col_dbl(r, row, 7);
        a->running = col_int(r, row, 8);
        a->alive = now - a->last_seen <= alive_for;
    }
    pq.clear(r);
    return 0;
}

static int pg_list_agents(store *st, store_agent **out, size_t *n)
{
    read_op op = {0};
    int rc = run_op(to_pg(st), true, agents_fn, &op);
    if (rc < 0)
        return rc;
    *out = op.agents;
    *n = op.n;
    return 0;
}

/* ---- claim, heartbeat, finish, reap ------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int settle_reaped(pg_store *s, const PGresult *r, uint64_t *out_n);

/* Expires leases whose time has passed and settles their sweeps. */
static int reap_locked(pg_store *s, uint64_t *out_n)
{
    PGresult *r;
    *out_n = 0;
    int rc = q_run(s, S_REAP, NULL, &r, "expire leases");
    if (rc < 0)
        return rc;
    rc = settle_reaped(s, r, out_n);
    pq.clear(r);
    return rc;
}

typedef struct claim_op {
    const char *agent_id;
    const char *request_id; /* NULL: store_claim */
    int64_t sweep_id;
    size_t max;
    store_claimed *v;
    size_t n;
} claim_op;

static int cmp_claim(const void *a, const void *b)
{
    const store_claimed *x = a, *y = b;
    return (x->number > y->number) - (x->number < y->number);
}

/* The rows of a reap: settles each sweep a reaped trial belonged to. */
static int settle_reaped(pg_store *s, const PGresult *r, uint64_t *out_n)
{
    size_t n = (size_t)pq.ntuples(r);
    int64_t *ids = xcalloc(n ? n : 1, sizeof *ids);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        ids[i] = col_i64(r, (int)i, 0);
    qsort(ids, n, sizeof *ids, cmp_i64);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((i == 0 || ids[i] != ids[i - 1]) &&
            (rc = run_id(s, S_REOPENED, ids[i], NULL, "update the sweep's state")) == 0)
            rc = settle(s, ids[i]);
    }
    free(ids);
    *out_n = rc == 0 ? n : 0;
    return rc;
}

/* Runs in its own transaction: BEGIN, the reap and the claim go in one
 * pipeline; the settling of reaped sweeps (rare) and COMMIT follow. */
/* Appends the claimed rows of r to op's list. */
static void read_claims(claim_op *op, const PGresult *r)
{
    size_t n = (size_t)pq.ntuples(r);
    if (n == 0)
        return;
    op->v = xrealloc(op->v, (op->n + n) * sizeof *op->v);
    for (size_t i = 0; i < n; i++) {
        store_claimed *c = &op->v[op->n + i];
        int row = (int)i;
        memset(c, 0, sizeof *c);
        c->trial_id = col_i64(r, row, 0);
        c->sweep_id = op->sweep_id;
        c->number = (uint64_t)col_i64(r, row, 1);
        c->attempt = col_int(r, row, 2);
        c->failures = col_int(r, row, 3);
        c->resume = c->attempt > 1;
        c->params_json = col_text(r, row, 4);
        c->key = col_text(r, row, 5);
        c->lease_expires = col_dbl(r, row, 6);
    }
    op->n += n;
}

/*
 * Runs in its own transaction: BEGIN, the reap and the claim go in one
 * pipeline; the settling of reaped sweeps (rare) and COMMIT follow. The
 * claim starts at the connection's hint; when that finds fewer trials than
 * asked for, a second claim scans the pending index from its start. With a
 * request id that repeats the agent's latest for the sweep, the claim takes
 * nothing and a third statement reads what the first claim took.
 */
static int claim_fn(pg_store *s, void *arg)
{
    claim_op *op = arg;
    uint64_t reaped = 0;
    store_claims_free(op->v, op->n);
    op->v = NULL;
    op->n = 0;
    int64_t max = op->max > INT64_MAX ? INT64_MAX : (int64_t)op->max;
    uint64_t from =
        s->hint_sweep == op->sweep_id && s->claims_since_full < FULL_SCAN_EVERY ? s->hint : 0;
    enum stmt_id claim = op->request_id ? S_CLAIM_REQ : S_CLAIM;
    pargs p = {0}, req = {0};
    pa_int(&p, op->sweep_id);
    pa_text(&p, op->agent_id);
    pa_int(&p, max);
    pa_int(&p, (int64_t)from);
    pa_int(&p, s->hint_epoch);
    if (op->request_id)
        pa_text(&p, op->request_id);
    pa_text(&req, op->agent_id);
    pa_int(&req, op->sweep_id);
    pa_text(&req, op->request_id);
    /* With a request: store it, then claim only if it was new (S_CLAIM_REQ's
     * guard), still in one round trip. */
    const pstep plain[] = {{.sql = "BEGIN"}, {.id = S_REAP}, {.id = claim, .p = &p}};
    const pstep with_req[] = {{.sql = "BEGIN"},
                              {.id = S_REAP},
                              {.id = S_CLAIM_REQ_PUT, .p = &req},
                              {.id = claim, .p = &p}};
    const pstep *steps = op->request_id ? with_req : plain;
    size_t nsteps = op->request_id ? ARRAY_SIZE(with_req) : ARRAY_SIZE(plain);
    PGresult *res[ARRAY_SIZE(with_req)];
    int rc = q_pipeline(s, steps, nsteps, res, "claim trials");
    if (rc < 0)
        return rc;
    PGresult *claimed = res[nsteps - 1];
    bool repeated = op->request_id && pq.ntuples(res[2]) == 0;
    read_claims(op, claimed);
    int64_t epoch = pq.ntuples(claimed) ? col_i64(claimed, 0, 7) : 0;
    rc = pq.ntuples(res[1]) ? settle_reaped(s, res[1], &reaped) : 0;
    for (size_t i = 0; i < nsteps; i++)
        pq.clear(res[i]);
    if (rc == 0 && repeated) {
        /* The answer the first claim got: what it claimed that still runs. */
        pargs q = {0};
        PGresult *r;
        pa_int(&q, op->sweep_id);
        pa_text(&q, op->agent_id);
        pa_text(&q, op->request_id);
        if ((rc = q_run(s, S_CLAIM_REPLAY, &q, &r, "claim trials")) == 0) {
            read_claims(op, r);
            pq.clear(r);
        }
    } else if (rc == 0 && from > 0 && (reaped > 0 || (int64_t)op->n < max)) {
        pargs q = {0};
        PGresult *r;
        pa_int(&q, op->sweep_id);
        pa_text(&q, op->agent_id);
        pa_int(&q, max - (int64_t)op->n);
        pa_int(&q, 0);
        pa_int(&q, 0);
        if (op->request_id)
            pa_text(&q, op->request_id);
        if ((rc = q_run(s, claim, &q, &r, "claim trials")) == 0) {
            if (pq.ntuples(r))
                epoch = col_i64(r, 0, 7);
            read_claims(op, r);
            pq.clear(r);
        }
        from = 0;
    }
    /* Nothing pending, not active, or no such sweep: the reaping is
     * committed either way. */
    if (rc == 0 && op->n == 0)
        rc = sweep_exists(s, op->sweep_id);
    int crc = rc == 0 || rc == SQ_ENOTFOUND ? simple(s, "COMMIT", "commit a transaction") : 0;
    if (crc == 0 && rc == 0 && !repeated) {
        s->claims_since_full = from ? s->claims_since_full + 1 : 0;
        s->hint_sweep = op->n ? op->sweep_id : 0;
        s->hint_epoch = epoch;
        for (size_t i = 0; i < op->n; i++) {
            if (i == 0 || op->v[i].number + 1 > s->hint)
                s->hint = op->v[i].number + 1;
        }
    }
    return crc < 0 ? crc : rc;
}

static int pg_claim_request(store *st, const char *agent_id, const char *request_id,
                            int64_t sweep_id, size_t max, store_claimed **out, size_t *n)
{
    pg_store *s = to_pg(st);
    claim_op op = {
        .agent_id = agent_id, .request_id = request_id, .sweep_id = sweep_id, .max = max};
    int rc = run_op(s, false, claim_fn, &op); /* claim_fn begins and commits */
    if (rc == SQ_ENOTFOUND)
        rc = sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'", (long long)sweep_id,
                          s->shown);
    if (rc < 0) {
        store_claims_free(op.v, op.n);
        return rc;
    }
    if (op.n > 1)
        qsort(op.v, op.n, sizeof *op.v, cmp_claim);
    *out = op.v;
    *n = op.n;
    return 0;
}

static int pg_claim(store *st, const char *agent_id, int64_t sweep_id, size_t max,
                    store_claimed **out, size_t *n)
{
    return pg_claim_request(st, agent_id, NULL, sweep_id, max, out, n);
}

typedef struct add_claim_op {
    claim_op claim;
    const store_trial_def *def;
} add_claim_op;

/* The sweep's row, locked: SQ_ENOTFOUND, SQ_EINVAL when not open-ended;
 * *room false when it takes no trial now; *next its next free number. */
static int add_claim_room(pg_store *s, int64_t sweep_id, bool *room, uint64_t *next)
{
    PGresult *r;
    pargs p = {0};
    pa_int(&p, sweep_id);
    int rc = q_run(s, S_ADD_CLAIM_SWEEP, &p, &r, "find a sweep");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 0) {
        rc = sq_error_set(SQ_ENOTFOUND, "no sweep with id %lld in store '%s'", (long long)sweep_id,
                          s->shown);
    } else if (!col_bool(r, 0, 1)) {
        rc = sq_error_set(SQ_EINVAL,
                          "cannot add a proposed trial to sweep %lld: it is not open-ended, all "
                          "its trials were made when it was created",
                          (long long)sweep_id);
    } else {
        uint64_t total = (uint64_t)col_i64(r, 0, 2), held = (uint64_t)col_i64(r, 0, 3);
        *room = col_int(r, 0, 0) == SWEEP_ACTIVE && (total == 0 || held < total);
        *next = (uint64_t)col_i64(r, 0, 4);
    }
    pq.clear(r);
    return rc;
}

/* As sqlite.c's: 1 with the claim of agent_id's repeated proposal, 0 when
 * the key is new, SQ_ECONFLICT when another trial has it. */
static int add_claim_replay(pg_store *s, add_claim_op *op)
{
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->claim.sweep_id);
    pa_text(&p, op->def->key);
    pa_text(&p, op->claim.agent_id);
    int rc = q_run(s, S_ADD_CLAIM_KEY, &p, &r, "find a proposed trial");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 0)
        rc = 0;
    else if (!col_bool(r, 0, 7))
        rc = sq_error_set(SQ_ECONFLICT,
                          "cannot add a proposed trial: trial %lld of the sweep has its key "
                          "'%.40s' already; propose again with a new key",
                          (long long)col_i64(r, 0, 1), op->def->key);
    else {
        read_claims(&op->claim, r);
        rc = 1;
    }
    pq.clear(r);
    return rc;
}

static int add_claim_fn(pg_store *s, void *arg)
{
    add_claim_op *op = arg;
    store_claims_free(op->claim.v, op->claim.n);
    op->claim.v = NULL;
    op->claim.n = 0;
    bool room = false;
    uint64_t next = 0;
    int rc = add_claim_room(s, op->claim.sweep_id, &room, &next);
    if (rc == 0)
        rc = add_claim_replay(s, op);
    if (rc != 0 || !room)
        return rc < 0 ? rc : 0;
    uint64_t number = op->def->number > next ? op->def->number : next;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->claim.sweep_id);
    pa_int(&p, (int64_t)number);
    pa_text(&p, op->def->key);
    pa_text(&p, op->def->params_json);
    pa_text(&p, op->claim.agent_id);
    if ((rc = q_run(s, S_ADD_CLAIM_INSERT, &p, &r, "add a proposed trial")) < 0)
        return rc;
    read_claims(&op->claim, r);
    pq.clear(r);
    return count_added(s, op->claim.sweep_id, op->claim.n, number);
}

static int pg_add_claim(store *st, const char *agent_id, int64_t sweep_id,
                        const store_trial_def *def, store_claimed **out, size_t *n)
{
    add_claim_op op = {.claim = {.agent_id = agent_id, .sweep_id = sweep_id, .max = 1}, .def = def};
    int rc = run_op(to_pg(st), true, add_claim_fn, &op);
    if (rc < 0) {
        store_claims_free(op.claim.v, op.claim.n);
        return rc;
    }
    *out = op.claim.v;
    *n = op.claim.n;
    return 0;
}

typedef struct heartbeat_op {
    const char *agent_id;
    store_lease *leases;
    size_t n;
} heartbeat_op;

static int heartbeat_fn(pg_store *s, void *arg)
{
    heartbeat_op *op = arg;
    strbuf ids = SB_INIT, attempts = SB_INIT;
    array_start(&ids);
    array_start(&attempts);
    for (size_t i = 0; i < op->n; i++) {
        sb_addc(&ids, ids.len > 1 ? ',' : '{');
        sb_addf(&ids, "%lld", (long long)op->leases[i].trial_id);
        sb_addc(&attempts, attempts.len > 1 ? ',' : '{');
        sb_addf(&attempts, "%d", op->leases[i].attempt);
    }
    pargs p = {0};
    pa_text(&p, op->agent_id);
    pa_text(&p, array_end(&ids));
    pa_text(&p, array_end(&attempts));
    PGresult *r;
    int rc = q_run(s, S_HEARTBEAT, &p, &r, "renew leases");
    sb_release(&ids);
    sb_release(&attempts);
    if (rc < 0)
        return rc;
    for (int row = 0; row < pq.ntuples(r); row++) {
        int64_t id = col_i64(r, row, 0);
        int attempt = col_int(r, row, 1);
        for (size_t i = 0; i < op->n; i++) {
            store_lease *l = &op->leases[i];
            if (l->trial_id != id || l->attempt != attempt)
                continue;
            l->cancel = !col_bool(r, row, 2) && col_bool(r, row, 3);
            l->lost = !col_bool(r, row, 2) && !l->cancel;
        }
    }
    pq.clear(r);
    return 0;
}

static int pg_heartbeat(store *st, const char *agent_id, store_lease *leases, size_t n)
{
    heartbeat_op op = {.agent_id = agent_id, .leases = leases, .n = n};
    return run_op(to_pg(st), false, heartbeat_fn, &op);
}

/* SQ_ELEASE_LOST with what the trial is now (store_lease_lost). */
static int lease_lost(pg_store *s, int64_t trial_id, int attempt, const char *what)
{
    bool found = false, cancel = false;
    int state = 0, cur = 0;
    int rc = read_fence(s, trial_id, &found, &state, &cur, &cancel);
    return rc < 0 ? rc : store_lease_lost(what, trial_id, attempt, found, state, cur);
}

typedef struct finish_op {
    int64_t trial_id;
    int attempt;
    const store_result *r;
} finish_op;

/*
 * Runs in its own transaction, in two round trips: BEGIN, the fenced
 * update and settle's probe (by the trial's sweep) in one pipeline; then
 * COMMIT, after the sweep's lock and check when the probe found no pending
 * trial (see settle).
 */
static int finish_fn(pg_store *s, void *arg)
{
    finish_op *op = arg;
    const store_result *res = op->r;
    bool uses_try = res->outcome == OUTCOME_FAILED || res->outcome == OUTCOME_TIMED_OUT ||
                    res->outcome == OUTCOME_LOST;
    int next = res->outcome == OUTCOME_SUCCEEDED   ? TRIAL_SUCCEEDED
               : res->outcome == OUTCOME_CANCELLED ? TRIAL_CANCELLED
               : res->outcome == OUTCOME_STOPPED   ? TRIAL_STOPPED
                                                   : TRIAL_PENDING;
    pargs p = {0}, t = {0};
    pa_int(&p, op->trial_id);
    pa_int(&p, op->attempt);
    pa_int(&p, res->outcome);
    pa_int(&p, uses_try);
    pa_int(&p, next);
    pa_int(&p, res->exit_code);
    pa_int(&p, res->term_signal);
    pa_text(&p, res->error);
    pa_text(&p, res->metrics_json);
    pa_int(&p, res->outcome == OUTCOME_STOPPED ? (int64_t)res->stopped_step : 0);
    pa_int(&t, op->trial_id);
    const pstep steps[] = {
        {.sql = "BEGIN"}, {.id = S_FINISH, .p = &p}, {.id = S_PENDING_PROBE_BY_TRIAL, .p = &t}};
    PGresult *r[ARRAY_SIZE(steps)];
    int rc = q_pipeline(s, steps, ARRAY_SIZE(steps), r, "record a trial's end");
    if (rc < 0)
        return rc;
    bool found = pq.ntuples(r[1]) == 1;
    int64_t sweep_id = found ? col_i64(r[1], 0, 0) : 0;
    bool reopened = found && col_int(r[1], 0, 1) == TRIAL_PENDING;
    bool pending = pq.ntuples(r[2]) > 0; /* the sweep is not finishing */
    for (size_t i = 0; i < ARRAY_SIZE(r); i++)
        pq.clear(r[i]);
    if (!found)
        return lease_lost(s, op->trial_id, op->attempt, "record the end");
    uint64_t settled = 0;
    if (reopened && (rc = run_id(s, S_REOPENED, sweep_id, NULL, "update the sweep's state")) < 0)
        return rc;
    if (!pending &&
        ((rc = run_id(s, S_SWEEP_LOCK, sweep_id, NULL, "lock a sweep")) < 0 ||
         (rc = run_id(s, S_SETTLE, sweep_id, &settled, "update the sweep's state")) < 0))
        return rc;
    if (settled)
        return simple(s, "COMMIT", "commit a transaction");
    pargs q = {0};
    pa_int(&q, sweep_id);
    const pstep tail[] = {{.id = S_TOUCH, .p = &q}, {.sql = "COMMIT"}};
    PGresult *tr[ARRAY_SIZE(tail)];
    rc = q_pipeline(s, tail, ARRAY_SIZE(tail), tr, "record a trial's end");
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(tr); i++)
        pq.clear(tr[i]);
    return rc;
}

static int pg_finish(store *st, int64_t trial_id, int attempt, const store_result *r)
{
    finish_op op = {.trial_id = trial_id, .attempt = attempt, .r = r};
    return run_op(to_pg(st), false, finish_fn, &op); /* finish_fn begins and commits */
}

typedef struct metrics_op {
    int64_t trial_id;
    int attempt;
    json_t *rows;
    char *json;
} metrics_op;

static int metrics_fn(pg_store *s, void *arg)
{
    metrics_op *op = arg;
    json_t *latest = json_object();
    strbuf steps = SB_INIT, times = SB_INIT, names = SB_INIT, values = SB_INIT;
    array_start(&steps);
    array_start(&times);
    array_start(&names);
    array_start(&values);
    size_t i;
    json_t *row;
    json_array_foreach(op->rows, i, row)
    {
        if (!json_is_object(row))
            continue;
        json_t *step_v = json_object_get(row, "step"), *time_v = json_object_get(row, "time");
        const char *name;
        json_t *value;
        json_object_foreach(row, name, value)
        {
            if (!json_is_number(value) || strcmp(name, "step") == 0 || strcmp(name, "time") == 0)
                continue;
            sb_addc(&steps, steps.len > 1 ? ',' : '{');
            if (json_is_number(step_v))
                sb_addf(&steps, "%lld", (long long)json_number_value(step_v));
            else
                sb_adds(&steps, "NULL");
            sb_addc(&times, times.len > 1 ? ',' : '{');
            if (json_is_number(time_v))
                sb_addf(&times, "%.17g", json_number_value(time_v));
            else
                sb_adds(&times, "NULL");
            array_add_text(&names, name);
            sb_addc(&values, values.len > 1 ? ',' : '{');
            sb_addf(&values, "%.17g", json_number_value(value));
            json_object_set(latest, name, value);
        }
    }
    char *patch = json_dumps(latest, JSON_COMPACT | JSON_REAL_PRECISION(15));
    pargs p = {0};
    pa_int(&p, op->trial_id);
    pa_int(&p, op->attempt);
    pa_text(&p, array_end(&steps));
    pa_text(&p, array_end(&times));
    pa_text(&p, array_end(&names));
    pa_text(&p, array_end(&values));
    int rc = q_run(s, S_METRIC_INSERT, &p, NULL, "record metrics");
    /* The fence comes last so that it also covers the inserts above. */
    pargs q = {0};
    pa_int(&q, op->trial_id);
    pa_int(&q, op->attempt);
    pa_text(&q, patch ? patch : "{}");
    PGresult *r = NULL;
    if (rc == 0 && (rc = q_run(s, S_METRICS_PATCH, &q, &r, "record metrics")) == 0) {
        bool changed = strcmp(pq.cmdTuples(r), "1") == 0;
        pq.clear(r);
        if (!changed)
            rc = lease_lost(s, op->trial_id, op->attempt, "record metrics");
    }
    free(patch);
    json_decref(latest);
    sb_release(&steps);
    sb_release(&times);
    sb_release(&names);
    sb_release(&values);
    return rc;
}

static int pg_append_metrics(store *st, int64_t trial_id, int attempt, const char *rows_json)
{
    json_error_t err;
    json_t *rows = json_loads(rows_json, JSON_DECODE_ANY, &err);
    if (json_is_object(rows)) { /* one row alone is fine too */
        json_t *arr = json_array();
        json_array_append_new(arr, rows);
        rows = arr;
    }
    int rc;
    if (!json_is_array(rows)) {
        rc = sq_error_set(SQ_EINVAL,
                          "invalid metrics of trial %lld: expected a JSON array of objects%s%s",
                          (long long)trial_id, rows ? "" : ": ", rows ? "" : err.text);
    } else {
        metrics_op op = {.trial_id = trial_id, .attempt = attempt, .rows = rows};
        rc = run_op(to_pg(st), true, metrics_fn, &op);
    }
    json_decref(rows);
    return rc;
}

static int get_metrics_fn(pg_store *s, void *arg)
{
    metrics_op *op = arg;
    int rc = trial_exists(s, op->trial_id);
    if (rc < 0)
        return rc;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->trial_id);
    if ((rc = q_run(s, S_METRICS_GET, &p, &r, "read metrics")) < 0)
        return rc;
    json_t *arr = json_array();
    for (int row = 0; row < pq.ntuples(r); row++) {
        json_t *o = json_object();
        json_object_set_new(o, "attempt", json_integer(col_i64(r, row, 0)));
        json_object_set_new(
            o, "step", pq.getisnull(r, row, 1) ? json_null() : json_integer(col_i64(r, row, 1)));
        json_object_set_new(o, "time", json_real(col_dbl(r, row, 2)));
        json_object_set_new(o, "name", json_string(pq.getvalue(r, row, 3)));
        json_object_set_new(o, "value",
                            pq.getisnull(r, row, 4) ? json_null() : json_real(col_dbl(r, row, 4)));
        json_array_append_new(arr, o);
    }
    pq.clear(r);
    char *text = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(arr);
    free(op->json);
    op->json = xstrdup(text ? text : "[]");
    free(text);
    return 0;
}

static int pg_get_metrics(store *st, int64_t trial_id, char **out_json)
{
    metrics_op op = {.trial_id = trial_id};
    int rc = run_op(to_pg(st), true, get_metrics_fn, &op);
    if (rc < 0) {
        free(op.json);
        return rc;
    }
    *out_json = op.json;
    return 0;
}

typedef struct band_op {
    int64_t sweep_id;
    const char *name;
    uint64_t step;
    bool completed_only;
    double *v; /* out */
    size_t n;
} band_op;

static int band_values_fn(pg_store *s, void *arg)
{
    band_op *op = arg;
    free(op->v);
    op->v = NULL;
    op->n = 0;
    int rc = sweep_exists(s, op->sweep_id);
    if (rc < 0)
        return rc;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->sweep_id);
    pa_text(&p, op->name);
    pa_int(&p, (int64_t)op->step);
    pa_bool(&p, op->completed_only);
    if ((rc = q_run(s, S_BAND_VALUES, &p, &r, "read the values at a step")) < 0)
        return rc;
    int rows = pq.ntuples(r);
    op->v = rows ? xcalloc((size_t)rows, sizeof *op->v) : NULL;
    for (int row = 0; row < rows; row++)
        op->v[op->n++] = col_dbl(r, row, 0);
    pq.clear(r);
    return 0;
}

static int pg_band_values(store *st, int64_t sweep_id, const char *name, uint64_t step,
                          bool completed_only, double **out, size_t *n)
{
    band_op op = {
        .sweep_id = sweep_id, .name = name, .step = step, .completed_only = completed_only};
    int rc = run_op(to_pg(st), true, band_values_fn, &op);
    if (rc < 0) {
        free(op.v);
        return rc;
    }
    *out = op.v;
    *n = op.n;
    return 0;
}

typedef struct reap_op {
    uint64_t n;
} reap_op;

static int reap_fn(pg_store *s, void *arg)
{
    reap_op *op = arg;
    return reap_locked(s, &op->n);
}

static int pg_reap(store *st, uint64_t *out_n)
{
    reap_op op = {0};
    int rc = run_op(to_pg(st), true, reap_fn, &op);
    if (rc == 0)
        *out_n = op.n;
    return rc;
}

typedef struct import_op {
    int64_t trial_id;
    const char *metrics_json;
} import_op;

static int import_fn(pg_store *s, void *arg)
{
    import_op *op = arg;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->trial_id);
    pa_text(&p, op->metrics_json);
    int rc = q_run(s, S_IMPORT, &p, &r, "import a result");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) == 1) {
        int64_t sweep_id = col_i64(r, 0, 0);
        pq.clear(r);
        return settle(s, sweep_id);
    }
    pq.clear(r);
    bool found, cancel;
    int state = 0, attempt = 0;
    if ((rc = read_fence(s, op->trial_id, &found, &state, &attempt, &cancel)) < 0)
        return rc;
    return found ? sq_error_set(SQ_ECONFLICT,
                                "cannot import a result for trial %lld: it is %s, not pending",
                                (long long)op->trial_id, trial_state_name((trial_state)state))
                 : sq_error_set(SQ_ENOTFOUND, "no trial with id %lld in store '%s'",
                                (long long)op->trial_id, s->shown);
}

static int pg_import_result(store *st, int64_t trial_id, const char *metrics_json)
{
    import_op op = {.trial_id = trial_id, .metrics_json = metrics_json};
    return run_op(to_pg(st), true, import_fn, &op);
}

/* ---- log tails ---------------------------------------------------------- */

typedef struct log_op {
    int64_t trial_id;
    int attempt;
    const char *hex; /* put: the text, hex-encoded */
    char *text;      /* get: the text read */
    size_t len;
} log_op;

static int put_log_fn(pg_store *s, void *arg)
{
    log_op *op = arg;
    PGresult *r;
    pargs p = {0};
    pa_int(&p, op->trial_id);
    pa_int(&p, op->attempt);
    pa_text(&p, op->hex);
    int rc = q_run(s, S_LOG_PUT, &p, &r, "store a log");
    if (rc < 0)
        return rc;
    bool stored = pq.ntuples(r) == 1;
    pq.clear(r);
    return stored ? 0
                  : sq_error_set(SQ_ENOTFOUND, "no trial with id %lld in store '%s'",
                                 (long long)op->trial_id, s->shown);
}

static int pg_put_log(store *st, int64_t trial_id, int attempt, const char *text, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = xmalloc(2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[(unsigned char)text[i] >> 4];
        hex[2 * i + 1] = digits[(unsigned char)text[i] & 0xf];
    }
    hex[2 * len] = '\0';
    log_op op = {.trial_id = trial_id, .attempt = attempt, .hex = hex};
    int rc = run_op(to_pg(st), false, put_log_fn, &op);
    free(hex);
    return rc;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int get_log_fn(pg_store *s, void *arg)
{
    log_op *op = arg;
    PGresult *r;
    pargs p = {0};
    free(op->text); /* from an earlier try of run_op */
    op->text = NULL;
    pa_int(&p, op->trial_id);
    pa_int(&p, op->attempt);
    int rc = q_run(s, S_LOG_GET, &p, &r, "read a log");
    if (rc < 0)
        return rc;
    if (pq.ntuples(r) != 1) {
        pq.clear(r);
        if ((rc = trial_exists(s, op->trial_id)) < 0)
            return rc;
        if (op->attempt)
            return sq_error_set(SQ_ENOTFOUND, "no log of trial %lld attempt %d in store '%s'",
                                (long long)op->trial_id, op->attempt, s->shown);
        return sq_error_set(SQ_ENOTFOUND, "no log of trial %lld in store '%s'",
                            (long long)op->trial_id, s->shown);
    }
    const char *hex = pq.getvalue(r, 0, 0);
    size_t n = strlen(hex) / 2;
    op->text = xmalloc(n + 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) /* encode() writes only 0-9a-f */
            rc = sq_error_set(SQ_ERROR,
                              "cannot read the log of trial %lld from store '%s': it sent "
                              "'%.2s' as hex",
                              (long long)op->trial_id, s->shown, hex + 2 * i);
        op->text[i] = (char)(hi << 4 | lo);
    }
    op->text[n] = '\0';
    op->len = n;
    pq.clear(r);
    return rc;
}

static int pg_get_log(store *st, int64_t trial_id, int attempt, char **out, size_t *len)
{
    log_op op = {.trial_id = trial_id, .attempt = attempt};
    int rc = run_op(to_pg(st), false, get_log_fn, &op);
    if (rc < 0) {
        free(op.text);
        return rc;
    }
    *out = op.text;
    *len = op.len;
    return 0;
}

const store_backend store_postgres_backend = {
    .version = STORE_BACKEND_VERSION,
    .scheme = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .now = pg_now,
    .create_sweep = pg_create_sweep,
    .add_trials = pg_add_trials,
    .get_sweep = pg_get_sweep,
    .list_sweeps = pg_list_sweeps,
    .set_sweep_state = pg_set_sweep_state,
    .cancel = pg_cancel,
    .retry = pg_retry,
    .gc = pg_gc,
    .claim_completion = pg_claim_completion,
    .complete_update = pg_complete_update,
    .list_trials = pg_list_trials,
    .get_trial = pg_get_trial,
    .list_attempts = pg_list_attempts,
    .register_agent = pg_register_agent,
    .deregister_agent = pg_deregister_agent,
    .list_agents = pg_list_agents,
    .claim = pg_claim,
    .heartbeat = pg_heartbeat,
    .finish = pg_finish,
    .append_metrics = pg_append_metrics,
    .get_metrics = pg_get_metrics,
    .reap = pg_reap,
    .import_result = pg_import_result,
    .put_log = pg_put_log,
    .get_log = pg_get_log,
    .claim_request = pg_claim_request,
    .band_values = pg_band_values,
    .add_claim = pg_add_claim,
};
