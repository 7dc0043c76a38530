/*
 * store.c - the store interface: picks a backend by URL scheme, checks the
 * arguments once for every backend, and frees what the store hands out.
 *
 * Invariants:
 *   - Every public function clears its out-parameters before anything can
 *     fail, so on error *out is NULL and counts are 0.
 *   - A backend slot is called only with arguments checked here (see
 *     backend.h); argument errors are SQ_EINVAL with a message naming the
 *     argument.
 *   - The scheme table is the one list of backends: store_open's messages
 *     and its dispatch both come from it.
 */
#include "util/common.h"

#include "store/backend.h"
#include "util/workspace.h"

#include <ctype.h>
#include <jansson.h>

/* ---- names ------------------------------------------------------------- */

static const char *const trial_state_names[] = {"pending", "running",   "succeeded",
                                                "failed",  "cancelled", "stopped"};
static const char *const sweep_state_names[] = {"active", "paused", "cancelled", "finished"};
static const char *const outcome_names[] = {"none",      "succeeded", "failed",    "timed_out",
                                            "preempted", "lost",      "cancelled", "stopped"};

const char *trial_state_name(trial_state s)
{
    return (unsigned)s < ARRAY_SIZE(trial_state_names) ? trial_state_names[s] : "unknown";
}

int trial_state_parse(const char *name, trial_state *out)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(trial_state_names); i++) {
        if (strcmp(name, trial_state_names[i]) == 0) {
            *out = (trial_state)i;
            return 0;
        }
    }
    return sq_error_set(SQ_EINVAL,
                        "unknown trial state '%s': expected pending, running, succeeded, failed "
                        "or cancelled",
                        name ? name : "");
}

const char *sweep_state_name(sweep_state s)
{
    return (unsigned)s < ARRAY_SIZE(sweep_state_names) ? sweep_state_names[s] : "unknown";
}

const char *attempt_outcome_name(attempt_outcome o)
{
    return (unsigned)o < ARRAY_SIZE(outcome_names) ? outcome_names[o] : "unknown";
}

/* ---- opening ----------------------------------------------------------- */

/* Every scheme a store URL may name. */
static const struct {
    const char *scheme;
    const store_backend *backend;
} schemes[] = {
    {"sqlite", &store_sqlite_backend},     {"postgresql", &store_postgres_backend},
    {"postgres", &store_postgres_backend}, {"http", &store_http_backend},
    {"https", &store_http_backend},
};

/* Length of a URL scheme ("sqlite" in "sqlite:x.db") or 0 when url does not
 * start with one. A ':' after a '/' belongs to a path, not a scheme. */
static size_t scheme_len(const char *url)
{
    size_t i = 0;
    if (!isalpha((unsigned char)url[0]))
        return 0;
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
        i++;
    return url[i] == ':' ? i : 0;
}

/* The backend for url's scheme (a plain path: SQLite), or NULL when the
 * scheme is unknown; *n: the scheme's length (0 for a plain path). */
static const store_backend *backend_for(const char *url, size_t *n)
{
    *n = scheme_len(url);
    if (*n == 0)
        return &store_sqlite_backend; /* a plain path is a SQLite file */
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        if (strlen(schemes[i].scheme) == *n && strncasecmp(url, schemes[i].scheme, *n) == 0)
            return schemes[i].backend;
    }
    return NULL;
}

bool store_url_is_embedded(const char *url)
{
    size_t n;
    return url && backend_for(url, &n) == &store_sqlite_backend;
}

bool store_url_has_password(const char *url)
{
    const char *auth = url ? strstr(url, "://") : NULL;
    if (!auth)
        return false;
    auth += 3;
    size_t n = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', n);
    return at && memchr(auth, ':', (size_t)(at - auth));
}

char *store_url_file(const char *url)
{
    size_t n;
    if (!url || backend_for(url, &n) != &store_sqlite_backend)
        return NULL;
    const char *path = url + (n ? n + 1 : 0);
    if (strncmp(path, "//", 2) == 0) /* as sqlite_open reads it */
        path += 2;
    if (!*path || !strcmp(path, ":memory:"))
        return NULL;
    return xstrdup(path);
}

