/*
 * metrics.h - the metrics of one trial attempt, from its three sources:
 *
 *   1. lines of its output (stdout and stderr, read from the attempt's log):
 *      by default every "name=value" and "name: value" whose value is a
 *      number ("step=3 loss=0.25 acc: 0.9"); or the spec's `metrics`
 *      pattern, a POSIX ERE whose groups 1 and 2 are the name and the value,
 *      applied as many times as it matches;
 *   2. JSON lines appended to $SWEEPQ_METRICS_FILE, each an object
 *      ({"step": 3, "loss": 0.2}; nested objects give dotted names);
 *   3. W&B's wandb-summary.json under TRIAL_DIR/wandb/run-ID/files/ at the end.
 *
 * Invariants:
 *   - Every row the store gets has a step. A line of output or a JSON line
 *     with an explicit step gives one row with all its metrics at that
 *     step: "step=" in output; "step", else "_step", else "epoch" in a JSON
 *     line (a whole number >= 0; these names are steps, not metrics).
 *     Without one, each metric gets its own row at the n-th value of that
 *     metric the attempt reported (1, 2, 3, ...), as W&B counts iterations.
 *   - The final value of a metric is the last one seen, in the order the
 *     calls were made; the W&B summary, read last, has the last word.
 *   - Only finite numbers are kept (JSON has no NaN); bools and strings are
 *     ignored; names longer than METRICS_MAX_NAME are ignored, and so are
 *     names that text_is_metric_name refuses (empty, quotes, backslashes,
 *     control characters, invalid UTF-8): metrics_take_warning reports the
 *     first of those once.
 *   - Memory is bounded: at most METRICS_MAX_NAMES distinct names are kept;
 *     rows wait in memory only until metrics_take_rows, which the agent
 *     calls on every tick (it reads at most 1 MiB of output per tick), and
 *     at most METRICS_MAX_PENDING of them; an attempt keeps at most
 *     METRICS_MAX_ROWS rows. Rows past a bound are dropped with one warning.
 */
#ifndef SQ_METRICS_H
#define SQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_NAME 200
#define METRICS_MAX_NAMES 10000
/* Rows waiting for metrics_take_rows, and rows of one attempt in all: past
 * either, rows are dropped (one warning); final values are still kept. */
#define METRICS_MAX_PENDING 20000
#define METRICS_MAX_ROWS 200000

typedef struct metrics_pattern metrics_pattern;

/*
 * Compiles the spec's metrics pattern; ere NULL or "" gives the default
 * parser. 0 and *out (free with metrics_pattern_free), or SQ_EINVAL with
 * "invalid metrics pattern 'X': CAUSE" (*out NULL).
 */
int metrics_pattern_new(metrics_pattern **out, const char *ere);
void metrics_pattern_free(metrics_pattern *p); /* NULL is a no-op */

typedef struct metrics metrics;

/* A collector using pattern p (borrowed; NULL: the default parser). */
metrics *metrics_new(const metrics_pattern *p);

/* Called with each value of the watched metric as it is parsed, with its step. */
typedef void metrics_watch_fn(uint64_t step, double value, void *ud);

/*
 * Watches metric `name` (the spec's metric): from then on fn(step, value,
 * ud) is called for each of its values, and output lines read by the
 * default parser keep only that metric (and "step"): a line
 * "lr=0.1 w=256 loss=0.5" records loss alone. (A custom pattern keeps all
 * it matches: the spec asked for them.) A watched metric given something
 * other than a finite number ("loss=nan", {"loss": "x"}) is ignored with
 * one warning (metrics_take_warning).
 */
void metrics_watch(metrics *m, const char *name, metrics_watch_fn *fn, void *ud);

/* Also keeps these names from output lines while a metric is watched (the
 * spec's `metrics: [acc, ...]` list); borrowed: they must outlive m. */
void metrics_keep(metrics *m, char *const *names, size_t n);
void metrics_free(metrics *m); /* NULL is a no-op */

/* Parses one line of output (NUL-terminated, len bytes, no newline).
 * Returns the number of values found (0 for most lines). */
size_t metrics_add_output_line(metrics *m, const char *line, size_t len);

/* Parses one line of the metrics file. 0, or SQ_EINVAL when it is not a
 * JSON object (the line is ignored). */
int metrics_add_json_line(metrics *m, const char *line, size_t len);

/* Merges a wandb-summary.json document: its numeric values whose names do
 * not start with '_' become final values. 0, or SQ_EINVAL when the text is
 * not a JSON object. */
int metrics_add_summary(metrics *m, const char *text, size_t len);

/*
 * Reads the newest TRIAL_DIR/wandb/{run,offline-run}-ID/files/
 * wandb-summary.json, if any, into m. Returns 0 (also when there is none:
 * one failed opendir when the trial never used W&B), or SQ_EIO.
 */
int metrics_read_wandb_summary(metrics *m, const char *trial_dir);

/* The warning about the first metric name dropped since the last call, once
 * per collector ("metric name 'X' dropped: ..."), or NULL; the caller frees. */
char *metrics_take_warning(metrics *m);

/* Rows collected and not yet taken. */
size_t metrics_pending(const metrics *m);

/* The pending rows as a JSON array text ([{"step":1,"loss":0.5},...]), or
 * NULL when there are none; the caller frees. The rows are then forgotten. */
char *metrics_take_rows(metrics *m);

/* The final values as a JSON object text ({"loss":0.2}), or NULL when no
 * metric was seen; the caller frees. */
char *metrics_final_json(const metrics *m);

#endif
