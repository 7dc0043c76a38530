/*
 * api.c - the routes of the HTTP API v1: decode a request, call one store.h
 * function, encode its result (api.h; the contract is docs/api.md).
 *
 * A request goes through, in order:
 *   1. the target is split into percent-decoded path segments and query
 *      arguments (a bad escape or a NUL byte is 400);
 *   2. dashboard assets (GET /, /index.html, /assets/...) are answered from
 *      the embedded table, without a token;
 *   3. everything else under /api/ and /metrics, except GET /api/v1/health,
 *      needs a bearer token (401 / 403);
 *   4. the route table gives the handler, or 405 (the path exists with other
 *      methods) or 404; unknown query arguments are 400;
 *   5. a route that takes a body parses it as one JSON object (duplicate
 *      keys refused; an empty body reads as {}), and the handler checks its
 *      fields with wire.h, which names the field in every refusal;
 *   6. the handler's store error becomes {"error":{"code","message"}} with
 *      wire_error_status's status.
 * Handlers return 0 with c->reply (JSON) or c->raw (other text) set, or a
 * negative SQ_E* code with sq_error_msg() set.
 */
#include "util/common.h"

#include "server/api.h"
#include "server/assets.h"
#include "store/wire.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <strings.h>

#define MAX_SEGMENTS 8
#define MAX_QUERY_ARGS 32
#define CLAIM_MAX 1000 /* trials one claim may ask for */

typedef struct query_arg {
    char *key, *value;
} query_arg;

typedef struct req_ctx {
    const api *a;
    store *st;
    const api_request *req;
    char *seg[MAX_SEGMENTS]; /* percent-decoded path segments */
    size_t nseg;
    const char *param[2]; /* the ":x" segments of the matched route, in order */
    query_arg q[MAX_QUERY_ARGS];
    size_t nq;
    json_t *body;  /* the request object (routes that take one) */
    json_t *reply; /* a handler's JSON answer */
    char *raw;     /* or its answer in another type (raw_type) */
    size_t raw_len;
    const char *raw_type;
} req_ctx;

typedef int (*handler_fn)(req_ctx *c);

typedef struct route {
    const char *method;
    const char *pattern; /* segments after the leading '/'; ":x" matches any non-empty one */
    handler_fn fn;
    const char *name;  /* the stats label */
    const char *query; /* allowed query argument names, space separated; NULL: none */
    bool body;         /* takes a JSON object */
} route;

/* ---- replies ------------------------------------------------------------ */

static int reply_empty(req_ctx *c)
{
    c->reply = json_object();
    return 0;
}

static int reply_count(req_ctx *c, const char *key, uint64_t n)
{
    c->reply = json_pack("{sI}", key, (json_int_t)n);
    return 0;
}

/* ---- arguments ---------------------------------------------------------- */

/* A positive decimal id ("12"), refusing signs, spaces and overflow. */
static int parse_id(const char *s, const char *what, int64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (!*p)
        return sq_error_set(SQ_EINVAL, "invalid %s '': expected a positive integer", what);
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > (uint64_t)INT64_MAX / 10)
            return sq_error_set(SQ_EINVAL, "invalid %s '%s': expected a positive integer", what, s);
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > (uint64_t)INT64_MAX)
        return sq_error_set(SQ_EINVAL, "invalid %s '%s': expected a positive integer", what, s);
    *out = (int64_t)v;
    return 0;
}

/* The value of query argument key, or NULL. */
static const char *query_get(const req_ctx *c, const char *key)
{
    for (size_t i = 0; i < c->nq; i++)
        if (!strcmp(c->q[i].key, key))
            return c->q[i].value;
    return NULL;
}

