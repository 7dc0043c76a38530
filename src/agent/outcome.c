/*
 * outcome.c - how an attempt ended: once its child is reaped, the rest of
 * its output is read, the outcome decided (agent.h "OUTCOMES") and written
 * with its metric rows by store_finish, fenced by the attempt; transient
 * store errors keep the job for a retry on its own backoff.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/spawn.h"
#include "util/text.h"
#include "util/units.h"

static void outcome(agent *a, job *j)
{
    store_result *r = &j->result;
    spawn_status st = {r->exit_code, r->term_signal};
    char buf[128];
    if (j->stop == STOP_CANCEL) {
        r->outcome = OUTCOME_CANCELLED;
        j->error = xstrdup("cancelled");
    } else if (j->stop == STOP_EXPIRED) { /* even when it exited 0: its end was unseen */
        r->outcome = OUTCOME_PREEMPTED;
        j->error = xasprintf("stopped by the agent: its lease could not be renewed within "
                             "lease_ttl (%g s)",
                             j->sw->lease_ttl);
    } else if (j->stop == STOP_EARLY) {
        /* Final whatever the child did once told to stop. */
        r->outcome = OUTCOME_STOPPED;
        r->stopped_step = j->stopped_step;
        j->error = xasprintf("stopped early at step %llu: %s %g is worse than the sweep's "
                             "early_terminate threshold there",
                             (unsigned long long)j->stopped_step, j->sw->sp->metric.name,
                             j->stopped_value);
    } else if (st.exit_code == 0) {
        r->outcome = OUTCOME_SUCCEEDED;
    } else if (j->stop == STOP_PREEMPT) {
        r->outcome = OUTCOME_PREEMPTED;
        j->error = xasprintf("stopped by the agent (%s)", spawn_status_text(&st, buf, sizeof buf));
    } else if (j->stop == STOP_TIMEOUT) {
        r->outcome = OUTCOME_TIMED_OUT;
        double t = j->sw->timeout;
        if (t < 60 && t == (double)(long)t) /* "30s" rather than "30.0s" */
            snprintf(buf, sizeof buf, "%lds", (long)t);
        else
            units_format_duration(t, buf, sizeof buf);
        j->error = xasprintf("timed out after %s", buf);
    } else {
        r->outcome = OUTCOME_FAILED;
        if (j->oom)
            j->error = xstrdup("CUDA out of memory");
        else if (st.exit_code > 0 && j->last_line.len) {
            /* The trial's own bytes: no terminal escape or bad UTF-8 in the store. */
            char *line = text_printable(j->last_line.buf, j->last_line.len);
            j->error = xasprintf("exited with status %d: %s", st.exit_code, line);
            free(line);
        } else if (st.exit_code > 0)
            j->error = xasprintf("exited with status %d", st.exit_code);
        else
            j->error = xstrdup(spawn_status_text(&st, buf, sizeof buf));
    }
    r->error = j->error;
}

/* Gathers what an ended trial left, decides its outcome and records it. */
void job_settle(agent *a, job *j, double now)
{
    j->reaped = false;
    a->progress = true;
    job_ship_final(a, j); /* before the finish: a finished trial's log can be read */
    if (j->stop == STOP_LOST) {
        agent_emit(a, AGENT_EV_LOST, j->sw, j, NULL);
        a->sum.lost++;
        jobs_remove(a, j);
        return;
    }
    if (j->stop != STOP_EXPIRED) /* nothing more of an expired attempt is read */
        job_collect(a, j, true);
    outcome(a, j);
    if (j->result.outcome != OUTCOME_SUCCEEDED && job_write_meta(j) != 0)
        agent_warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
    j->final = j->stop == STOP_EXPIRED ? NULL : metrics_final_json(j->m);
    j->result.metrics_json = j->final;
    j->exited = true;
    job_record(a, j, now);
}

/* Writes the attempt's rows and outcome; retried later on transient errors. */
void job_record(agent *a, job *j, double now)
{
    int rc = 0;
    if (j->stop == STOP_EXPIRED) { /* only the fenced preemption is written */
        free(j->rows);
        j->rows = NULL;
    } else {
        rc = job_flush_rows(a, j);
    }
    if (rc == 0 || rc == SQ_ELEASE_LOST) /* the finish will say why, fenced too */
        rc = store_finish(a->st, j->trial_id, j->attempt, &j->result);
    if (sq_error_is_transient(rc)) {
        agent_backoff_fail(a, &j->bo, now);
        agent_warn_transient(a, &j->bo, "recording a trial");
        return;
    }
    if (rc == SQ_ELEASE_LOST && j->stop == STOP_CANCEL) {
        /* The store made it cancelled already; this agent stopped it. */
        a->sum.cancelled++;
        agent_emit(a, AGENT_EV_FINISHED, j->sw, j, NULL);
    } else if (rc == SQ_ELEASE_LOST) {
        agent_emit(a, AGENT_EV_LOST, j->sw, j, NULL);
        a->sum.lost++;
    } else if (rc) {
        agent_warn(a, j->sw, "trial %llu: cannot record attempt %d: %s",
                   (unsigned long long)j->number, j->attempt, sq_error_msg());
    } else {
        switch (j->result.outcome) {
        case OUTCOME_SUCCEEDED: a->sum.succeeded++; break;
        case OUTCOME_TIMED_OUT: a->sum.timed_out++; break;
        case OUTCOME_PREEMPTED: a->sum.preempted++; break;
        case OUTCOME_CANCELLED: a->sum.cancelled++; break;
        case OUTCOME_STOPPED: a->sum.stopped_early++; break;
        default: a->sum.failed++; break;
        }
        agent_emit(a, AGENT_EV_FINISHED, j->sw, j, NULL);
    }
    /* A failed, timed-out or preempted trial may be pending again. */
    if (j->result.outcome != OUTCOME_SUCCEEDED && j->result.outcome != OUTCOME_CANCELLED &&
        j->result.outcome != OUTCOME_STOPPED)
        j->sw->exhausted = false;
    jobs_remove(a, j);
}

void agent_settle_jobs(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->reaped) {
            job_settle(a, j, now); /* removes j, or keeps it for a retry */
            if (i < a->njobs && a->jobs[i] != j)
                continue; /* another job moved into slot i */
        }
        i++;
    }
}