int store_open(store **out, const char *url)
{
    *out = NULL;
    if (!url || !*url)
        return sq_error_set(SQ_EINVAL, "cannot open store: empty URL: pass --store sqlite:PATH");

    size_t n;
    const store_backend *be = backend_for(url, &n);
    if (!be)
        return sq_error_set(SQ_EINVAL,
                            "cannot open store '%s': unknown scheme '%.*s': use sqlite:PATH or "
                            "postgresql://HOST/DB or http(s)://HOST:PORT",
                            url, (int)n, url);
    const char *location = n ? url + n + 1 : url;
    if (be->version != STORE_BACKEND_VERSION)
        SQ_BUG("store backend '%s' has version %d, expected %d", be->scheme, be->version,
               STORE_BACKEND_VERSION);

    store *st = NULL;
    int rc = be->open(&st, url, location);
    if (rc < 0)
        return rc;
    st->backend = be;
    st->url = xstrdup(url);
    *out = st;
    return 0;
}

void store_close(store *st)
{
    if (!st)
        return;
    char *url = st->url;
    st->backend->close(st);
    free(url);
}

const char *store_url(const store *st)
{
    return st->url;
}

bool store_is_embedded(const store *st)
{
    return st->backend == &store_sqlite_backend;
}

double store_now(store *st)
{
    return st->backend->now(st);
}

/* ---- argument checks ----------------------------------------------------- */

static bool is_blank(const char *s)
{
    return !s || !*s;
}

static int check_def(const store_sweep_def *def)
{
    if (!def || is_blank(def->name))
        return sq_error_set(SQ_EINVAL, "cannot create sweep: it has no name");
    if (workspace_check_name(def->name))
        return SQ_EINVAL; /* the message names the sweep and the rule */
    if (!def->spec_json || !def->command_json)
        return sq_error_set(SQ_EINVAL, "cannot create sweep '%s': spec or command missing",
                            def->name);
    if (def->max_attempts < 1)
        return sq_error_set(SQ_EINVAL, "cannot create sweep '%s': max_attempts %d is below 1",
                            def->name, def->max_attempts);
    if (!(def->lease_ttl > 0) || def->timeout < 0)
        return sq_error_set(SQ_EINVAL,
                            "cannot create sweep '%s': lease_ttl must be positive and timeout "
                            "not negative",
                            def->name);
    if (def->ntags && !def->tags)
        return sq_error_set(SQ_EINVAL, "cannot create sweep '%s': tags missing", def->name);
    for (size_t i = 0; i < def->ntags; i++) {
        if (is_blank(def->tags[i]))
            return sq_error_set(SQ_EINVAL, "cannot create sweep '%s': empty tag", def->name);
    }
    return 0;
}

static int check_trials(const store_trial_def *t, size_t n)
{
    if (n && !t)
        return sq_error_set(SQ_EINVAL, "cannot add trials: trial list missing");
    for (size_t i = 0; i < n; i++) {
        if (t[i].number < 1 || t[i].number > INT64_MAX || !t[i].key || !t[i].params_json)
            return sq_error_set(SQ_EINVAL,
                                "cannot add trial #%zu: it needs a number from 1, a key and "
                                "parameters",
                                i + 1);
    }
    return 0;
}

/* ---- sweeps ------------------------------------------------------------ */

int store_create_sweep(store *st, const store_sweep_def *def, int64_t *out_id, uint64_t *out_added)
{
    *out_id = 0;
    if (out_added)
        *out_added = 0;
    int rc = check_def(def);
    if (rc == 0)
        rc = check_trials(def->trials, def->ntrials);
    if (rc < 0)
        return rc;
    uint64_t added = 0;
    rc = st->backend->create_sweep(st, def, out_id, &added);
    if (rc == 0 && out_added)
        *out_added = added;
    return rc;
}

int store_add_trials(store *st, int64_t sweep_id, const store_trial_def *trials, size_t n,
                     uint64_t *out_added)
{
    if (out_added)
        *out_added = 0;
    int rc = check_trials(trials, n);
    if (rc < 0)
        return rc;
    uint64_t added = 0;
    rc = st->backend->add_trials(st, sweep_id, trials, n, &added);
    if (rc == 0 && out_added)
        *out_added = added;
    return rc;
}

