/*
 * report.c - tables, bars, durations, progress and the JSON shapes shared
 * by the reading verbs. See report.h.
 *
 * Widths are counted in UTF-8 code points, not bytes: a continuation byte
 * (10xxxxxx) adds nothing. That keeps accented names aligned; double-width
 * scripts may still overhang, which costs a ragged edge, never a wrong value.
 */
#include "util/common.h"

#include "cmd/report.h"

#include "spec/spec.h"
#include "util/timeutil.h"
#include "util/units.h"

#include <math.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct report_table {
    size_t ncols;
    char **cells; /* headers first, then rows, row-major */
    size_t ncells, cap;
    bool *right;
};

report_table *report_table_new(size_t ncols, const char *const *headers)
{
    SQ_ASSERT(ncols > 0);
    report_table *t = xcalloc(1, sizeof *t);
    t->ncols = ncols;
    t->right = xcalloc(ncols, sizeof *t->right);
    for (size_t i = 0; i < ncols; i++)
        report_table_add(t, headers[i]);
    return t;
}

void report_table_free(report_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->right);
    free(t);
}

void report_table_align_right(report_table *t, size_t col)
{
    SQ_ASSERT(col < t->ncols);
    t->right[col] = true;
}

void report_table_add(report_table *t, const char *cell)
{
    XGROW(t->cells, t->cap, t->ncells + 1);
    t->cells[t->ncells++] = xstrdup(cell ? cell : "-");
}

void report_table_addf(report_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    XGROW(t->cells, t->cap, t->ncells + 1);
    t->cells[t->ncells++] = s;
}

size_t report_table_rows(const report_table *t)
{
    return (t->ncells - t->ncols + t->ncols - 1) / t->ncols;
}

/* Display columns of s: UTF-8 code points, control bytes counted as one. */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Writes at most width columns of s, ending with "…" when it had to cut. */
static void put_clipped(FILE *f, const char *s, int width)
{
    if (text_width(s) <= width) {
        fputs(s, f);
        return;
    }
    if (width <= 0)
        return;
    int w = 0;
    const char *p = s;
    while (*p) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (w == width - 1)
                break;
            w++;
        }
        p++;
    }
    fwrite(s, 1, (size_t)(p - s), f);
    fputs("…", f);
}

static void pad(FILE *f, int n)
{
    for (; n > 0; n--)
        fputc(' ', f);
}

/* Column widths of t into a new array of t->ncols. */
static int *column_widths(const report_table *t)
{
    int *w = xcalloc(t->ncols, sizeof *w);
    for (size_t i = 0; i < t->ncells; i++) {
        int cw = text_width(t->cells[i]);
        if (cw > w[i % t->ncols])
            w[i % t->ncols] = cw;
    }
    return w;
}

int report_table_width(const report_table *t)
{
    int *w = column_widths(t), total = 0;
    for (size_t c = 0; c < t->ncols; c++)
        total += w[c] + (c + 1 < t->ncols ? 2 : 0);
    free(w);
    return total;
}

void report_table_print(FILE *f, const report_table *t, int max_width)
{
    int *w = column_widths(t);
    /* The last column gets what the others leave, but never less than 8. */
    int before = 0;
    for (size_t c = 0; c + 1 < t->ncols; c++)
        before += w[c] + 2;
    int last = w[t->ncols - 1];
    if (max_width > 0 && before + last > max_width)
        last = max_width - before > 8 ? max_width - before : 8;
    for (size_t i = 0; i < t->ncells; i++) {
        size_t c = i % t->ncols;
        const char *cell = t->cells[i];
        bool is_last = c + 1 == t->ncols || i + 1 == t->ncells;
        int gap = w[c] - text_width(cell);
        if (c + 1 == t->ncols) {
            if (t->right[c])
                pad(f, gap);
            put_clipped(f, cell, last);
        } else {
            if (t->right[c])
                pad(f, gap);
            fputs(cell, f);
            if (!is_last)
                pad(f, (t->right[c] ? 0 : gap) + 2);
        }
        if (is_last)
            fputc('\n', f);
    }
    free(w);
}

int report_term_width(FILE *f)
{
    struct winsize ws;
    if (!isatty(fileno(f)) || ioctl(fileno(f), TIOCGWINSZ, &ws) || ws.ws_col == 0)
        return 0;
    return ws.ws_col;
}

void report_bar(strbuf *sb, uint64_t done, uint64_t total, int width)
{
    int filled = total ? (int)((double)done / (double)total * width + 0.5) : 0;
    if (filled > width)
        filled = width;
    sb_addc(sb, '[');
    for (int i = 0; i < width; i++)
        sb_addc(sb, i < filled ? '#' : '.');
    sb_addc(sb, ']');
}

