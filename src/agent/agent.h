/*
 * agent.h - the worker: claims trials that fit its free slots, runs each as
 * a child process (DESIGN.md "What a trial sees"), keeps their leases alive,
 * records how each attempt ended with its metrics, and reacts to signals.
 *
 * One agent_run per process at a time: it owns the process's SIGINT,
 * SIGTERM, SIGHUP, SIGUSR1 and SIGCHLD handlers while it runs (they only
 * count the signal and write a byte to a self-pipe; the loop acts).
 *
 * LIFE OF A TRIAL HERE
 *   claim      store_claim for at most the trials whose resources.cpus fit
 *              the free slots and, for a sweep that asks for GPUs, whose
 *              resources fit the free GPUs now (gpu_alloc_count; the GPUs
 *              are read only while such a sweep is claimed from, at most
 *              once a second). A sweep whose trials can never fit this
 *              agent's GPUs is left for other agents, with one warning.
 *              Each GPU trial gets CUDA_VISIBLE_DEVICES (UUIDs) and
 *              CUDA_DEVICE_ORDER=PCI_BUS_ID; its reservation is dropped
 *              when its child ends, whatever the outcome.
 *   prepare    TRIAL_DIR (stable across attempts); attempt-K.log opened
 *              O_APPEND for the child's stdout and stderr. params.json and
 *              command.txt are written before the start when the command
 *              reads ${args_json_file}, else once the attempt has run for a
 *              second or has ended without succeeding: on a busy filesystem
 *              two more files per trial are most of the agent's time when
 *              trials are short, and a trial that succeeded at once has its
 *              parameters in the store.
 *   run        spawn_start: own process group, dies with the agent, stdin
 *              /dev/null, cwd = the spec's workdir or TRIAL_DIR.
 *   watch      every tick the log and $SWEEPQ_METRICS_FILE (metrics-K.jsonl,
 *              one per attempt K) are read as they
 *              grow (metrics rows are appended in batches); the leases of
 *              all running trials are renewed in ONE store_heartbeat every
 *              min(lease_ttl / 4, 1 s), which also brings cancellations.
 *   end        the child is reaped and its process group's leftovers
 *              killed; the freed slot gets its next trial first, then the
 *              rest of the output and wandb-summary.json are read and the
 *              outcome is recorded with store_finish, fenced by the attempt
 *              number.
 *   log tail   when shipping (ship_logs; by default only for stores that are
 *              not a SQLite file, see logship.h): the log's last
 *              STORE_LOG_MAX bytes go to store_put_log every ship_period
 *              while it grows, and once more when the attempt ends, before
 *              its outcome is recorded (also for a lost lease: not fenced).
 *              A failure is a warning, never the trial's; a final tail the
 *              store could not take yet is retried with the next shipments.
 *
 * OUTCOMES (the store_result of an attempt)
 *   exit 0                      succeeded, also after a stop signal: the
 *                               program says it finished, so a program that
 *                               checkpoints on SIGUSR1/SIGTERM to resume
 *                               later must exit non-zero
 *   exit != 0 / killed          failed; error "exited with status N: LAST
 *                               LINE", "killed by signal 9 (Killed)" or
 *                               "CUDA out of memory" when its log says so
 *   past the spec's timeout     SIGTERM to its group, SIGKILL after the
 *                               grace period; timed out ("timed out after 30s")
 *   stopped by the agent        preempted (back to pending, no try used)
 *   cancelled by the user       SIGTERM, grace, SIGKILL; cancelled
 *   early_terminate rule        SIGTERM, grace, SIGKILL; stopped (final), at
 *                               the moment the trial reports a band's step
 *   lease lost                  SIGKILL to its group at once; NOTHING is
 *                               written for it (the trial is someone else's)
 *   lease not renewed in time   (0.9 x lease_ttl after the last renewal was
 *                               sent, by the agent's monotonic clock: store
 *                               unreachable, agent stopped) SIGKILL to its
 *                               group at once, by a timer even while a store
 *                               call hangs; preempted, fenced, nothing else
 *                               written (lease.c)
 *   cannot start                failed; error "cannot run 'foo': CAUSE",
 *                               also written to its log
 *
 * SIGNALS
 *   SIGINT          claim nothing more; running trials finish (AGENT_EV_DRAINING)
 *   SIGINT again, SIGTERM, SIGHUP
 *                   SIGTERM to every trial's group, SIGKILL after the grace
 *                   period; they are recorded as preempted (AGENT_EV_STOPPING)
 *   SIGUSR1         SIGUSR1 to every trial's group (their checkpoint cue),
 *                   then SIGTERM at half the grace period, SIGKILL at its end;
 *                   preempted
 *   any stop signal while stopping: SIGKILL at once
 *   Either way the drain is clean (every attempt recorded) and agent_run
 *   returns 0.
 *
 * STORE ERRORS
 *   SQ_EBUSY and SQ_EIO are retried with capped exponential backoff and
 *   jitter (50 ms doubling to 5 s), each operation on its own schedule, while
 *   the children keep running; a finish that cannot be written yet keeps its
 *   lease in the heartbeat until it is.
 *
 * COMPLETION
 *   When a sweep has nothing left to claim and none of its trials runs here,
 *   the agent calls store_claim_completion; the one winner runs the sweep's
 *   on_complete with /bin/sh -c in the project root, SWEEPQ_SWEEP set, its
 *   output going to the agent's own stdout and stderr. The claim is made
 *   even without on_complete, so that an ended sweep is handled for good.
 *   Sweeps can end unseen (the last lease expired, or the agent that ended
 *   them was killed first): an idle agent looks for such sweeps among its
 *   own every 10 s, and run when its sweeps end.
 */
