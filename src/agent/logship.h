/*
 * logship.h - copies the tail of trials' logs into the store
 * (store_put_log), so that `sweepq logs` and the dashboard show the output
 * of trials that ran on another machine, whose trial directories the
 * reader cannot see.
 *
 * Invariants:
 *   - What is shipped is the log's last STORE_LOG_MAX bytes (the end says
 *     how an attempt ended), starting at a character: a UTF-8 sequence cut
 *     by the cap is dropped whole. Each shipping replaces the one before.
 *   - Nothing here fails a trial: errors come back as codes and messages for
 *     the agent to warn about, and a final tail that could not be stored for
 *     a transient error waits in a logship_queue for the next try.
 *   - The queue holds at most LOGSHIP_QUEUE_MAX tails (paths, not open
 *     files); when full, the oldest is dropped with a warning.
 */
#ifndef SQ_LOGSHIP_H
#define SQ_LOGSHIP_H

#include "agent/agent.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOGSHIP_QUEUE_MAX 256

/*
 * Whether an agent ships logs to the store at url. AGENT_SHIP_AUTO: only
 * when the store is not a SQLite file ("sqlite:PATH" or a plain path). With
 * SQLite every agent runs on the machine that holds the file, so `sweepq
 * logs` reads the trial's own log; shipping would be one more write
 * transaction per trial on the one writer lock (claim and finish are two)
 * and a copy of every log in the database file.
 */
bool logship_wanted(agent_ship_logs mode, const char *url);

/* Parses "auto", "always" or "never"; SQ_EINVAL with a message otherwise. */
int logship_mode_parse(const char *text, agent_ship_logs *out);

/*
 * Reads the tail of the log open as fd (pread: its offset is not moved)
 * and stores it as (trial_id, attempt). *out_size (may be NULL) gets the
 * file's size when read, so a caller can skip the next shipping when the
 * log has not grown. Returns 0 or the SQ_E* code: SQ_EIO when the file
 * cannot be read, or store_put_log's.
 */
int logship_send(store *st, int64_t trial_id, int attempt, int fd, off_t *out_size);

/* Called with the message of each tail the queue gives up on. */
typedef void (*logship_warn_fn)(const char *msg, void *ud);

typedef struct logship_item {
    int64_t trial_id;
    int attempt;
    char *path;  /* the log file */
    char *label; /* "trial 3 of sweep 'lr'", for messages */
} logship_item;

typedef struct logship_queue {
    logship_item *items;
    size_t n, cap;
} logship_queue;

#define LOGSHIP_QUEUE_INIT                                                                         \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Keeps the final tail of path for logship_queue_retry; the strings are
 * copied. Drops the oldest (warning through warn) when full. */
void logship_queue_add(logship_queue *q, int64_t trial_id, int attempt, const char *path,
                       const char *label, logship_warn_fn warn, void *ud);

/*
 * Ships the queued tails, oldest first. A tail that is stored, or that fails
 * for a lasting reason (warned about), leaves the queue; at the first that
 * fails for a transient reason the store is away: it and the rest stay for
 * the next call, untried (against an unreachable server each try could
 * wait out a connect timeout). Returns the number left.
 */
size_t logship_queue_retry(logship_queue *q, store *st, logship_warn_fn warn, void *ud);

/* Frees what the queue holds (tails still queued are lost). */
void logship_queue_release(logship_queue *q);

#endif