/* "1", "true" or "yes" is true; "0", "false", "no" or "" false. */
static int query_bool(const req_ctx *c, const char *key, bool *out)
{
    const char *v = query_get(c, key);
    if (!v)
        return 0;
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
        *out = true;
    else if (!*v || !strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
        *out = false;
    else
        return sq_error_set(SQ_EINVAL, "invalid query argument '%s=%s': expected 1 or 0", key, v);
    return 0;
}

/* A non-negative integer argument up to max; absent leaves *out. */
static int query_uint(const req_ctx *c, const char *key, uint64_t max, uint64_t *out)
{
    const char *v = query_get(c, key);
    if (!v)
        return 0;
    uint64_t n = 0;
    const char *p = v;
    for (; *p >= '0' && *p <= '9' && n <= max; p++)
        n = n * 10 + (uint64_t)(*p - '0');
    if (!*v || *p || n > max)
        return sq_error_set(SQ_EINVAL,
                            "invalid query argument '%s=%s': expected an integer from 0 to %llu",
                            key, v, (unsigned long long)max);
    *out = n;
    return 0;
}

/* A JSON integer field that must fit in an int between lo and hi. */
static int get_int_field(int *out, const json_t *j, const char *what, const char *field,
                         bool optional, int lo, int hi)
{
    int64_t v = *out;
    int rc = wire_get_int(&v, j, what, field, optional);
    if (rc)
        return rc;
    if (v < lo || v > hi)
        return sq_error_set(SQ_EINVAL, "invalid %s: field '%s' must be from %d to %d", what, field,
                            lo, hi);
    *out = (int)v;
    return 0;
}

/* Takes the write lock when the api has one; writes through SQLite from
 * several threads then queue here instead of in SQLite's busy handler. */
static void write_begin(const req_ctx *c)
{
    if (c->a->write_lock)
        pthread_mutex_lock(c->a->write_lock);
}

static void write_end(const req_ctx *c)
{
    if (c->a->write_lock)
        pthread_mutex_unlock(c->a->write_lock);
}

/* ---- handlers: service ---------------------------------------------------- */

static int h_health(req_ctx *c)
{
    c->reply = json_pack("{sbsssf}", "ok", 1, "version", SQ_VERSION, "now", store_now(c->st));
    return 0;
}

static int h_time(req_ctx *c)
{
    c->reply = json_pack("{sf}", "now", store_now(c->st));
    return 0;
}

/* ---- handlers: sweeps ----------------------------------------------------- */

static int h_create_sweep(req_ctx *c)
{
    store_sweep_def def;
    int rc = wire_sweep_def_decode(&def, c->body);
    if (rc)
        return rc;
    int64_t id = 0;
    uint64_t added = 0;
    write_begin(c);
    rc = store_create_sweep(c->st, &def, &id, &added);
    write_end(c);
    wire_sweep_def_release(&def);
    if (rc)
        return rc;
    c->reply = json_pack("{sIsI}", "id", (json_int_t)id, "added", (json_int_t)added);
    return 0;
}

static int h_list_sweeps(req_ctx *c)
{
    store_sweep_filter f = {0};
    const char **names = xmalloc(sizeof *names * (c->nq + 1));
    for (size_t i = 0; i < c->nq; i++)
        if (!strcmp(c->q[i].key, "name"))
            names[f.nnames++] = c->q[i].value;
    f.names = f.nnames ? names : NULL;
    f.tag = query_get(c, "tag");
    int rc = query_bool(c, "runnable", &f.runnable_only);
    const char *since = query_get(c, "since");
    if (rc == 0 && since) {
        char *end = NULL;
        errno = 0;
        f.since = strtod(since, &end);
        if (!*since || *end || errno || !(f.since >= 0))
            rc = sq_error_set(SQ_EINVAL,
                              "invalid query argument 'since=%s': expected seconds since the "
                              "epoch",
                              since);
    }
    store_sweep *sw = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_list_sweeps(c->st, &f, &sw, &n);
    if (rc == 0)
        c->reply = json_pack("{so}", "sweeps", wire_sweeps_encode(sw, n));
    store_sweeps_free(sw, n);
    free(names);
    return rc;
}

static int h_get_sweep(req_ctx *c)
{
    store_sweep *sw = NULL;
    int rc = store_get_sweep(c->st, c->param[0], &sw);
    if (rc)
        return rc;
    c->reply = wire_sweep_encode(sw);
    store_sweep_free(sw);
    return 0;
}

static int h_add_trials(req_ctx *c)
{
    static const char *const fields[] = {"trials", NULL};
    int64_t id = 0;
    int rc = parse_id(c->param[0], "sweep id", &id);
    if (rc == 0)
        rc = wire_check_fields(c->body, "trials request", fields);
    const json_t *arr = json_object_get(c->body, "trials");
    if (rc == 0 && !arr)
        rc = sq_error_set(SQ_EINVAL, "invalid trials request: field 'trials' is missing");
    store_trial_def *defs = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = wire_trial_defs_decode(&defs, &n, arr);
    uint64_t added = 0;
    if (rc == 0) {
        write_begin(c);
        rc = store_add_trials(c->st, id, defs, n, &added);
        write_end(c);
    }
    free(defs);
    return rc ? rc : reply_count(c, "added", added);
}

static int h_set_state(req_ctx *c)
{
    static const char *const fields[] = {"state", NULL};
    const char *state = NULL;
    int rc = wire_check_fields(c->body, "state request", fields);
    if (rc == 0)
        rc = wire_get_string(&state, c->body, "state request", "state", false, false);
    if (rc)
        return rc;
    sweep_state s;
    if (!strcmp(state, "paused"))
        s = SWEEP_PAUSED;
    else if (!strcmp(state, "active"))
        s = SWEEP_ACTIVE;
    else
        return sq_error_set(SQ_EINVAL,
                            "invalid state request: field 'state' must be \"paused\" or "
                            "\"active\", not \"%s\"",
                            state);
    write_begin(c);
    rc = store_set_sweep_state(c->st, c->param[0], s);
    write_end(c);
    return rc ? rc : reply_empty(c);
}

static int h_cancel(req_ctx *c)
{
    static const char *const fields[] = {NULL};
    int rc = wire_check_fields(c->body, "cancel request", fields);
    if (rc)
        return rc;
    uint64_t n = 0;
    write_begin(c);
    rc = store_cancel(c->st, c->param[0], &n);
    write_end(c);
    return rc ? rc : reply_count(c, "cancelled", n);
}

static int h_retry(req_ctx *c)
{
    static const char *const fields[] = {"failed", "cancelled", NULL};
    bool failed = false, cancelled = false;
    int rc = wire_check_fields(c->body, "retry request", fields);
    if (rc == 0)
        rc = wire_get_bool(&failed, c->body, "retry request", "failed", true);
    if (rc == 0)
        rc = wire_get_bool(&cancelled, c->body, "retry request", "cancelled", true);
    if (rc)
        return rc;
    uint64_t n = 0;
    write_begin(c);
    rc = store_retry(c->st, c->param[0], failed, cancelled, &n);
    write_end(c);
    return rc ? rc : reply_count(c, "retried", n);
}

static int h_completion(req_ctx *c)
{
    static const char *const fields[] = {"by", NULL};
    int64_t id = 0;
    const char *by = NULL;
    int rc = parse_id(c->param[0], "sweep id", &id);
    if (rc == 0)
        rc = wire_check_fields(c->body, "completion request", fields);
    if (rc == 0)
        rc = wire_get_string(&by, c->body, "completion request", "by", false, false);
    if (rc)
        return rc;
    bool won = false;
    write_begin(c);
    rc = store_claim_completion(c->st, id, by, &won);
    write_end(c);
    if (rc)
        return rc;
    c->reply = json_pack("{sb}", "won", won);
    return 0;
}

/* POST /api/v1/sweeps/ID/completion/update {"by","update":"renew"|
 * "succeeded"|"failed"}: store_complete_update. */
static int h_complete_update(req_ctx *c)
{
    static const char *const fields[] = {"by", "update", NULL};
    static const char *const names[] = {[COMPLETION_RENEW] = "renew",
                                        [COMPLETION_SUCCEEDED] = "succeeded",
                                        [COMPLETION_FAILED] = "failed"};
    int64_t id = 0;
    const char *by = NULL, *update = NULL;
    int rc = parse_id(c->param[0], "sweep id", &id);
    if (rc == 0)
        rc = wire_check_fields(c->body, "completion update", fields);
    if (rc == 0)
        rc = wire_get_string(&by, c->body, "completion update", "by", false, false);
    if (rc == 0)
        rc = wire_get_string(&update, c->body, "completion update", "update", false, false);
    if (rc)
        return rc;
    size_t what = 0;
    while (what < ARRAY_SIZE(names) && strcmp(update, names[what]) != 0)
        what++;
    if (what == ARRAY_SIZE(names))
        return sq_error_set(SQ_EINVAL,
                            "invalid completion update: field 'update' must be renew, succeeded "
                            "or failed");
    write_begin(c);
    rc = store_complete_update(c->st, id, by, (completion_update)what);
    write_end(c);
    if (rc)
        return rc;
    c->reply = json_object();
    return 0;
}

static int h_gc(req_ctx *c)
{
    static const char *const fields[] = {"before", NULL};
    double before = 0;
    int rc = wire_check_fields(c->body, "gc request", fields);
    if (rc == 0)
        rc = wire_get_real(&before, c->body, "gc request", "before", false);
    if (rc)
        return rc;
    char **names = NULL;
    size_t n = 0;
    write_begin(c);
    rc = store_gc(c->st, before, &names, &n);
    write_end(c);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_string(names[i]));
        free(names[i]);
    }
    free(names);
    c->reply = json_pack("{so}", "deleted", arr);
    return 0;
}