#ifndef SQ_AGENT_H
#define SQ_AGENT_H

#include "store/store.h"
#include "util/workspace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    AGENT_EV_STARTED,  /* an attempt started (sweep, trial, attempt, text = command) */
    AGENT_EV_FINISHED, /* an attempt ended and was recorded (result, elapsed) */
    AGENT_EV_LOST,     /* lease lost: child killed, nothing recorded */
    AGENT_EV_OUTPUT,   /* a line of a trial's output (cfg.show_output) */
    AGENT_EV_DRAINING, /* first SIGINT: running trials finish, nothing new */
    AGENT_EV_STOPPING, /* stop signal: trials are being stopped (text: signal name) */
    AGENT_EV_WARNING,  /* a problem the agent survives (text) */
    AGENT_EV_HOOK,     /* on_complete started (result NULL) or ended (result) */
    AGENT_EV_TICK,     /* about 4 times a second while trials run, for displays */
} agent_event_type;

typedef struct agent_event {
    agent_event_type type;
    const char *sweep; /* NULL for agent-wide events */
    uint64_t trial;    /* 0 when not about a trial */
    int attempt;
    const store_result *result; /* FINISHED, HOOK (end) */
    double elapsed;             /* FINISHED: seconds the attempt ran */
    const char *text;           /* OUTPUT line, WARNING message, command, ... */
    size_t running;             /* trials running here now */
} agent_event;

typedef void (*agent_event_fn)(const agent_event *ev, void *ud);

/* Whether the tails of trials' logs are copied into the store (logship.h). */
typedef enum {
    AGENT_SHIP_AUTO = 0, /* when the store is not a SQLite file */
    AGENT_SHIP_ALWAYS,
    AGENT_SHIP_NEVER,
} agent_ship_logs;

typedef struct agent_config {
    const workspace *ws; /* where trial directories live (borrowed) */
    int slots;           /* CPU slots; 0: the CPUs this process may use */
    const char **sweeps; /* only these sweeps (NULL/0: every sweep) */
    size_t nsweeps;
    const char *tag;          /* only sweeps with this tag (NULL: any) */
    bool exit_when_idle;      /* return when nothing is claimable and nothing runs */
    bool until_sweeps_end;    /* (run) return when every named sweep is done
                                 everywhere: nothing pending or running */
    uint64_t max_trials;      /* claim at most this many attempts (0: no limit) */
    double grace;             /* seconds between SIGTERM and SIGKILL (0: 10) */
    bool show_output;         /* AGENT_EV_OUTPUT for every line trials print */
    const char *interpreter;  /* ${interpreter} when the spec has none (NULL: python3) */
    const char *gpus;         /* --gpus: NULL or "auto", "none", indices/UUIDs */
    uint64_t min_free;        /* GPU free-memory floor when the spec gives none
                                 (0: GPU_MIN_FREE_DEFAULT, 4 GiB) */
    const char *gpu_snapshot; /* a testing aid: read GPUs from this JSON file
                                 (NULL: $SWEEPQ_GPU_SNAPSHOT) */
    agent_event_fn on_event;  /* may be NULL */
    void *ud;

    /* Copying logs' tails into the store (logship.h). */
    agent_ship_logs ship_logs; /* --ship-logs */
    double ship_period;        /* seconds between shipments of a running
                                  trial's grown log (0: 10) */
} agent_config;

typedef struct agent_summary {
    uint64_t started; /* attempts started (or that failed to start) */
    uint64_t succeeded, failed, timed_out, preempted, cancelled, lost;
    uint64_t stopped_early; /* stopped by the sweep's early_terminate rule */
    bool drained;           /* stopped claiming because of SIGINT */
    bool stopped;           /* trials were stopped by a signal */
    bool interrupted;       /* drained or stopped */
    /* Stopped claiming because this machine could not write the files of
     * HOST_FAILS_MAX trials in a row (read-only or full disk, ...): each
     * was given back as preempted; the caller exits EXIT_HOST. */
    bool host_failed;
} agent_summary;

/* The CPUs this process may run on (its affinity mask), at least 1. */
int agent_default_slots(void);

/*
 * Runs the agent until its exit condition: exit_when_idle, until_sweeps_end,
 * max_trials reached and drained, or a signal's drain. st is borrowed and
 * used from this thread only. Returns 0 after a clean drain (*out filled),
 * or a negative SQ_E* code when the agent could not start (registration
 * failed for good, signals could not be set up).
 */
int agent_run(store *st, const agent_config *cfg, agent_summary *out);

/*
 * The WANDB_RUN_ID of a trial: 16 lower-case hex digits derived from the
 * sweep name and the trial's key, so every attempt of a trial (and the same
 * trial of a re-created sweep) resumes the same W&B run. buf >= 17 bytes.
 */
const char *agent_wandb_run_id(const char *sweep, const char *key, char *buf, size_t size);

#endif
