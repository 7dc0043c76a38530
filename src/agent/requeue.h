/*
 * requeue.h - a Slurm batch job whose agent was preempted puts itself back
 * in the queue, so its trials resume when it runs again.
 *
 * 'sweepq submit --slurm' writes scripts with --requeue and
 * --signal=B:USR1@GRACE that export SWEEPQ_REQUEUE=1 and exec the agent.
 * Slurm sends USR1 to the agent GRACE seconds before the time limit (or
 * when a higher-priority job preempts it); the agent stops its trials
 * (SIGUSR1 first, their checkpoint cue), records them as preempted (back
 * to pending, no try used) and, once every attempt is written, calls
 * requeue_slurm_job. The job goes back to PENDING; when it runs again its
 * agent claims the trials with SWEEPQ_RESUME=1 and the same WANDB_RUN_ID.
 */
#ifndef SQ_REQUEUE_H
#define SQ_REQUEUE_H

/*
 * When this process is a Slurm batch job that asked for it (SWEEPQ_REQUEUE=1
 * and SLURM_JOB_ID set), runs `scontrol requeue JOB` (JOB is
 * ARRAYJOB_TASK for an array task) and returns 1 with *message (caller
 * frees) saying so. Returns 0 with *message NULL when this is not such a
 * job, or SQ_ERROR with *message NULL and the cause in sq_error_msg().
 */
int requeue_slurm_job(char **message);

#endif