int store_get_sweep(store *st, const char *name, store_sweep **out)
{
    *out = NULL;
    if (is_blank(name))
        return sq_error_set(SQ_EINVAL, "no sweep name given");
    return st->backend->get_sweep(st, name, out);
}

int store_list_sweeps(store *st, const store_sweep_filter *f, store_sweep **out, size_t *n)
{
    static const store_sweep_filter all = {0};
    *out = NULL;
    *n = 0;
    if (!f)
        f = &all;
    if (f->nnames && !f->names)
        return sq_error_set(SQ_EINVAL, "sweep filter: names missing");
    return st->backend->list_sweeps(st, f, out, n);
}

int store_set_sweep_state(store *st, const char *name, sweep_state state)
{
    if (is_blank(name))
        return sq_error_set(SQ_EINVAL, "no sweep name given");
    if (state != SWEEP_ACTIVE && state != SWEEP_PAUSED)
        return sq_error_set(SQ_EINVAL,
                            "cannot set sweep '%s' to '%s': only active (resume) and paused "
                            "(pause) can be set",
                            name, sweep_state_name(state));
    return st->backend->set_sweep_state(st, name, state);
}

int store_cancel(store *st, const char *name, uint64_t *out_n)
{
    uint64_t n = 0;
    if (out_n)
        *out_n = 0;
    if (is_blank(name))
        return sq_error_set(SQ_EINVAL, "no sweep name given");
    int rc = st->backend->cancel(st, name, &n);
    if (rc == 0 && out_n)
        *out_n = n;
    return rc;
}

int store_retry(store *st, const char *name, bool failed, bool cancelled, uint64_t *out_n)
{
    uint64_t n = 0;
    if (out_n)
        *out_n = 0;
    if (is_blank(name))
        return sq_error_set(SQ_EINVAL, "no sweep name given");
    int rc = st->backend->retry(st, name, failed, cancelled, &n);
    if (rc == 0 && out_n)
        *out_n = n;
    return rc;
}

int store_gc(store *st, double before, char ***out_names, size_t *out_n)
{
    *out_names = NULL;
    *out_n = 0;
    return st->backend->gc(st, before, out_names, out_n);
}

int store_claim_completion(store *st, int64_t sweep_id, const char *by, bool *won)
{
    *won = false;
    return st->backend->claim_completion(st, sweep_id, by ? by : "", won);
}

int store_complete_update(store *st, int64_t sweep_id, const char *by, completion_update what)
{
    if (is_blank(by))
        return sq_error_set(SQ_EINVAL, "no completion holder given");
    if (what != COMPLETION_RENEW && what != COMPLETION_SUCCEEDED && what != COMPLETION_FAILED)
        return sq_error_set(SQ_EINVAL, "unknown completion update %d", (int)what);
    return st->backend->complete_update(st, sweep_id, by, what);
}

/* ---- trials ------------------------------------------------------------ */

int store_list_trials(store *st, const store_trial_query *q, store_trial **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!q || is_blank(q->sweep))
        return sq_error_set(SQ_EINVAL, "no sweep name given");
    if (q->state < -1 || q->state > TRIAL_STOPPED)
        return sq_error_set(SQ_EINVAL, "unknown trial state %d", q->state);
    if (q->sort_metric && (!*q->sort_metric || strchr(q->sort_metric, '"')))
        return sq_error_set(SQ_EINVAL,
                            "cannot sort by metric '%s': a metric name is not empty and has no "
                            "'\"'",
                            q->sort_metric);
    return st->backend->list_trials(st, q, out, n);
}

int store_get_trial(store *st, const char *sweep, uint64_t number, store_trial **out)
{
    *out = NULL;
    if (is_blank(sweep))
        return sq_error_set(SQ_EINVAL, "no sweep name given");
    if (number < 1 || number > INT64_MAX)
        return sq_error_set(SQ_ENOTFOUND, "no trial %llu in sweep '%s'", (unsigned long long)number,
                            sweep);
    return st->backend->get_trial(st, sweep, number, out);
}