/* ---- handlers: trials ----------------------------------------------------- */

static int h_list_trials(req_ctx *c)
{
    store_trial_query q = {.sweep = c->param[0], .state = -1};
    const char *state = query_get(c, "state");
    int rc = 0;
    if (state && *state) {
        trial_state s;
        if (trial_state_parse(state, &s) != 0)
            return sq_error_set(SQ_EINVAL,
                                "invalid query argument 'state=%s': expected pending, running, "
                                "succeeded, failed, cancelled or stopped",
                                state);
        q.state = (int)s;
    }
    const char *sort = query_get(c, "sort");
    q.sort_metric = sort && *sort ? sort : NULL;
    uint64_t limit = 0;
    rc = query_bool(c, "desc", &q.descending);
    if (rc == 0)
        rc = query_uint(c, "limit", (uint64_t)1 << 40, &limit);
    q.limit = (size_t)limit;
    store_trial *t = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_list_trials(c->st, &q, &t, &n);
    if (rc == 0)
        c->reply = json_pack("{so}", "trials", wire_trials_encode(t, n));
    store_trials_free(t, n);
    return rc;
}

static int h_get_trial(req_ctx *c)
{
    int64_t number = 0;
    int rc = parse_id(c->param[1], "trial number", &number);
    store_trial *t = NULL;
    if (rc == 0)
        rc = store_get_trial(c->st, c->param[0], (uint64_t)number, &t);
    if (rc)
        return rc;
    c->reply = wire_trial_encode(t);
    store_trial_free(t);
    return 0;
}

static int h_list_attempts(req_ctx *c)
{
    int64_t id = 0;
    int rc = parse_id(c->param[0], "trial id", &id);
    store_attempt *a = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_list_attempts(c->st, id, &a, &n);
    if (rc)
        return rc;
    c->reply = json_pack("{so}", "attempts", wire_attempts_encode(a, n));
    store_attempts_free(a, n);
    return 0;
}

/* ---- handlers: agents and the lifecycle of a trial ------------------------ */

static int h_register_agent(req_ctx *c)
{
    store_agent_info info;
    int rc = wire_agent_info_decode(&info, c->body);
    if (rc)
        return rc;
    write_begin(c);
    rc = store_register_agent(c->st, &info);
    write_end(c);
    return rc ? rc : reply_empty(c);
}

