/*
 * complete.c - the end of a sweep: the one agent that wins
 * store_claim_completion runs the sweep's on_complete (agent.h
 * "COMPLETION"), and sweeps that ended unseen are found and completed.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/spawn.h"

extern char **environ;

/* Claims the completion of sw, which has nothing left to run here; runs
 * its on_complete when this agent won it. */
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
    sw->completion_done = true;
    if (rc) {
        agent_warn(a, sw, "cannot claim the completion of sweep '%s': %s", sw->name,
                   sq_error_msg());
        return;
    }
    if (!won || !sw->sp->on_complete)
        return;
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
    } else {
        XGROW(a->hooks, a->hooks_cap, a->nhooks + 1);
        a->hooks[a->nhooks++] = (hook){.pid = pid, .sweep = xstrdup(sw->name), .kill_at = 0};
        if (a->cfg->on_event) {
            agent_event ev = {
                .type = AGENT_EV_HOOK, .sweep = sw->name, .text = sw->sp->on_complete};
            a->cfg->on_event(&ev, a->cfg->ud);
        }
    }
    free(mine);
    free(env);
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
        bool complete = done && sw && sw->usable && sw->sp->on_complete && ended_unclaimed(s) &&
                        !sw->completion_done;
        if (!done && s->state == SWEEP_PAUSED && !a->paused_warned) {
            a->paused_warned = true;
            agent_warn(a, NULL,
                       "sweep '%s' is paused: waiting for 'sweepq resume %s' (or press Ctrl-C)",
                       s->name, s->name);
        }
        store_sweep_free(s);
        if (!done)
            return false;
        if (complete) {
            agent_try_complete(a, sw, now);
            if (a->nhooks)
                return false;
        }
    }
    return true;
}