int store_list_attempts(store *st, int64_t trial_id, store_attempt **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return st->backend->list_attempts(st, trial_id, out, n);
}

/* ---- agents ------------------------------------------------------------ */

int store_register_agent(store *st, const store_agent_info *a)
{
    if (!a || is_blank(a->id))
        return sq_error_set(SQ_EINVAL, "cannot register agent: it has no id");
    return st->backend->register_agent(st, a);
}

int store_deregister_agent(store *st, const char *agent_id)
{
    if (is_blank(agent_id))
        return sq_error_set(SQ_EINVAL, "cannot deregister agent: no id given");
    return st->backend->deregister_agent(st, agent_id);
}

int store_list_agents(store *st, store_agent **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return st->backend->list_agents(st, out, n);
}

int store_claim(store *st, const char *agent_id, int64_t sweep_id, size_t max, store_claimed **out,
                size_t *n)
{
    *out = NULL;
    *n = 0;
    if (is_blank(agent_id))
        return sq_error_set(SQ_EINVAL, "cannot claim trials: no agent id given");
    if (max == 0)
        return 0;
    return st->backend->claim(st, agent_id, sweep_id, max, out, n);
}

int store_claim_request(store *st, const char *agent_id, const char *request_id, int64_t sweep_id,
                        size_t max, store_claimed **out, size_t *n)
{
    if (!request_id)
        return store_claim(st, agent_id, sweep_id, max, out, n);
    *out = NULL;
    *n = 0;
    if (is_blank(agent_id))
        return sq_error_set(SQ_EINVAL, "cannot claim trials: no agent id given");
    if (!*request_id || strlen(request_id) > STORE_REQUEST_ID_MAX)
        return sq_error_set(SQ_EINVAL,
                            "cannot claim trials: request id '%.40s' is empty or longer than %d "
                            "bytes: use a shorter one",
                            request_id, STORE_REQUEST_ID_MAX);
    if (max == 0)
        return 0;
    return st->backend->claim_request(st, agent_id, request_id, sweep_id, max, out, n);
}

int store_add_claim(store *st, const char *agent_id, int64_t sweep_id, const store_trial_def *def,
                    store_claimed **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (is_blank(agent_id))
        return sq_error_set(SQ_EINVAL, "cannot add a proposed trial: no agent id given");
    if (!def || def->number == 0 || is_blank(def->key) || is_blank(def->params_json))
        return sq_error_set(SQ_EINVAL, "cannot add a proposed trial: its number, key or "
                                       "parameters are missing");
    return st->backend->add_claim(st, agent_id, sweep_id, def, out, n);
}

int store_heartbeat(store *st, const char *agent_id, store_lease *leases, size_t n)
{
    if (is_blank(agent_id))
        return sq_error_set(SQ_EINVAL, "cannot heartbeat: no agent id given");
    if (n && !leases)
        return sq_error_set(SQ_EINVAL, "cannot heartbeat: leases missing");
    for (size_t i = 0; i < n; i++)
        leases[i].lost = leases[i].cancel = false;
    return st->backend->heartbeat(st, agent_id, leases, n);
}

/* SQ_EINVAL unless text is a JSON object ("{...}"): metrics are stored as one. */
static int check_object(const char *text, const char *what)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    bool ok = json_is_object(v);
    json_decref(v);
    if (!ok)
        return sq_error_set(SQ_EINVAL, "invalid %s '%.60s': expected a JSON object%s%s", what, text,
                            v ? "" : ": ", v ? "" : err.text);
    return 0;
}

int store_finish(store *st, int64_t trial_id, int attempt, const store_result *r)
{
    if (!r || r->outcome <= OUTCOME_NONE || r->outcome > OUTCOME_STOPPED)
        return sq_error_set(SQ_EINVAL, "cannot finish trial %lld: no outcome given",
                            (long long)trial_id);
    int rc = r->metrics_json ? check_object(r->metrics_json, "final metrics") : 0;
    return rc < 0 ? rc : st->backend->finish(st, trial_id, attempt, r);
}