static int h_deregister_agent(req_ctx *c)
{
    write_begin(c);
    int rc = store_deregister_agent(c->st, c->param[0]);
    write_end(c);
    return rc ? rc : reply_empty(c);
}

static int h_list_agents(req_ctx *c)
{
    store_agent *a = NULL;
    size_t n = 0;
    int rc = store_list_agents(c->st, &a, &n);
    if (rc)
        return rc;
    c->reply = json_pack("{so}", "agents", wire_agents_encode(a, n));
    store_agents_free(a, n);
    return 0;
}

static int h_claim(req_ctx *c)
{
    static const char *const fields[] = {"agent_id", "sweep_id", "max", "request_id", NULL};
    const char *agent = NULL, *request_id = NULL;
    int64_t sweep_id = 0;
    int max = 1;
    int rc = wire_check_fields(c->body, "claim request", fields);
    if (rc == 0)
        rc = wire_get_string(&agent, c->body, "claim request", "agent_id", false, false);
    if (rc == 0)
        rc = wire_get_int(&sweep_id, c->body, "claim request", "sweep_id", false);
    if (rc == 0)
        rc = get_int_field(&max, c->body, "claim request", "max", false, 1, CLAIM_MAX);
    if (rc == 0) /* optional: makes the claim idempotent (store_claim_request) */
        rc = wire_get_string(&request_id, c->body, "claim request", "request_id", true, true);
    if (rc)
        return rc;
    store_claimed *cl = NULL;
    size_t n = 0;
    write_begin(c);
    rc = store_claim_request(c->st, agent, request_id, sweep_id, (size_t)max, &cl, &n);
    write_end(c);
    if (rc)
        return rc;
    atomic_fetch_add_explicit(&c->a->stats->claims, n, memory_order_relaxed);
    c->reply = json_pack("{so}", "claims", wire_claims_encode(cl, n));
    store_claims_free(cl, n);
    return 0;
}

/* store_add_claim: {"agent_id", "trial": {number, key, params_json}} ->
 * {"claims": [...]} with one claim, or none when the sweep takes no trial. */
static int h_add_claim(req_ctx *c)
{
    static const char *const fields[] = {"agent_id", "trial", NULL};
    const char *agent = NULL;
    int64_t id = 0;
    store_trial_def def;
    int rc = parse_id(c->param[0], "sweep id", &id);
    if (rc == 0)
        rc = wire_check_fields(c->body, "proposal", fields);
    if (rc == 0)
        rc = wire_get_string(&agent, c->body, "proposal", "agent_id", false, false);
    const json_t *t = json_object_get(c->body, "trial");
    if (rc == 0 && !t)
        rc = sq_error_set(SQ_EINVAL, "invalid proposal: field 'trial' is missing");
    if (rc == 0)
        rc = wire_trial_def_decode(&def, t);
    if (rc)
        return rc;
    store_claimed *cl = NULL;
    size_t n = 0;
    write_begin(c);
    rc = store_add_claim(c->st, agent, id, &def, &cl, &n);
    write_end(c);
    if (rc)
        return rc;
    atomic_fetch_add_explicit(&c->a->stats->claims, n, memory_order_relaxed);
    c->reply = json_pack("{so}", "claims", wire_claims_encode(cl, n));
    store_claims_free(cl, n);
    return 0;
}

static int h_heartbeat(req_ctx *c)
{
    static const char *const fields[] = {"agent_id", "leases", NULL};
    const char *agent = NULL;
    int rc = wire_check_fields(c->body, "heartbeat request", fields);
    if (rc == 0)
        rc = wire_get_string(&agent, c->body, "heartbeat request", "agent_id", false, false);
    const json_t *arr = json_object_get(c->body, "leases");
    if (rc == 0 && !arr)
        rc = sq_error_set(SQ_EINVAL, "invalid heartbeat request: field 'leases' is missing");
    store_lease *l = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = wire_leases_decode(&l, &n, arr, false);
    if (rc == 0) {
        write_begin(c);
        rc = store_heartbeat(c->st, agent, l, n);
        write_end(c);
    }
    if (rc == 0)
        c->reply = json_pack("{so}", "leases", wire_leases_encode(l, n, true));
    free(l);
    return rc;
}

static int h_finish(req_ctx *c)
{
    int64_t id = 0;
    int attempt = 0;
    store_result r;
    int rc = parse_id(c->param[0], "trial id", &id);
    if (rc == 0)
        rc = wire_finish_decode(&attempt, &r, c->body);
    if (rc)
        return rc;
    write_begin(c);
    rc = store_finish(c->st, id, attempt, &r);
    write_end(c);
    if (rc)
        return rc;
    atomic_fetch_add_explicit(&c->a->stats->finishes, 1, memory_order_relaxed);
    return reply_empty(c);
}