const char *report_duration(double seconds, char *buf, size_t size)
{
    if (seconds < 0 || isnan(seconds)) {
        snprintf(buf, size, "-");
        return buf;
    }
    return units_format_duration(seconds, buf, (unsigned)size);
}

const char *report_ago(double then, double now, char *buf, size_t size)
{
    if (then <= 0) {
        snprintf(buf, size, "never");
        return buf;
    }
    double d = now - then;
    if (d < 0)
        d = 0;
    char dur[32];
    if (d < 60)
        snprintf(dur, sizeof dur, "%.0fs", d);
    else
        units_format_duration(d, dur, sizeof dur);
    snprintf(buf, size, "%s ago", dur);
    return buf;
}

double report_trial_duration(const store_trial *t, double now)
{
    double d = -1;
    if (t->started_at <= 0)
        return -1;
    if (t->state == TRIAL_RUNNING)
        d = now - t->started_at;
    else if (t->finished_at >= t->started_at)
        d = t->finished_at - t->started_at;
    return d < 0 ? -1 : round(d * 1000) / 1000;
}

const char *report_number(double v, char *buf, size_t size)
{
    if (isnan(v) || isinf(v)) {
        snprintf(buf, size, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* One value as report_kv_brief shows it: strings bare, numbers shortest. */
static void add_value(strbuf *sb, json_t *v)
{
    char num[40];
    if (json_is_string(v))
        sb_adds(sb, json_string_value(v));
    else if (json_is_real(v))
        sb_adds(sb, report_number(json_real_value(v), num, sizeof num));
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        sb_adds(sb, s ? s : "?");
        free(s);
    }
}

char *report_kv_brief(const char *object_json)
{
    strbuf sb = SB_INIT;
    json_t *o = object_json ? json_loads(object_json, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    if (json_is_object(o)) {
        json_object_foreach(o, k, v)
        {
            if (sb.len)
                sb_addc(&sb, ' ');
            sb_addf(&sb, "%s=", k);
            add_value(&sb, v);
        }
    }
    json_decref(o);
    return sb_detach(&sb);
}

void report_order_load(report_order *o, const store_sweep *s)
{
    o->names = NULL;
    o->n = 0;
    if (!s->spec_yaml || !*s->spec_yaml)
        return;
    spec *sp = NULL;
    spec_diags diags = SPEC_DIAGS_INIT;
    if (spec_load_string(&sp, s->spec_yaml, strlen(s->spec_yaml), s->name, NULL, &diags) == 0) {
        o->names = xcalloc(sp->nparams ? sp->nparams : 1, sizeof *o->names);
        for (size_t i = 0; i < sp->nparams; i++)
            o->names[o->n++] = xstrdup(sp->params[i].name);
    }
    spec_free(sp);
    spec_diags_release(&diags);
}

void report_order_release(report_order *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->names[i]);
    free(o->names);
    o->names = NULL;
    o->n = 0;
}

static size_t order_rank(const report_order *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->names[i], name))
            return i;
    return o->n;
}

static int compare_by_order(const void *a, const void *b, void *order)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t rx = order_rank(order, x), ry = order_rank(order, y);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return strcmp(x, y);
}

void report_order_sort(const report_order *o, const char **names, size_t n)
{
    if (n > 1)
        qsort_r(names, n, sizeof *names, compare_by_order, (void *)o);
}

bool report_sweep_bounded(const store_sweep *s)
{
    return !s->open_ended || s->total > 0;
}

int report_sweep_progress(store *st, const store_sweep *s, double now, double window,
                          report_progress *out)
{
    bool bounded = report_sweep_bounded(s);
    const store_counts *c = &s->counts;
    memset(out, 0, sizeof *out);
    out->done = c->succeeded + c->failed + c->cancelled + c->stopped;
    out->total = out->done + c->pending + c->running;
    if (bounded && s->total > out->total)
        out->total = s->total;
    out->eta = -1;

    store_trial *t = NULL;
    size_t n = 0;
    store_trial_query q = {.sweep = s->name, .state = -1};
    int rc = store_list_trials(st, &q, &t, &n);
    if (rc)
        return rc;
    /* The window ends now, or when the sweep finished; it never reaches
     * back before the first trial started, so a young sweep's rate is not
     * diluted by time it did not exist. */
    double end = s->state == SWEEP_FINISHED && s->finished_at > 0 ? s->finished_at : now;
    double first = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].started_at > 0 && (first == 0 || t[i].started_at < first))
            first = t[i].started_at;
    double start = end - window;
    if (first > start)
        start = first;
    uint64_t finished = 0;
    for (size_t i = 0; i < n; i++) {
        bool final = t[i].state == TRIAL_SUCCEEDED || t[i].state == TRIAL_FAILED ||
                     t[i].state == TRIAL_STOPPED ||
                     (t[i].state == TRIAL_CANCELLED && t[i].started_at > 0);
        if (final && t[i].finished_at >= start && t[i].finished_at <= end)
            finished++;
    }
    store_trials_free(t, n);
    if (first > 0 && end - start >= 1 && finished)
        out->rate = (double)finished / (end - start) * 60;
    if (out->done >= out->total && bounded)
        out->eta = 0;
    else if (out->rate > 0 && bounded && s->state == SWEEP_ACTIVE && c->running > 0)
        out->eta = (double)(out->total - out->done) / out->rate * 60;
    return 0;
}

