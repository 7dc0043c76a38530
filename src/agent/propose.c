/*
 * propose.c - a bayes sweep's next trial: history from the store, the
 * proposal from the search module, the key that makes it idempotent. See
 * propose.h for the invariants; claim.c sends the proposal with
 * store_add_claim.
 */
#include "util/common.h"

#include "agent/propose.h"

#include <math.h>

void proposal_release(proposal *p)
{
    free(p->key);
    free(p->params_json);
    *p = (proposal)PROPOSAL_INIT;
}

/* The metric's final value in a trial's metrics_json; NaN when it has none
 * (or a value that is not a number). */
static double final_value(const char *metrics_json, const char *metric)
{
    json_t *m = metrics_json ? json_loads(metrics_json, 0, NULL) : NULL;
    json_t *v = json_object_get(m, metric);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(m);
    return x;
}

static search_state obs_state(trial_state s)
{
    switch (s) {
    case TRIAL_SUCCEEDED: return SEARCH_COMPLETE;
    case TRIAL_STOPPED: return SEARCH_STOPPED;
    case TRIAL_PENDING:
    case TRIAL_RUNNING: return SEARCH_RUNNING;
    default: return SEARCH_FAILED;
    }
}

void propose_history(const store_trial *t, size_t n, const char *metric, search_obs **obs,
                     json_t ***params, size_t *nobs)
{
    *obs = xcalloc(n ? n : 1, sizeof **obs);
    *params = xcalloc(n ? n : 1, sizeof **params);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_loads(t[i].params_json ? t[i].params_json : "", 0, NULL);
        if (!json_is_object(p)) {
            json_decref(p);
            continue;
        }
        search_state st = obs_state(t[i].state);
        bool valued = st == SEARCH_COMPLETE || st == SEARCH_STOPPED;
        (*params)[k] = p;
        (*obs)[k] = (search_obs){
            .params = p,
            .state = st,
            .value = valued ? final_value(t[i].metrics_json, metric) : NAN,
            .step = st == SEARCH_STOPPED ? t[i].stopped_step : 0,
        };
        k++;
    }
    *nobs = k;
}

void propose_history_free(search_obs *obs, json_t **params, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(params[i]);
    free(params);
    free(obs);
}

/* The proposal's key: its parameters and who proposed it, hashed, so that
 * no two proposals share one (two agents may well propose equal
 * parameters) and a resent proposal keeps its own. */
static char *proposal_key(const json_t *params, const char *agent_id, uint64_t seq)
{
    char *who = xasprintf("%s/p%llu", agent_id, (unsigned long long)seq);
    json_t *draw = json_pack("{s:O, s:s}", "params", params, "proposal", who);
    if (!draw)
        SQ_BUG("cannot pack the key of proposal %s", who);
    char *key = spec_params_key(draw);
    json_decref(draw);
    free(who);
    return key;
}

int propose_make(store *st, const char *agent_id, uint64_t seq, const char *name, const spec *s,
                 proposal *p)
{
    store_sweep *sw = NULL;
    store_trial *t = NULL;
    size_t n = 0, nobs = 0;
    search_obs *obs = NULL;
    json_t **params = NULL, *out = NULL;
    store_trial_query q = {.sweep = name, .state = -1};
    /* The sweep row first: trials stored after it are in the history, so
     * the number proposed is never below one the history holds. */
    int rc = store_get_sweep(st, name, &sw);
    if (rc)
        goto done;
    const store_counts *k = &sw->counts;
    uint64_t held = k->pending + k->running + k->succeeded + k->failed + k->cancelled + k->stopped;
    if (sw->state != SWEEP_ACTIVE || (sw->total && held >= sw->total))
        goto done; /* it takes no trial now: nothing to propose */
    if ((rc = store_list_trials(st, &q, &t, &n)))
        goto done;
    propose_history(t, n, s->metric.name, &obs, &params, &nobs);
    uint64_t number = sw->next_number ? sw->next_number : 1;
    for (size_t i = 0; i < n; i++)
        if (t[i].number >= number)
            number = t[i].number + 1;
    if ((rc = search_propose(s, obs, nobs, number, &out)))
        goto done;
    proposal_release(p);
    p->key = proposal_key(out, agent_id, seq);
    p->params_json = spec_json_compact(out, false);
    p->def = (store_trial_def){.number = number, .key = p->key, .params_json = p->params_json};
done:
    json_decref(out);
    propose_history_free(obs, params, nobs);
    store_trials_free(t, n);
    store_sweep_free(sw);
    return rc;
}