static int h_append_metrics(req_ctx *c)
{
    static const char *const fields[] = {"attempt", "rows", NULL};
    int64_t id = 0;
    int attempt = 0;
    const char *rows = NULL;
    int rc = parse_id(c->param[0], "trial id", &id);
    if (rc == 0)
        rc = wire_check_fields(c->body, "metrics request", fields);
    if (rc == 0)
        rc = get_int_field(&attempt, c->body, "metrics request", "attempt", false, 1, INT_MAX);
    if (rc == 0)
        rc = wire_get_string(&rows, c->body, "metrics request", "rows", false, false);
    if (rc)
        return rc;
    write_begin(c);
    rc = store_append_metrics(c->st, id, attempt, rows);
    write_end(c);
    return rc ? rc : reply_empty(c);
}

static int h_get_metrics(req_ctx *c)
{
    int64_t id = 0;
    char *text = NULL;
    int rc = parse_id(c->param[0], "trial id", &id);
    if (rc == 0)
        rc = store_get_metrics(c->st, id, &text);
    if (rc)
        return rc;
    c->raw = text;
    c->raw_len = strlen(text);
    c->raw_type = "application/json";
    return 0;
}

/* GET /api/v1/sweeps/ID/values?name=M&step=S[&completed=1]: {"values":[...]}. */
static int h_band_values(req_ctx *c)
{
    int64_t id = 0;
    uint64_t step = 0;
    bool completed = false;
    const char *name = query_get(c, "name");
    int rc = parse_id(c->param[0], "sweep id", &id);
    if (rc == 0 && !query_get(c, "step"))
        rc = sq_error_set(SQ_EINVAL, "missing query argument 'step': the step of the values");
    if (rc == 0)
        rc = query_uint(c, "step", (uint64_t)INT64_MAX, &step);
    if (rc == 0)
        rc = query_bool(c, "completed", &completed);
    double *v = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_band_values(c->st, id, name, step, completed, &v, &n);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_real(v[i]));
    free(v);
    c->reply = json_pack("{so}", "values", arr);
    return 0;
}

static int h_reap(req_ctx *c)
{
    static const char *const fields[] = {NULL};
    int rc = wire_check_fields(c->body, "reap request", fields);
    if (rc)
        return rc;
    uint64_t n = 0;
    write_begin(c);
    rc = store_reap(c->st, &n);
    write_end(c);
    return rc ? rc : reply_count(c, "reaped", n);
}

static int h_import(req_ctx *c)
{
    static const char *const fields[] = {"metrics_json", NULL};
    int64_t id = 0;
    const char *metrics = NULL;
    int rc = parse_id(c->param[0], "trial id", &id);
    if (rc == 0)
        rc = wire_check_fields(c->body, "import request", fields);
    if (rc == 0)
        rc = wire_get_string(&metrics, c->body, "import request", "metrics_json", false, false);
    if (rc)
        return rc;
    write_begin(c);
    rc = store_import_result(c->st, id, metrics);
    write_end(c);
    return rc ? rc : reply_empty(c);
}

/* {"attempt","text"} for UTF-8 text, {"attempt","text_base64"} for other
 * bytes (a NUL, a character cut by the tail): wire_log_decode. */
static int h_put_log(req_ctx *c)
{
    int64_t id = 0;
    int attempt = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = parse_id(c->param[0], "trial id", &id);
    if (rc == 0)
        rc = wire_log_decode(&attempt, &text, &len, c->body);
    if (rc == 0 && attempt < 1)
        rc = sq_error_set(SQ_EINVAL, "invalid log request: field 'attempt' must be 1 or more");
    if (rc == 0) {
        write_begin(c);
        rc = store_put_log(c->st, id, attempt, text, len);
        write_end(c);
    }
    free(text);
    return rc ? rc : reply_empty(c);
}

static int h_get_log(req_ctx *c)
{
    int64_t id = 0;
    uint64_t attempt = 0;
    int rc = parse_id(c->param[0], "trial id", &id);
    if (rc == 0)
        rc = query_uint(c, "attempt", INT_MAX, &attempt);
    char *text = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = store_get_log(c->st, id, (int)attempt, &text, &len);
    if (rc)
        return rc;
    c->raw = text;
    c->raw_len = len;
    c->raw_type = "text/plain; charset=utf-8";
    return 0;
}

/* ---- handlers: Prometheus ------------------------------------------------- */

static size_t route_names(const char **names);

static int h_metrics(req_ctx *c)
{
    strbuf sb = SB_INIT;
    store_sweep *sw = NULL;
    store_agent *ag = NULL;
    size_t nsw = 0, nag = 0;
    int rc = store_list_sweeps(c->st, NULL, &sw, &nsw);
    if (rc == 0)
        rc = store_list_agents(c->st, &ag, &nag);
    if (rc)
        goto out;
    sb_adds(&sb, "# HELP sweepq_trials Trials by sweep and state.\n# TYPE sweepq_trials gauge\n");
    for (size_t i = 0; i < nsw; i++) {
        const store_counts *k = &sw[i].counts;
        const uint64_t v[] = {k->pending, k->running,   k->succeeded,
                              k->failed,  k->cancelled, k->stopped};
        for (int s = TRIAL_PENDING; s <= TRIAL_STOPPED; s++) {
            sb_adds(&sb, "sweepq_trials{sweep=\"");
            stats_add_label(&sb, sw[i].name);
            sb_addf(&sb, "\",state=\"%s\"} %llu\n", trial_state_name((trial_state)s),
                    (unsigned long long)v[s]);
        }
    }
    size_t alive = 0;
    for (size_t i = 0; i < nag; i++)
        alive += ag[i].alive;
    sb_addf(&sb,
            "# HELP sweepq_agents_alive Agents seen within their lease time.\n"
            "# TYPE sweepq_agents_alive gauge\nsweepq_agents_alive %zu\n"
            "# HELP sweepq_agents Agents registered in the store.\n"
            "# TYPE sweepq_agents gauge\nsweepq_agents %zu\n",
            alive, nag);
    const char *names[STATS_MAX_ROUTES];
    size_t nnames = route_names(names);
    rc = stats_render(c->a->stats, names, nnames, &sb);
    if (rc)
        goto out;
    c->raw_len = sb.len;
    c->raw = sb_detach(&sb);
    c->raw_type = "text/plain; version=0.0.4; charset=utf-8";
out:
    store_sweeps_free(sw, nsw);
    store_agents_free(ag, nag);
    sb_release(&sb);
    return rc;
}

