/*
 * claim.c - claiming trials: what fits the free CPU slots and, for sweeps
 * that ask for GPUs, the free GPUs (read lazily, at most every GPU_REREAD);
 * claims are idempotent (store_claim_request) so that a claim whose answer
 * was lost is sent again with the same id (agent.c, invariants).
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/register.h"
#include "util/timeutil.h"

#include <jansson.h>

/* ---- GPUs ------------------------------------------------------------------------------- */

bool agent_gpus_none(const agent *a)
{
    return a->cfg->gpus && !strcmp(a->cfg->gpus, "none");
}

/* Registers the agent again with its GPUs, for `sweepq status`. */
void agent_gpu_register(agent *a)
{
    json_t *j = gpu_table_json(&a->gpu_table);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (agent_register(a, text) != 0)
        agent_warn(a, NULL, "cannot register this agent's GPUs: %s", sq_error_msg());
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
    if (agent_gpus_none(a)) { /* no GPUs: the empty table */
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
            agent_warn(a, NULL,
                       "cannot read the GPUs, no GPU trial starts until they can be read: %s",
                       sq_error_msg());
        a->gpu_read_failed = true;
        return;
    }
    a->gpu_read_failed = false;
    const char *cuda_visible = getenv("CUDA_VISIBLE_DEVICES");
    if (gpu_table_restrict(&a->gpu_table, cuda_visible, a->gpu_broken ? "none" : a->cfg->gpus)) {
        agent_warn(a, NULL, "this agent uses no GPU: %s", sq_error_msg());
        a->gpu_broken = true;
        gpu_table_restrict(&a->gpu_table, cuda_visible, "none");
    }
    if (!a->gpu_registered) {
        for (size_t i = 0; i < a->gpu_table.nnotes; i++)
            agent_warn(a, NULL, "GPUs: %s", a->gpu_table.notes[i]);
        agent_gpu_register(a);
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
        agent_warn(a, sw, "sweep '%s' is left for other agents: each trial %s", sw->name,
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

/*
 * A bayes sweep's new trials, one at a time until want are started or the
 * sweep takes no more: propose (history, model; no store lock held), then
 * insert and claim in one store step. A proposal whose step failed with a
 * transient error is kept and sent again first: if it was stored, the store
 * hands back the same trial. Returns 0 or a transient code; *started counts.
 */
static int propose_from(agent *a, agent_sweep *sw, size_t want, size_t *started)
{
    while (*started < want) {
        int rc = 0;
        if (!sw->proposal.key) {
            rc = propose_make(a->st, a->id, ++a->propose_seq, sw->name, sw->sp, &sw->proposal);
            if (rc == 0 && !sw->proposal.key)
                return 0; /* the sweep takes no trial now */
        }
        store_claimed *c = NULL;
        size_t n = 0;
        if (rc == 0)
            rc = store_add_claim(a->st, a->id, sw->id, &sw->proposal.def, &c, &n);
        if (sq_error_is_transient(rc))
            return rc;
        proposal_release(&sw->proposal);
        if (rc == SQ_ECONFLICT) /* a resent proposal that no longer runs here */
            continue;
        if (rc) {
            agent_warn(a, sw, "cannot propose a trial of sweep '%s': %s", sw->name, sq_error_msg());
            return 0;
        }
        if (n == 0) /* paused, cancelled, finished, or at its run_cap */
            return 0;
        sw->completion_done = false;
        a->claimed++;
        job_start(a, sw, &c[0]);
        store_claims_free(c, n);
        (*started)++;
    }
    return 0;
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
        a->claim_sent = time_mono(); /* its leases count from here (lease.c) */
        int rc = claim_request(a, sw, want - started, &c, &n);
        if (rc == SQ_ENOTFOUND) {
            sw->usable = false;
            return (int)started;
        }
        if (sq_error_is_transient(rc))
            return rc;
        if (rc) {
            agent_warn(a, sw, "cannot claim from sweep '%s': %s", sw->name, sq_error_msg());
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
        if (sw->sp->method == SPEC_METHOD_BAYES) {
            rc = propose_from(a, sw, want, &started);
            if (sq_error_is_transient(rc))
                return started ? (int)started : rc;
            if (started >= want)
                return (int)started;
            break;
        }
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
            agent_warn(a, sw, "cannot add trials to sweep '%s': %s", sw->name, sq_error_msg());
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

void agent_claim_work(agent *a, double now)
{
    for (size_t i = 0; i < a->nsweeps && !a->stopping; i++)
        if (a->sweeps[i]->completion_due && now >= a->claim_bo.next)
            agent_try_complete(a, a->sweeps[i], now);
    if (a->draining || a->stopping || now < a->claim_bo.next || now < a->host_bo.next)
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
            rc = agent_refresh_sweeps(a, now);
        if (rc == 0 && idle && now - a->last_ended_check >= COMPLETION_POLL)
            rc = agent_complete_ended_sweeps(a, now);
        if (rc) {
            if (sq_error_is_transient(rc)) {
                agent_backoff_fail(a, &a->claim_bo, now);
                agent_warn_transient(a, &a->claim_bo, "listing sweeps");
            } else {
                agent_warn(a, NULL, "cannot list sweeps: %s", sq_error_msg());
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
            agent_backoff_fail(a, &a->claim_bo, now);
            agent_warn_transient(a, &a->claim_bo, "claiming trials");
            return;
        }
        agent_backoff_ok(&a->claim_bo);
        if (a->cfg->max_trials && a->claimed >= a->cfg->max_trials)
            break;
        if (now < a->host_bo.next) /* a trial could not be prepared here: wait */
            break;
    }
    if (idle && a->sum.started == before && all_exhausted(a))
        a->empty_round_at = now;
}
