/*
 * requeue.c - `scontrol requeue` for a preempted Slurm batch job; see
 * requeue.h.
 *
 * Invariant: called only after the agent has recorded every attempt, since
 * Slurm answers the requeue by killing the job (SIGTERM to the batch shell,
 * which is the agent) at once.
 */
#include "util/common.h"

#include "agent/requeue.h"
#include "agent/spawn.h"

#include <string.h>

/* The id scontrol takes for this job, or NULL when it is not one. */
static char *slurm_job_id(void)
{
    const char *want = getenv("SWEEPQ_REQUEUE");
    const char *job = getenv("SLURM_JOB_ID");
    const char *array_job = getenv("SLURM_ARRAY_JOB_ID");
    const char *task = getenv("SLURM_ARRAY_TASK_ID");
    if (!want || strcmp(want, "1") != 0 || !job || !*job)
        return NULL;
    if (array_job && *array_job && task && *task)
        return xasprintf("%s_%s", array_job, task);
    return xstrdup(job);
}

int requeue_slurm_job(char **message)
{
    *message = NULL;
    char *id = slurm_job_id();
    if (!id)
        return 0;
    char *argv[] = {"scontrol", "requeue", id, NULL};
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    pid_t pid = -1;
    spawn_status st = {0, 0};
    char buf[128];
    int rc = spawn_start(&pid, NULL, &o);
    if (rc) {
        rc = sq_error_set(SQ_ERROR, "cannot requeue Slurm job %s: %s", id, sq_error_msg());
        goto cleanup;
    }
    spawn_reap(pid, true, &st);
    if (st.exit_code != 0) {
        rc = sq_error_set(SQ_ERROR,
                          "cannot requeue Slurm job %s: scontrol requeue ended with %s (its "
                          "message is in the job's output); its preempted trials wait as pending",
                          id, spawn_status_text(&st, buf, sizeof buf));
        goto cleanup;
    }
    *message =
        xasprintf("preempted: requeued Slurm job %s; its trials resume when it runs again", id);
    rc = 1;
cleanup:
    free(id);
    return rc;
}