/* ---- the route table -------------------------------------------------------- */

static const route routes[] = {
    {"GET", "api/v1/health", h_health, "health", NULL, false},
    {"GET", "api/v1/time", h_time, "time", NULL, false},
    {"POST", "api/v1/sweeps", h_create_sweep, "create_sweep", NULL, true},
    {"GET", "api/v1/sweeps", h_list_sweeps, "list_sweeps", "name tag since runnable", false},
    {"GET", "api/v1/sweeps/:name", h_get_sweep, "get_sweep", NULL, false},
    {"POST", "api/v1/sweeps/:id/trials", h_add_trials, "add_trials", NULL, true},
    {"POST", "api/v1/sweeps/:name/state", h_set_state, "set_sweep_state", NULL, true},
    {"POST", "api/v1/sweeps/:name/cancel", h_cancel, "cancel", NULL, true},
    {"POST", "api/v1/sweeps/:name/retry", h_retry, "retry", NULL, true},
    {"POST", "api/v1/sweeps/:id/completion", h_completion, "claim_completion", NULL, true},
    {"POST", "api/v1/sweeps/:id/completion/update", h_complete_update, "complete_update", NULL,
     true},
    {"POST", "api/v1/gc", h_gc, "gc", NULL, true},
    {"GET", "api/v1/sweeps/:name/trials", h_list_trials, "list_trials", "state sort desc limit",
     false},
    {"GET", "api/v1/sweeps/:name/trials/:number", h_get_trial, "get_trial", NULL, false},
    {"GET", "api/v1/trials/:id/attempts", h_list_attempts, "list_attempts", NULL, false},
    {"POST", "api/v1/agents", h_register_agent, "register_agent", NULL, true},
    {"DELETE", "api/v1/agents/:id", h_deregister_agent, "deregister_agent", NULL, false},
    {"GET", "api/v1/agents", h_list_agents, "list_agents", NULL, false},
    {"POST", "api/v1/claims", h_claim, "claim", NULL, true},
    {"POST", "api/v1/heartbeats", h_heartbeat, "heartbeat", NULL, true},
    {"POST", "api/v1/trials/:id/finish", h_finish, "finish", NULL, true},
    {"POST", "api/v1/trials/:id/metrics", h_append_metrics, "append_metrics", NULL, true},
    {"GET", "api/v1/trials/:id/metrics", h_get_metrics, "get_metrics", NULL, false},
    {"POST", "api/v1/reap", h_reap, "reap", NULL, true},
    {"GET", "api/v1/sweeps/:id/values", h_band_values, "band_values", "name step completed", false},
    {"POST", "api/v1/trials/:id/import", h_import, "import_result", NULL, true},
    {"PUT", "api/v1/trials/:id/log", h_put_log, "put_log", NULL, true},
    {"GET", "api/v1/trials/:id/log", h_get_log, "get_log", "attempt", false},
    {"GET", "metrics", h_metrics, "metrics", NULL, false},
    {"POST", "api/v1/sweeps/:id/proposals", h_add_claim, "add_claim", NULL, true},
};

/* Stats routes: the table's, then these. */
enum { ROUTE_ASSETS = ARRAY_SIZE(routes), ROUTE_OTHER, ROUTE_COUNT };

_Static_assert(ROUTE_COUNT <= STATS_MAX_ROUTES, "STATS_MAX_ROUTES too small");

/* Fills names[0..ROUTE_COUNT) with the stats labels (the table's, then
 * the extra routes); returns ROUTE_COUNT. */
static size_t route_names(const char **names)
{
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
        names[i] = routes[i].name;
    names[ROUTE_ASSETS] = "assets";
    names[ROUTE_OTHER] = "other";
    return ROUTE_COUNT;
}

size_t api_route_other(void)
{
    return ROUTE_OTHER;
}

/* Matches the decoded segments against pattern, setting c->param. */
static bool route_match(const route *r, req_ctx *c)
{
    size_t i = 0, np = 0;
    const char *p = r->pattern;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= c->nseg)
            return false;
        if (p[0] == ':') {
            if (!c->seg[i][0])
                return false;
            if (np < ARRAY_SIZE(c->param))
                c->param[np++] = c->seg[i];
        } else if (strlen(c->seg[i]) != len || memcmp(c->seg[i], p, len) != 0) {
            return false;
        }
        i++;
        p += len + (end ? 1 : 0);
    }
    return i == c->nseg;
}