int store_append_metrics(store *st, int64_t trial_id, int attempt, const char *rows_json)
{
    if (!rows_json)
        return sq_error_set(SQ_EINVAL, "cannot append metrics of trial %lld: no rows given",
                            (long long)trial_id);
    return st->backend->append_metrics(st, trial_id, attempt, rows_json);
}

int store_get_metrics(store *st, int64_t trial_id, char **out_json)
{
    *out_json = NULL;
    return st->backend->get_metrics(st, trial_id, out_json);
}

int store_band_values(store *st, int64_t sweep_id, const char *name, uint64_t step,
                      bool completed_only, double **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (is_blank(name))
        return sq_error_set(SQ_EINVAL, "no metric name given for the values at step %llu",
                            (unsigned long long)step);
    if (step > INT64_MAX)
        return sq_error_set(SQ_EINVAL, "step %llu is out of range", (unsigned long long)step);
    return st->backend->band_values(st, sweep_id, name, step, completed_only, out, n);
}

int store_reap(store *st, uint64_t *out_n)
{
    uint64_t n = 0;
    if (out_n)
        *out_n = 0;
    int rc = st->backend->reap(st, &n);
    if (rc == 0 && out_n)
        *out_n = n;
    return rc;
}

int store_import_result(store *st, int64_t trial_id, const char *metrics_json)
{
    if (!metrics_json)
        metrics_json = "{}";
    int rc = check_object(metrics_json, "imported metrics");
    return rc < 0 ? rc : st->backend->import_result(st, trial_id, metrics_json);
}

/* ---- log tails ------------------------------------------------------------ */

int store_put_log(store *st, int64_t trial_id, int attempt, const char *text, size_t len)
{
    if (attempt < 1)
        return sq_error_set(SQ_EINVAL, "cannot store the log of trial %lld: attempt %d is below 1",
                            (long long)trial_id, attempt);
    if (len && !text)
        return sq_error_set(SQ_EINVAL, "cannot store the log of trial %lld: no text given",
                            (long long)trial_id);
    /* The tail is what is worth keeping: the end says how the attempt ended. */
    if (len > STORE_LOG_MAX) {
        text += len - STORE_LOG_MAX;
        len = STORE_LOG_MAX;
    }
    return st->backend->put_log(st, trial_id, attempt, len ? text : "", len);
}

int store_get_log(store *st, int64_t trial_id, int attempt, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (attempt < 0)
        return sq_error_set(SQ_EINVAL,
                            "cannot read the log of trial %lld: attempt %d is below 0 (0: the "
                            "latest)",
                            (long long)trial_id, attempt);
    return st->backend->get_log(st, trial_id, attempt, out, len);
}

/* ---- freeing ------------------------------------------------------------ */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void sweep_release(store_sweep *s)
{
    free(s->name);
    free(s->spec_json);
    free(s->spec_yaml);
    free(s->command_json);
    strv_free(s->tags, s->ntags);
    free(s->metric_name);
}

void store_sweep_free(store_sweep *s)
{
    if (!s)
        return;
    sweep_release(s);
    free(s);
}

void store_sweeps_free(store_sweep *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        sweep_release(&s[i]);
    free(s);
}

static void trial_release(store_trial *t)
{
    free(t->sweep_name);
    free(t->key);
    free(t->params_json);
    free(t->agent_id);
    free(t->error);
    free(t->metrics_json);
}

void store_trial_free(store_trial *t)
{
    if (!t)
        return;
    trial_release(t);
    free(t);
}

void store_trials_free(store_trial *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        trial_release(&t[i]);
    free(t);
}

void store_attempts_free(store_attempt *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].agent_id);
        free(a[i].error);
    }
    free(a);
}

void store_agents_free(store_agent *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].id);
        free(a[i].host);
        free(a[i].gpus_json);
        free(a[i].version);
    }
    free(a);
}

void store_claims_free(store_claimed *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++) {
        free(c[i].params_json);
        free(c[i].key);
    }
    free(c);
}

/* ---- helpers the backends share ------------------------------------------ */

