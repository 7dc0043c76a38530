/*
 * lease.c - the leases of the agent's running trials: one store_heartbeat
 * renews them all (and tells of cancellations); a lease the store says is
 * lost has its child killed at once, and nothing more is written for it.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/spawn.h"

static void job_lost(agent *a, job *j)
{
    if (j->pid > 0)
        spawn_signal_group(j->pid, SIGKILL);
    j->stop = STOP_LOST;
    if (!j->live) { /* already ended: drop what was not written */
        agent_emit(a, AGENT_EV_LOST, j->sw, j, NULL);
        a->sum.lost++;
        jobs_remove(a, j);
    }
}

void agent_heartbeat(agent *a, double now)
{
    size_t n = 0;
    store_lease *leases = xmalloc((a->njobs + 1) * sizeof *leases);
    job **owner = xmalloc((a->njobs + 1) * sizeof *owner);
    double interval = HEARTBEAT_IDLE;
    for (size_t i = 0; i < a->njobs; i++) {
        job *j = a->jobs[i];
        if (j->stop == STOP_LOST)
            continue;
        leases[n] = (store_lease){.trial_id = j->trial_id, .attempt = j->attempt};
        owner[n++] = j;
        double want = j->sw->lease_ttl / 4;
        if (want < interval)
            interval = want;
    }
    if (n && interval > HEARTBEAT_MAX)
        interval = HEARTBEAT_MAX;
    int rc = store_heartbeat(a->st, a->id, leases, n);
    if (sq_error_is_transient(rc)) {
        a->next_heartbeat = agent_backoff_fail(a, &a->hb_bo, now);
        if (a->next_heartbeat > now + interval)
            a->next_heartbeat = now + interval;
        agent_warn_transient(a, &a->hb_bo, "renewing leases");
        goto out;
    }
    a->next_heartbeat = now + interval;
    if (rc) {
        agent_warn(a, NULL, "cannot renew leases: %s", sq_error_msg());
        goto out;
    }
    agent_backoff_ok(&a->hb_bo);
    for (size_t i = 0; i < n; i++) {
        if (leases[i].lost)
            job_lost(a, owner[i]); /* may free owner[i]: nothing after it */
        else if (leases[i].cancel)
            job_stop(a, owner[i], STOP_CANCEL, SIGTERM, now);
    }
out:
    free(owner);
    free(leases);
}