/* ---- parsing the target ---------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into *out (caller frees); in a query '+' is a
 * space. A bad escape or a NUL byte is SQ_EINVAL. */
static int pct_decode(char **out, const char *s, size_t n, bool query)
{
    char *d = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            int v = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
            if (v <= 0) {
                free(d);
                return sq_error_set(SQ_EINVAL, v == 0
                                                   ? "invalid request target: %%00 is not allowed"
                                                   : "invalid request target: bad percent escape");
            }
            d[j++] = (char)v;
            i += 2;
        } else if (ch == '\0') {
            free(d);
            return sq_error_set(SQ_EINVAL, "invalid request target: NUL byte");
        } else {
            d[j++] = query && ch == '+' ? ' ' : ch;
        }
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

/* Splits the target into c->seg and c->q. */
static int parse_target(req_ctx *c, const char *target)
{
    if (target[0] != '/')
        return sq_error_set(SQ_EINVAL, "invalid request target: it must start with '/'");
    size_t plen = strcspn(target, "?#");
    const char *p = target + 1, *end = target + plen;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        if (c->nseg == MAX_SEGMENTS)
            return SQ_ENOTFOUND; /* no route is that deep */
        int rc = pct_decode(&c->seg[c->nseg], p, (size_t)(stop - p), false);
        if (rc)
            return rc;
        c->nseg++;
        p = stop + 1;
    }
    if (target[plen] != '?')
        return 0;
    const char *q = target + plen + 1;
    const char *qend = q + strcspn(q, "#");
    while (q < qend) {
        const char *amp = memchr(q, '&', (size_t)(qend - q));
        const char *stop = amp ? amp : qend;
        if (stop > q) {
            if (c->nq == MAX_QUERY_ARGS)
                return sq_error_set(SQ_EINVAL,
                                    "invalid request target: more than %d query "
                                    "arguments",
                                    MAX_QUERY_ARGS);
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            const char *kend = eq ? eq : stop;
            query_arg *a = &c->q[c->nq];
            int rc = pct_decode(&a->key, q, (size_t)(kend - q), true);
            if (rc)
                return rc;
            rc = eq ? pct_decode(&a->value, eq + 1, (size_t)(stop - eq - 1), true)
                    : (a->value = xstrdup(""), 0);
            if (rc) {
                free(a->key);
                return rc;
            }
            c->nq++;
        }
        q = stop + (amp ? 1 : 0);
        if (!amp)
            break;
    }
    return 0;
}

/* SQ_EINVAL naming the first query argument that r does not take. */
static int check_query(const route *r, const req_ctx *c)
{
    for (size_t i = 0; i < c->nq; i++) {
        const char *k = c->q[i].key;
        size_t kl = strlen(k);
        bool ok = false;
        for (const char *p = r->query; p && *p && !ok;) {
            size_t l = strcspn(p, " ");
            ok = l == kl && memcmp(p, k, l) == 0;
            p += l + (p[l] == ' ');
        }
        if (!ok)
            return sq_error_set(SQ_EINVAL, "unknown query argument '%s': %s %s takes %s", k,
                                r->method, r->pattern, r->query ? r->query : "none");
    }
    return 0;
}

/* ---- responses ----------------------------------------------------------- */

static void set_body(api_response *out, int status, const char *type, char *body, size_t len)
{
    out->status = status;
    out->content_type = type;
    out->body = body;
    out->len = len;
}

void api_error_response(api_response *out, int status, const char *code, const char *message)
{
    json_t *j = wire_error_encode(code, message);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    SQ_ASSERT(text);
    set_body(out, status, "application/json", text, strlen(text));
}

/* The error response of a store or argument failure rc. */
static void error_from_code(api_response *out, int rc)
{
    const char *msg = sq_error_msg();
    api_error_response(out, wire_error_status(rc), wire_error_name(rc),
                       *msg ? msg : sq_error_name(rc));
}

