/*
 * complete.c - the end of a sweep: the one agent that wins
 * store_claim_completion runs the sweep's on_complete (agent.h
 * "COMPLETION"), and sweeps that ended unseen are found and completed.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/spawn.h"

extern char **environ;

/* Records what the holder of sweep_id's completion lease has to say; a
 * transient failure is the caller's to retry. */
static int complete_update(agent *a, int64_t sweep_id, completion_update what)
{
    return store_complete_update(a->st, sweep_id, a->id, what);
}

/* Starts sw's on_complete (this agent holds its completion lease). */
static void start_hook(agent *a, agent_sweep *sw, double now)
{
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
        agent_warn(a, sw, "cannot run on_complete of sweep '%s': %s", sw->name, sq_error_msg());
        if (complete_update(a, sw->id, COMPLETION_FAILED)) /* its lease expires instead */
            sq_error_clear();
    } else {
        XGROW(a->hooks, a->hooks_cap, a->nhooks + 1);
        a->hooks[a->nhooks++] = (hook){.pid = pid,
                                       .sweep = xstrdup(sw->name),
                                       .sweep_id = sw->id,
                                       .ttl = sw->lease_ttl,
                                       .renew_at = now + sw->lease_ttl / 4};
        if (a->cfg->on_event) {
            agent_event ev = {
                .type = AGENT_EV_HOOK, .sweep = sw->name, .text = sw->sp->on_complete};
            a->cfg->on_event(&ev, a->cfg->ud);
        }
    }
    free(mine);
    free(env);
}

/* Claims the completion of sw, which has nothing left to run here; runs
 * its on_complete when this agent won its lease. Not won: another agent
 * holds it (or it is backing off after a failure), so it is tried again
 * later, in case that agent dies. */
void agent_try_complete(agent *a, agent_sweep *sw, double now)
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
        agent_backoff_fail(a, &a->claim_bo, now);
        agent_warn_transient(a, &a->claim_bo, "claiming a sweep's completion");
        return;
    }
    if (rc) {
        sw->completion_done = true;
        agent_warn(a, sw, "cannot claim the completion of sweep '%s': %s", sw->name,
                   sq_error_msg());
        return;
    }
    if (!won)
        return;
    sw->completion_done = true;
    if (sw->sp->on_complete)
        start_hook(a, sw, now);
    else if (complete_update(a, sw->id, COMPLETION_SUCCEEDED)) /* else its lease expires */
        sq_error_clear();
}

void agent_hook_ended(agent *a, hook *h, int exit_code, int term_signal, double now)
{
    h->pid = -1;
    h->ended = true;
    h->result = exit_code == 0 ? COMPLETION_SUCCEEDED : COMPLETION_FAILED;
    store_result r = {.outcome = exit_code == 0 ? OUTCOME_SUCCEEDED : OUTCOME_FAILED,
                      .exit_code = exit_code,
                      .term_signal = term_signal};
    if (a->cfg->on_event && !h->lost) {
        agent_event ev = {.type = AGENT_EV_HOOK, .sweep = h->sweep, .result = &r};
        a->cfg->on_event(&ev, a->cfg->ud);
    }
    h->bo.next = now;
}

/* One hook's turn: renew its lease, or record its end. True when the hook
 * is done with (its end recorded, or nothing to record). */
static bool hook_turn(agent *a, hook *h, double now)
{
    if (h->ended && (h->lost || h->stopped))
        return true; /* nothing to record: the lease is another's, or expires */
    bool renew = !h->ended && !h->lost && now >= h->renew_at;
    if (!renew && !(h->ended && now >= h->bo.next))
        return false;
    int rc = complete_update(a, h->sweep_id, renew ? COMPLETION_RENEW : h->result);
    if (sq_error_is_transient(rc)) {
        double next = agent_backoff_fail(a, &h->bo, now);
        if (renew)
            h->renew_at = next < now + h->ttl / 4 ? next : now + h->ttl / 4;
        agent_warn_transient(a, &h->bo, "recording an on_complete");
        /* A stopping agent does not wait for the store: the lease expires
         * and another agent runs the hook again. */
        return h->ended && a->stopping;
    }
    agent_backoff_ok(&h->bo);
    if (rc == SQ_ELEASE_LOST && !h->ended) {
        agent_warn(a, NULL,
                   "on_complete of sweep '%s': its lease was lost (another agent runs it); "
                   "stopped",
                   h->sweep);
        h->lost = true;
        spawn_signal_group(h->pid, SIGKILL);
        return false; /* reaped later, then dropped */
    }
    if (rc)
        agent_warn(a, NULL, "on_complete of sweep '%s': %s", h->sweep, sq_error_msg());
    else if (!h->ended)
        h->renew_at = now + h->ttl / 4;
    else if (h->result == COMPLETION_FAILED)
        agent_warn(a, NULL,
                   "on_complete of sweep '%s' failed: it runs again after a backoff, up to the "
                   "sweep's max_attempts tries",
                   h->sweep);
    return h->ended;
}

void agent_hooks_tick(agent *a, double now)
{
    for (size_t i = 0; i < a->nhooks;) {
        hook *h = &a->hooks[i];
        if (!hook_turn(a, h, now)) {
            i++;
            continue;
        }
        /* Unless it succeeded, the completion may be won again (after a
         * failure's backoff, or when a lease left to expire runs out). */
        agent_sweep *sw = agent_sweep_find(a, h->sweep_id);
        if (sw && !(h->result == COMPLETION_SUCCEEDED && !h->lost && !h->stopped))
            sw->completion_done = false;
        free(h->sweep);
        a->hooks[i] = a->hooks[--a->nhooks];
    }
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
int agent_complete_ended_sweeps(agent *a, double now)
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
        agent_sweep *sw = agent_sweep_find(a, list[i].id);
        if (!sw)
            sw = agent_sweep_add(a, &list[i]);
        sw->exhausted = true;
        if (!sw->completion_done)
            agent_try_complete(a, sw, now);
    }
    store_sweeps_free(list, n);
    return 0;
}

/* run's end: every named sweep is done everywhere (nothing pending or
 * running), or cannot run here. Runs on_complete when nobody did. */
bool agent_sweeps_done(agent *a, double now)
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
        agent_sweep *sw = agent_sweep_find(a, s->id);
        bool done = s->state == SWEEP_FINISHED || s->state == SWEEP_CANCELLED ||
                    (!s->open_ended && s->counts.pending == 0 && s->counts.running == 0) ||
                    (sw && !sw->usable);
        if (!sw && ended_unclaimed(s)) /* ended before this agent saw it run */
            sw = agent_sweep_add(a, s);
        /* An on_complete not yet recorded done: run it, or wait while
         * another agent holds its lease (it may die: then it is won here). */
        bool hook_due = done && sw && sw->usable && sw->sp->on_complete && ended_unclaimed(s);
        if (!done && s->state == SWEEP_PAUSED && !a->paused_warned) {
            a->paused_warned = true;
            agent_warn(a, NULL,
                       "sweep '%s' is paused: waiting for 'sweepq resume %s' (or press Ctrl-C)",
                       s->name, s->name);
        }
        store_sweep_free(s);
        if (!done)
            return false;
        if (hook_due) {
            agent_try_complete(a, sw, now);
            return false;
        }
    }
    return true;
}