bool report_sweep_done(const store_sweep *s)
{
    if (s->state == SWEEP_FINISHED)
        return true;
    if (s->counts.pending || s->counts.running)
        return false;
    return s->state == SWEEP_CANCELLED || !s->open_ended;
}

json_t *report_time_json(double t)
{
    char buf[40];
    return t > 0 ? json_string(time_format_iso(t, buf, sizeof buf)) : json_null();
}

/* Parses text as a JSON value, or null when it is absent or not JSON. */
static json_t *parse_or(const char *text, json_t *fallback)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!v)
        return fallback;
    json_decref(fallback);
    return v;
}

json_t *report_sweep_json(const store_sweep *s)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < s->ntags; i++)
        json_array_append_new(tags, json_string(s->tags[i]));
    json_t *metric = s->metric_name ? json_pack("{s:s, s:s}", "name", s->metric_name, "goal",
                                                s->maximize ? "maximize" : "minimize")
                                    : json_null();
    const store_counts *c = &s->counts;
    json_t *counts =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "pending", (json_int_t)c->pending, "running",
                  (json_int_t)c->running, "succeeded", (json_int_t)c->succeeded, "failed",
                  (json_int_t)c->failed, "cancelled", (json_int_t)c->cancelled, "stopped",
                  (json_int_t)c->stopped);
    uint64_t stored =
        c->pending + c->running + c->succeeded + c->failed + c->cancelled + c->stopped;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "state", json_string(sweep_state_name(s->state)));
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "metric", metric);
    json_object_set_new(o, "open_ended", json_boolean(s->open_ended));
    json_object_set_new(o, "total",
                        json_integer((json_int_t)(s->total > stored ? s->total : stored)));
    json_object_set_new(o, "counts", counts);
    json_object_set_new(o, "max_attempts", json_integer(s->max_attempts));
    json_object_set_new(o, "created_at", report_time_json(s->created_at));
    json_object_set_new(o, "updated_at", report_time_json(s->updated_at));
    json_object_set_new(o, "finished_at", report_time_json(s->finished_at));
    return o;
}

json_t *report_trial_json(const store_trial *t, double now)
{
    double d = report_trial_duration(t, now);
    json_t *o = json_object();
    json_object_set_new(o, "number", json_integer((json_int_t)t->number));
    json_object_set_new(o, "state", json_string(trial_state_name(t->state)));
    json_object_set_new(o, "attempts", json_integer(t->attempt));
    json_object_set_new(o, "failures", json_integer(t->failures));
    json_object_set_new(o, "started_at", report_time_json(t->started_at));
    json_object_set_new(o, "finished_at",
                        report_time_json(t->state == TRIAL_RUNNING ? 0 : t->finished_at));
    json_object_set_new(o, "duration", d >= 0 ? json_real(d) : json_null());
    json_object_set_new(o, "params", parse_or(t->params_json, json_object()));
    json_object_set_new(o, "metrics", parse_or(t->metrics_json, json_object()));
    json_object_set_new(o, "exit_code",
                        t->exit_code >= 0 ? json_integer(t->exit_code) : json_null());
    json_object_set_new(o, "signal", t->term_signal ? json_integer(t->term_signal) : json_null());
    json_object_set_new(o, "error", t->error && *t->error ? json_string(t->error) : json_null());
    json_object_set_new(o, "agent",
                        t->agent_id && *t->agent_id ? json_string(t->agent_id) : json_null());
    json_object_set_new(o, "stopped_step",
                        t->state == TRIAL_STOPPED ? json_integer((json_int_t)t->stopped_step)
                                                  : json_null());
    return o;
}

/* The digits %.*g needs for v to read back exactly (1..17). */
static int digits_needed(double v)
{
    char buf[40];
    for (int prec = 1; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return prec;
    }
    return 17;
}

static int max_digits(const json_t *v)
{
    int most = 1;
    if (json_is_real(v))
        return digits_needed(json_real_value(v));
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            int d = max_digits(item);
            most = d > most ? d : most;
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            int d = max_digits(item);
            most = d > most ? d : most;
        }
    }
    return most;
}

char *report_json_dumps(const json_t *v, size_t flags)
{
    char *s = json_dumps(v, flags | JSON_ENCODE_ANY | JSON_REAL_PRECISION(max_digits(v)));
    return s ? s : xstrdup("null");
}