void api_response_release(api_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* ---- auth ----------------------------------------------------------------- */

typedef enum { AUTH_NONE, AUTH_READ, AUTH_WRITE } auth_level;

/* What the Authorization header grants. Both digests are always compared,
 * so the time taken does not say which token matched. */
static auth_level authorize(const api *a, const char *header)
{
    if (!header)
        return AUTH_NONE;
    while (*header == ' ')
        header++;
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return AUTH_NONE;
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (!len || len > TOKEN_MAX)
        return AUTH_NONE;
    token_digest d;
    token_hash(&d, tok, len);
    bool w = token_equal(&d, &a->write_token);
    bool r = token_equal(&d, &a->read_token) && a->has_read_token;
    return w ? AUTH_WRITE : r ? AUTH_READ : AUTH_NONE;
}

void api_init(api *a, const char *write_token, const char *read_token, stats *st,
              pthread_mutex_t *write_lock)
{
    memset(a, 0, sizeof *a);
    token_hash(&a->write_token, write_token, strlen(write_token));
    if (read_token) {
        token_hash(&a->read_token, read_token, strlen(read_token));
        a->has_read_token = true;
    }
    a->stats = st;
    a->write_lock = write_lock;
}

/* ---- dispatch --------------------------------------------------------------- */

static bool is_read_method(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD");
}

bool api_authorized(const api *a, const char *method, const char *authorization)
{
    auth_level level = authorize(a, authorization);
    return level == AUTH_WRITE || (level == AUTH_READ && is_read_method(method));
}

/* GET / and /assets/...: the embedded dashboard; no token. */
static bool serve_asset(const req_ctx *c, api_response *out)
{
    bool page = c->nseg == 1 && (!c->seg[0][0] || !strcmp(c->seg[0], "index.html"));
    bool asset = c->nseg >= 2 && !strcmp(c->seg[0], "assets");
    if (!page && !asset)
        return false;
    out->route = ROUTE_ASSETS;
    if (!is_read_method(c->req->method)) {
        snprintf(out->allow, sizeof out->allow, "GET, HEAD");
        api_error_response(out, 405, "EMETHOD", "dashboard files are read with GET");
        return true;
    }
    size_t plen = strcspn(c->req->target, "?#");
    char *path = xstrndup(c->req->target, plen);
    const web_asset *w = web_asset_find(path);
    free(path);
    if (!w) {
        api_error_response(out, 404, "ENOROUTE", "no such dashboard file");
        return true;
    }
    char *copy = xmalloc(w->len + 1);
    memcpy(copy, w->data, w->len);
    copy[w->len] = '\0';
    set_body(out, 200, w->content_type, copy, w->len);
    return true;
}

/* Runs route r: body, query, handler, reply. */
static void run_route(req_ctx *c, const route *r, api_response *out)
{
    int rc = check_query(r, c);
    if (rc == 0 && r->body) {
        if (c->req->body_len == 0) {
            c->body = json_object();
        } else {
            json_error_t err;
            c->body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &err);
            if (!c->body)
                rc = sq_error_set(SQ_EINVAL,
                                  "invalid JSON in the request body at line %d column %d: %s",
                                  err.line, err.column, err.text);
            else if (!json_is_object(c->body))
                rc = sq_error_set(SQ_EINVAL, "invalid request body: expected a JSON object");
        }
    }
    if (rc == 0)
        rc = r->fn(c);
    if (rc) {
        error_from_code(out, rc);
        return;
    }
    if (c->reply) {
        char *text = json_dumps(c->reply, JSON_COMPACT);
        SQ_ASSERT(text);
        set_body(out, 200, "application/json", text, strlen(text));
    } else {
        set_body(out, 200, c->raw_type, c->raw, c->raw_len);
        c->raw = NULL;
    }
}

void api_handle(const api *a, store *st, const api_request *req, api_response *out)
{
    memset(out, 0, sizeof *out);
    out->route = ROUTE_OTHER;
    req_ctx c = {.a = a, .st = st, .req = req};
    int rc = parse_target(&c, req->target ? req->target : "");
    if (rc == SQ_ENOTFOUND) {
        api_error_response(out, 404, "ENOROUTE", "no such path");
        goto out;
    }
    if (rc) {
        error_from_code(out, rc);
        goto out;
    }
    if (serve_asset(&c, out))
        goto out;

    bool read = is_read_method(req->method);
    bool health = c.nseg == 3 && !strcmp(c.seg[0], "api") && !strcmp(c.seg[1], "v1") &&
                  !strcmp(c.seg[2], "health");
    if (!(health && read)) {
        auth_level level = authorize(a, req->authorization);
        if (level == AUTH_NONE) {
            api_error_response(out, 401, "EAUTH",
                               req->authorization
                                   ? "unknown token: send 'Authorization: Bearer TOKEN' with the "
                                     "token in the server's .sweepq/server.token"
                                   : "no token: send 'Authorization: Bearer TOKEN' with the "
                                     "token in the server's .sweepq/server.token");
            goto out;
        }
        if (level == AUTH_READ && !read) {
            api_error_response(out, 403, "EAUTH",
                               "the read-only token cannot write: use the token in "
                               ".sweepq/server.token");
            goto out;
        }
    }

    const route *found = NULL;
    bool path_known = false;
    const char *m = !strcmp(req->method, "HEAD") ? "GET" : req->method;
    for (size_t i = 0; i < ARRAY_SIZE(routes) && !found; i++) {
        if (!route_match(&routes[i], &c))
            continue;
        if (!strcmp(routes[i].method, m)) {
            found = &routes[i];
        } else if (!strstr(out->allow, routes[i].method)) {
            size_t used = strlen(out->allow);
            snprintf(out->allow + used, sizeof out->allow - used, "%s%s", used ? ", " : "",
                     routes[i].method);
            path_known = true;
        }
    }
    if (found) {
        out->allow[0] = '\0';
        out->route = (size_t)(found - routes);
        run_route(&c, found, out);
    } else if (path_known) {
        char *msg =
            xasprintf("method %s is not allowed here; this path takes %s", req->method, out->allow);
        api_error_response(out, 405, "EMETHOD", msg);
        free(msg);
    } else {
        api_error_response(out, 404, "ENOROUTE", "no such path");
    }
out:
    for (size_t i = 0; i < c.nseg; i++)
        free(c.seg[i]);
    for (size_t i = 0; i < c.nq; i++) {
        free(c.q[i].key);
        free(c.q[i].value);
    }
    json_decref(c.body);
    json_decref(c.reply);
    free(c.raw);
}
