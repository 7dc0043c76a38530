/*
 * scheduler.h - batch schedulers: Slurm, PBS Pro and Torque. Writes the job
 * script that runs sweepq agents as an array job, submits it, reads the
 * queue and cancels jobs, by running the schedulers' own commands (sbatch,
 * squeue, scancel; qsub, qstat, qdel) found in PATH.
 *
 * THE JOB SCRIPT
 *   Each array task runs, in the project root,
 *       exec SWEEPQ agent --sweep NAME --exit-when-idle -j CPUS --grace G
 *   so the agent is the batch shell itself and receives the scheduler's
 *   signals. Slurm scripts ask for --signal=B:USR1@GRACE, --requeue and
 *   --open-mode=append, and export SWEEPQ_REQUEUE=1: on USR1 the agent
 *   stops its trials (they checkpoint), records them as preempted and runs
 *   `scontrol requeue` (src/agent/requeue.h). The agent's own grace is half
 *   of GRACE, which leaves the other half for recording, the requeue and
 *   Slurm's coarse signal timing (it checks limits about every 30 s).
 *   PBS has no early-warning signal: at the walltime the agent gets SIGTERM
 *   and stops its trials as preempted, so another job picks them up.
 *
 * JOB RECORDS
 *   Every submission appends "KIND ID SCRIPT" to jobs/jobs.txt in the sweep's
 *   directory (KIND slurm, pbs-pro or torque; ID as the scheduler printed it,
 *   "123" or "123[].server"). queue and cancel read it.
 *
 * Uses spawn_start (src/agent/spawn.h), the one way sweepq runs a child.
 */
#ifndef SQ_SCHEDULER_H
#define SQ_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SCHED_SLURM, SCHED_PBS_PRO, SCHED_TORQUE } sched_kind;

/* "slurm", "pbs-pro", "torque". */
const char *sched_kind_name(sched_kind k);
/* The inverse of sched_kind_name; 0 or SQ_EINVAL. */
int sched_kind_parse(sched_kind *out, const char *name);

#define SCHED_DEFAULT_GRACE 120.0

typedef struct sched_job {
    sched_kind kind;
    const char *sweep;     /* the sweep's name */
    const char *root;      /* absolute project root: the tasks' working directory */
    const char *jobs_dir;  /* absolute .sweepq/sweeps/NAME/jobs: output files */
    const char *sweepq;    /* absolute path of the sweepq binary */
    const char *store_url; /* passed as --store; NULL: the project's own store */
    int array;             /* array tasks (>= 1) */
    int cpus;              /* CPUs per task, also the agent's -j (0: 1) */
    int gpus_per_task;     /* 0: none asked */
    uint64_t mem;          /* bytes per task (0: the scheduler's default) */
    double time;           /* seconds of walltime (0: the scheduler's default) */
    const char *partition; /* Slurm partition / PBS queue (NULL: default) */
    const char *account;   /* NULL: default */
    const char *qos;       /* Slurm only (NULL: none) */
    const char *extra;     /* more directive options, one directive line per
                              line of text ("--constraint=a100") (NULL: none) */
    double grace;          /* Slurm: USR1 this many seconds before the limit */
    int max_trials;        /* each task's agent runs at most this many attempts (0: no limit) */
} sched_job;

/*
 * The job script for j into *out (caller frees). Returns 0, or SQ_EINVAL
 * for a request the scheduler cannot take (a QOS on PBS, a grace Slurm
 * cannot signal, a value holding a newline).
 */
int sched_script(char **out, const sched_job *j);

/*
 * The installed scheduler for --cluster auto: Slurm when sbatch is in PATH,
 * else PBS when qsub is (its flavour by sched_pbs_flavor). Returns 0,
 * SQ_ENOTFOUND when neither is installed, SQ_ECONFLICT when both are.
 */
int sched_detect(sched_kind *out);

/*
 * PBS Pro or Torque, from `qstat --version` ("pbs_version = 2022.1" is PBS
 * Pro; "Version: 6.1.3" is Torque) or, failing that, `pbsnodes --version`.
 * Returns 0 or SQ_ENOTFOUND with a message that says to pass --pbs-flavor.
 */
int sched_pbs_flavor(sched_kind *out);

/*
 * Submits script_path (sbatch --parsable / qsub) from directory cwd and
 * puts the job id into *out_id (caller frees). Returns 0, or SQ_ERROR with
 * the scheduler's own message.
 */
int sched_submit(char **out_id, sched_kind kind, const char *script_path, const char *cwd);

/* One line of the queue: an array task or a whole job. */
typedef struct sched_row {
    char *job;    /* the recorded job id ("123", "123[].server") */
    char *task;   /* array task ("3"), "" when not an array task */
    char *state;  /* RUNNING, PENDING, R, Q, ... as the scheduler says */
    char *time;   /* time used so far, as the scheduler prints it */
    char *reason; /* why pending, or the node it runs on; may be "" */
} sched_row;

void sched_rows_free(sched_row *rows, size_t n);

/*
 * The queue's lines for the given job ids (squeue --states=all, which also
 * shows jobs finished in the last few minutes; qstat -t). Jobs the
 * scheduler no longer knows are left out. *out is the caller's
 * (sched_rows_free). Returns 0 or SQ_ERROR with the command's message.
 */
int sched_queue(sched_row **out, size_t *n, sched_kind kind, const char *const *ids, size_t nids);

/* Whether a row's state means the job may still run (pending, running,
 * requeued, held...) rather than ended (completed, failed, cancelled...). */
bool sched_state_active(sched_kind kind, const char *state);

/* scancel / qdel the jobs (whole arrays). Returns 0 or SQ_ERROR. */
int sched_cancel(sched_kind kind, const char *const *ids, size_t nids);

/*
 * Whether path lies on a network file system (NFS, CIFS/SMB, Lustre, GPFS,
 * BeeGFS, CephFS, AFS, ...), from statfs's f_type. Returns 1 with *fs_name
 * (static) set, 0 when local, or SQ_EIO when statfs fails.
 */
int sched_network_fs(const char **fs_name, const char *path);

/* The name of the network file system whose statfs f_type is f_type
 * ("NFS", "Lustre", ...; static), or NULL for a local one. What
 * sched_network_fs decides on, apart so it can be tested without one. */
const char *sched_network_fs_name(long f_type);

/* A line of jobs/jobs.txt. */
typedef struct sched_record {
    sched_kind kind;
    char *id;
    char *script;
} sched_record;

void sched_records_free(sched_record *recs, size_t n);

/* Appends a record to jobs_dir/jobs.txt. Returns 0 or SQ_EIO. */
int sched_record_job(const char *jobs_dir, sched_kind kind, const char *id, const char *script);

/*
 * Reads jobs_dir/jobs.txt into *out (caller frees with sched_records_free).
 * A missing file gives no records. Returns 0, SQ_EIO or SQ_EINVAL.
 */
int sched_read_jobs(sched_record **out, size_t *n, const char *jobs_dir);

#endif