bool store_same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void store_tags_parse(const char *tags_json, char ***tags, size_t *ntags)
{
    *tags = NULL;
    *ntags = 0;
    json_t *arr = tags_json ? json_loads(tags_json, 0, NULL) : NULL;
    if (json_is_array(arr) && json_array_size(arr) > 0) {
        *tags = xcalloc(json_array_size(arr), sizeof **tags);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            const char *t = json_string_value(json_array_get(arr, i));
            if (t)
                (*tags)[(*ntags)++] = xstrdup(t);
        }
    }
    json_decref(arr);
}

char *store_tags_json(const char *stored_json, const store_sweep_def *def, bool *changed)
{
    json_t *stored = stored_json ? json_loads(stored_json, 0, NULL) : NULL;
    json_t *arr = json_array();
    /* the stored tags first, then def's new ones: a tag is never dropped,
     * and the order a user saw stays */
    for (size_t i = 0; json_is_array(stored) && i < json_array_size(stored); i++) {
        json_t *t = json_array_get(stored, i);
        if (json_is_string(t))
            json_array_append(arr, t);
    }
    size_t nstored = json_array_size(arr);
    for (size_t i = 0; i < def->ntags; i++) {
        bool seen = false;
        for (size_t k = 0; k < json_array_size(arr) && !seen; k++)
            seen = strcmp(json_string_value(json_array_get(arr, k)), def->tags[i]) == 0;
        if (!seen)
            json_array_append_new(arr, json_string(def->tags[i]));
    }
    if (changed)
        *changed = json_array_size(arr) > nstored;
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    json_decref(stored);
    if (!text)
        SQ_BUG("cannot encode tags as JSON");
    char *copy = xstrdup(text);
    free(text);
    return copy;
}

static const char *goal_text(const char *metric, bool maximize)
{
    return metric ? (maximize ? " (maximize)" : " (minimize)") : "";
}

char *store_settings_diff(const store_sweep_def *old, const store_sweep_def *def)
{
    strbuf sb = SB_INIT;
    const char *sep = "";
    if (old->max_attempts != def->max_attempts) {
        sb_addf(&sb, "%smax_attempts %d -> %d", sep, old->max_attempts, def->max_attempts);
        sep = ", ";
    }
    if (old->cpus != def->cpus) {
        sb_addf(&sb, "%scpus %d -> %d", sep, old->cpus, def->cpus);
        sep = ", ";
    }
    if (old->gpus != def->gpus) {
        sb_addf(&sb, "%sgpus %d -> %d", sep, old->gpus, def->gpus);
        sep = ", ";
    }
    if (old->gpu_memory != def->gpu_memory) {
        sb_addf(&sb, "%sgpu_memory %llu -> %llu bytes", sep, (unsigned long long)old->gpu_memory,
                (unsigned long long)def->gpu_memory);
        sep = ", ";
    }
    if (!store_same_text(old->metric_name, def->metric_name) ||
        (old->metric_name && old->maximize != def->maximize)) {
        sb_addf(&sb, "%smetric %s%s -> %s%s", sep, old->metric_name ? old->metric_name : "(none)",
                goal_text(old->metric_name, old->maximize),
                def->metric_name ? def->metric_name : "(none)",
                goal_text(def->metric_name, def->maximize));
        sep = ", ";
    }
    if (old->open_ended != def->open_ended)
        sb_addf(&sb, "%sopen-ended %s -> %s", sep, old->open_ended ? "yes" : "no",
                def->open_ended ? "yes" : "no");
    return sb_detach(&sb);
}

int store_lease_lost(const char *what, int64_t trial_id, int attempt, bool found, int state,
                     int current_attempt)
{
    if (!found)
        return sq_error_set(SQ_ELEASE_LOST,
                            "cannot %s of trial %lld attempt %d: lease lost: the trial was "
                            "deleted",
                            what, (long long)trial_id, attempt);
    return sq_error_set(SQ_ELEASE_LOST,
                        "cannot %s of trial %lld attempt %d: lease lost: the trial is %s at "
                        "attempt %d",
                        what, (long long)trial_id, attempt, trial_state_name((trial_state)state),
                        current_attempt);
}
