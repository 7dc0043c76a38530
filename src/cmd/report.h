/*
 * report.h - the shared printing of the reading verbs (status, trials, best,
 * agents, recent, run's summary): aligned tables, progress bars, rates and
 * ETAs, durations, and the JSON shapes of sweeps and trials.
 *
 * Invariants:
 *   - Only src/cmd/ and src/main.c print; this module prints only to the
 *     FILE* it is given and never exits.
 *   - The JSON shapes made here are the documented ones (docs/cli.md):
 *     every verb that prints a sweep or a trial uses report_sweep_json /
 *     report_trial_json, so one shape per object across all verbs.
 *   - Tables measure cells in display columns (UTF-8 aware), so parameter
 *     values with non-ASCII text still line up.
 */
#ifndef SQ_REPORT_H
#define SQ_REPORT_H

#include "store/store.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- tables ------------------------------------------------------------ */

typedef struct report_table report_table;

/* A table with ncols columns named by headers (copied). Never NULL. */
report_table *report_table_new(size_t ncols, const char *const *headers);
void report_table_free(report_table *t); /* NULL is a no-op */

/* Right-aligns column col (numbers); columns are left-aligned by default. */
void report_table_align_right(report_table *t, size_t col);

/* Appends the next cell, row-major: after ncols cells a new row begins.
 * cell is copied; NULL prints as "-". */
void report_table_add(report_table *t, const char *cell);
void report_table_addf(report_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rows added so far (a partial last row counts). */
size_t report_table_rows(const report_table *t);

/*
 * Prints the header and rows with columns padded to their widest cell and
 * two spaces between them. When max_width > 0 and the table is wider, the
 * last column is cut with "…" to fit (it is where parameters and metrics go).
 */
void report_table_print(FILE *f, const report_table *t, int max_width);

/* The width the table would print at without clipping. */
int report_table_width(const report_table *t);

/* The terminal's width when f is a terminal, else 0 (no limit). */
int report_term_width(FILE *f);

/* ---- small formats ----------------------------------------------------- */

/* "[#######.........]" of width inner columns for done/total into sb. */
void report_bar(strbuf *sb, uint64_t done, uint64_t total, int width);

/* A duration as "3m05s", "1h02m", "0.8s"; "-" when seconds < 0. buf >= 32. */
const char *report_duration(double seconds, char *buf, size_t size);

/* "12s ago", "3m ago", "2d ago" from then to now; "never" when then is 0. */
const char *report_ago(double then, double now, char *buf, size_t size);

/* A trial's duration in seconds, to the millisecond: finished - started,
 * now - started while running, -1 when it never started. */
double report_trial_duration(const store_trial *t, double now);

/* "lr=0.001 batch=32" from a JSON object text; caller frees. Strings are
 * printed bare, other values as compact JSON. "" for "{}" or NULL. */
char *report_kv_brief(const char *object_json);

/* A number as the shortest text that reads back as the same double. */
const char *report_number(double v, char *buf, size_t size);

/* ---- parameter order ----------------------------------------------------- */

/* The sweep's parameter names in the order its spec writes them (the order
 * trials are expanded in), read from the sweep's frozen spec. */
typedef struct report_order {
    char **names;
    size_t n;
} report_order;

/* Fills o from s->spec_yaml; o->n is 0 when that cannot be read (callers
 * then keep their own order). Release with report_order_release. */
void report_order_load(report_order *o, const store_sweep *s);
void report_order_release(report_order *o);

/* Sorts names[0..n) into spec order; names the spec lacks go last, by name. */
void report_order_sort(const report_order *o, const char **names, size_t n);

/* ---- progress ---------------------------------------------------------- */

typedef struct report_progress {
    uint64_t done;  /* trials in a final state */
    uint64_t total; /* done + pending + running (or s->total if larger) */
    double rate;    /* trials finished per minute over the window; 0 if none */
    double eta;     /* seconds until all done at that rate; 0 when done; -1
                       unknown (open-ended, paused, or nothing running) */
} report_progress;

/* True when the sweep has a known size: not open-ended, or open-ended with
 * a cap (a bayes sweep's run_cap, its store total). */
bool report_sweep_bounded(const store_sweep *s);

/*
 * Computes the progress of sweep s from its counts and the finished_at of
 * its trials in the last `window` seconds before now (the recent rate, so a
 * sweep resumed after a pause is not judged by its idle hours). Returns 0
 * or the store's error.
 */
int report_sweep_progress(store *st, const store_sweep *s, double now, double window,
                          report_progress *out);

/*
 * True when the sweep will do no more work: finished, or with no pending or
 * running trial left (cancelled, or bounded and drained). An open-ended
 * active sweep is never done: its agents keep adding trials.
 */
bool report_sweep_done(const store_sweep *s);

/* ---- JSON shapes -------------------------------------------------------- */

/*
 * {"name","state","tags":[],"metric":{"name","goal"}|null,"total","counts":
 *  {"pending","running","succeeded","failed","cancelled"},"created_at",
 *  "updated_at","finished_at"} with ISO 8601 times (null when not yet).
 * Returns a new reference.
 */
json_t *report_sweep_json(const store_sweep *s);

/*
 * {"number","state","attempts","failures","started_at","finished_at",
 *  "duration","params":{},"metrics":{},"exit_code","signal","error","agent"}
 * with ISO 8601 times and seconds for duration (null when unknown).
 * Returns a new reference.
 */
json_t *report_trial_json(const store_trial *t, double now);

/* ISO 8601 UTC text for an epoch time, or JSON null when t is 0. */
json_t *report_time_json(double t);

/*
 * v as JSON text (json_dumps flags), every real with the fewest digits that
 * read back as the same double across the document (jansson alone prints
 * 17, so 0.1 would read 0.10000000000000001). Caller frees.
 */
char *report_json_dumps(const json_t *v, size_t flags);

/* Prints v indented by 2 with a final newline and drops the reference. */
void report_json_print(FILE *f, json_t *v);

/* ---- best trials --------------------------------------------------------- */

/*
 * The k best succeeded and stopped trials of s by its metric's final value
 * (a stopped trial's: the value it reached) and goal, best first; ties by
 * trial number. Trials that did not report the metric are left out.
 * *out is owned by the caller (store_trials_free). SQ_EINVAL with a message
 * saying how to add one when the sweep has no metric.
 */
int report_best_trials(store *st, const store_sweep *s, size_t k, store_trial **out, size_t *n);

/*
 * Prints the "best trials" table of sweep s (rank, trial, metric, duration,
 * params) to f. When the sweep has no metric, prints one line saying so and
 * returns 0; when no trial reported it yet, prints one line saying that.
 * This is what `sweepq run` prints at its end and what `sweepq best` prints.
 * Returns 0 or the store's error code with sq_error_msg() set.
 */
int report_print_best(FILE *f, store *st, const store_sweep *s, int k);

#endif