void report_json_print(FILE *f, json_t *v)
{
    char *s = report_json_dumps(v, JSON_INDENT(2));
    fputs(s, f);
    fputc('\n', f);
    free(s);
    json_decref(v);
}

/* The trial's value of metric name into *out; false when it has none. */
static bool metric_value(const store_trial *t, const char *name, double *out)
{
    json_t *m = t->metrics_json ? json_loads(t->metrics_json, 0, NULL) : NULL;
    json_t *v = json_object_get(m, name);
    bool ok = json_is_number(v) && !isnan(json_number_value(v));
    if (ok)
        *out = json_number_value(v);
    json_decref(m);
    return ok;
}

typedef struct ranked {
    size_t index;
    uint64_t number;
    double value;
} ranked;

static int compare_ranked(const void *a, const void *b, void *maximize)
{
    const ranked *x = a, *y = b;
    if (x->value != y->value)
        return (x->value < y->value) == *(const bool *)maximize ? 1 : -1;
    return x->number < y->number ? -1 : x->number > y->number;
}

int report_best_trials(store *st, const store_sweep *s, size_t k, store_trial **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s->metric_name)
        return sq_error_set(SQ_EINVAL,
                            "sweep '%s' has no metric; add 'metric: {name: loss, goal: minimize}' "
                            "to the spec, or use 'sweepq trials %s --sort NAME'",
                            s->name, s->name);
    store_trial *all = NULL;
    size_t nall = 0;
    store_trial_query q = {.sweep = s->name, .state = -1};
    int rc = store_list_trials(st, &q, &all, &nall);
    if (rc)
        return rc;
    ranked *r = xcalloc(nall ? nall : 1, sizeof *r);
    size_t nr = 0;
    for (size_t i = 0; i < nall; i++) {
        double v;
        /* A stopped trial ranks by the value it reached when stopped. */
        bool ended = all[i].state == TRIAL_SUCCEEDED || all[i].state == TRIAL_STOPPED;
        if (ended && metric_value(&all[i], s->metric_name, &v))
            r[nr++] = (ranked){i, all[i].number, v};
    }
    bool maximize = s->maximize;
    qsort_r(r, nr, sizeof *r, compare_ranked, &maximize);
    size_t keep = k && k < nr ? k : nr;
    store_trial *best = xcalloc(keep ? keep : 1, sizeof *best);
    /* Move the kept trials out; their slots are zeroed so freeing the rest
     * frees each string once. */
    for (size_t i = 0; i < keep; i++) {
        best[i] = all[r[i].index];
        memset(&all[r[i].index], 0, sizeof all[r[i].index]);
    }
    store_trials_free(all, nall);
    free(r);
    *out = best;
    *n = keep;
    return 0;
}

int report_print_best(FILE *f, store *st, const store_sweep *s, int k)
{
    if (!s->metric_name) {
        fprintf(f,
                "sweep '%s' has no metric, so no trial is best; add 'metric: {name: loss, "
                "goal: minimize}' to the spec, or use 'sweepq trials %s --sort NAME'\n",
                s->name, s->name);
        return 0;
    }
    store_trial *t = NULL;
    size_t n = 0;
    int rc = report_best_trials(st, s, k > 0 ? (size_t)k : 0, &t, &n);
    if (rc)
        return rc;
    if (n == 0) {
        fprintf(f, "no trial of sweep '%s' has reported '%s' yet\n", s->name, s->metric_name);
        store_trials_free(t, n);
        return 0;
    }
    fprintf(f, "best trials of '%s' by %s (%s):\n", s->name, s->metric_name,
            s->maximize ? "maximize" : "minimize");
    const char *headers[] = {"rank", "trial", s->metric_name, "duration", "state", "params"};
    report_table *tab = report_table_new(6, headers);
    report_table_align_right(tab, 0);
    report_table_align_right(tab, 1);
    report_table_align_right(tab, 2);
    report_table_align_right(tab, 3);
    double now = store_now(st);
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        char num[40], dur[32];
        metric_value(&t[i], s->metric_name, &v);
        report_table_addf(tab, "%zu", i + 1);
        report_table_addf(tab, "%llu", (unsigned long long)t[i].number);
        report_table_add(tab, report_number(v, num, sizeof num));
        report_table_add(tab, report_duration(report_trial_duration(&t[i], now), dur, sizeof dur));
        if (t[i].state == TRIAL_STOPPED)
            report_table_addf(tab, "stopped@%llu", (unsigned long long)t[i].stopped_step);
        else
            report_table_add(tab, trial_state_name(t[i].state));
        char *params = report_kv_brief(t[i].params_json);
        report_table_add(tab, params);
        free(params);
    }
    report_table_print(f, tab, report_term_width(f));
    report_table_free(tab);
    store_trials_free(t, n);
    return 0;
}
