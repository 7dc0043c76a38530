/*
 * cmd_export.c - `sweepq export SWEEP --format csv|jsonl|json [-o FILE]`:
 * every trial of a sweep as one flat row: number, state, attempts,
 * started_at, finished_at (ISO 8601 UTC), duration (seconds), each
 * parameter under its dotted name, each final metric as metric.NAME.
 *
 * Invariants:
 *   - Every row has every column, in the same order (missing values are
 *     empty in CSV, null in JSON), so the output loads as one table.
 *   - CSV follows RFC 4180: CRLF line ends, a field holding a comma, quote,
 *     CR or LF is quoted and its quotes doubled.
 *   - With -o the file is written to a temporary name in the same
 *     directory, flushed, fsync'ed and renamed: a reader never sees half.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"
#include "util/file.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static const sq_usage usage = {
    "export",
    "[options] SWEEP",
    "write every trial of a sweep as CSV, JSON lines or a JSON array",
    "Columns: number, state, attempts, started_at, finished_at (ISO 8601, UTC),\n"
    "duration (seconds), then each parameter under its dotted name, then each\n"
    "final metric as metric.NAME. CSV is RFC 4180. The format defaults to the\n"
    "extension of -o (.csv, .jsonl, .json), else csv; --json means --format json.",
    true,
};

typedef enum { FMT_CSV, FMT_JSONL, FMT_JSON } export_format;

typedef struct column {
    char *name; /* the header: a parameter's dotted name, or "metric.NAME" */
    char *key;  /* its key in the trial's params or metrics */
} column;

typedef struct columns {
    column *items; /* parameters first, then metrics */
    size_t n, cap, nparams;
} columns;

static const char *const fixed_columns[] = {"number",     "state",       "attempts",
                                            "started_at", "finished_at", "duration"};

static bool has_key(const columns *c, size_t from, const char *key)
{
    for (size_t i = from; i < c->n; i++)
        if (!strcmp(c->items[i].key, key))
            return true;
    return false;
}

static void columns_add(columns *c, char *name, const char *key)
{
    XGROW(c->items, c->cap, c->n + 1);
    c->items[c->n++] = (column){name, xstrdup(key)};
}

/* A parameter's column: its dotted name, unless that is taken by a fixed
 * column or looks like a metric's, then "param.NAME". */
static char *param_column(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(fixed_columns); i++)
        if (!strcmp(key, fixed_columns[i]))
            return xasprintf("param.%s", key);
    if (!strncmp(key, "metric.", 7) || !strncmp(key, "param.", 6))
        return xasprintf("param.%s", key);
    return xstrdup(key);
}

static void columns_release(columns *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].name);
        free(c->items[i].key);
    }
    free(c->items);
}

static json_t *load_object(const char *text)
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    if (json_is_object(o))
        return o;
    json_decref(o);
    return json_object();
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Puts the parameter columns (the first cols->nparams) in spec order. */
static void sort_params(columns *cols, const report_order *order)
{
    size_t np = cols->nparams;
    const char **keys = xcalloc(np ? np : 1, sizeof *keys);
    column *sorted = xcalloc(np ? np : 1, sizeof *sorted);
    for (size_t i = 0; i < np; i++)
        keys[i] = cols->items[i].key;
    report_order_sort(order, keys, np);
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++)
            if (cols->items[j].key == keys[i])
                sorted[i] = cols->items[j];
    memcpy(cols->items, sorted, np * sizeof *sorted);
    free(sorted);
    free(keys);
}

/* The flat rows, each a JSON object with the fixed columns and then every
 * column of cols (filled here) in order: parameters as the spec orders
 * them, then metrics by name. */
static json_t *build_rows(const store_trial *t, size_t n, double now, const report_order *order,
                          columns *cols)
{
    json_t **params = xcalloc(n ? n : 1, sizeof *params);
    json_t **metrics = xcalloc(n ? n : 1, sizeof *metrics);
    char **mnames = NULL;
    size_t nm = 0, mcap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k;
        json_t *v;
        params[i] = load_object(t[i].params_json);
        metrics[i] = load_object(t[i].metrics_json);
        json_object_foreach(params[i], k, v)
        {
            if (!has_key(cols, 0, k))
                columns_add(cols, param_column(k), k);
        }
        json_object_foreach(metrics[i], k, v)
        {
            bool seen = false;
            for (size_t j = 0; j < nm && !seen; j++)
                seen = !strcmp(mnames[j], k);
            if (!seen) {
                XGROW(mnames, mcap, nm + 1);
                mnames[nm++] = xstrdup(k);
            }
        }
    }
    cols->nparams = cols->n;
    sort_params(cols, order);
    if (nm)
        qsort(mnames, nm, sizeof *mnames, compare_strings);
    for (size_t i = 0; i < nm; i++) {
        columns_add(cols, xasprintf("metric.%s", mnames[i]), mnames[i]);
        free(mnames[i]);
    }
    free(mnames);
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        double d = report_trial_duration(&t[i], now);
        json_t *r = json_object();
        json_object_set_new(r, "number", json_integer((json_int_t)t[i].number));
        json_object_set_new(r, "state", json_string(trial_state_name(t[i].state)));
        json_object_set_new(r, "attempts", json_integer(t[i].attempt));
        json_object_set_new(r, "started_at", report_time_json(t[i].started_at));
        json_object_set_new(r, "finished_at",
                            report_time_json(t[i].state == TRIAL_RUNNING ? 0 : t[i].finished_at));
        json_object_set_new(r, "duration", d >= 0 ? json_real(d) : json_null());
        for (size_t c = 0; c < cols->n; c++) {
            json_t *src = c < cols->nparams ? params[i] : metrics[i];
            json_t *v = json_object_get(src, cols->items[c].key);
            json_object_set_new(r, cols->items[c].name, v ? json_incref(v) : json_null());
        }
        json_array_append_new(rows, r);
        json_decref(params[i]);
        json_decref(metrics[i]);
    }
    free(params);
    free(metrics);
    return rows;
}

/* Appends s as one CSV field, quoted when RFC 4180 requires it. */
static void csv_field(strbuf *sb, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        sb_adds(sb, s);
        return;
    }
    sb_addc(sb, '"');
    for (; *s; s++) {
        if (*s == '"')
            sb_addc(sb, '"');
        sb_addc(sb, *s);
    }
    sb_addc(sb, '"');
}

/* A value as CSV text: strings bare, numbers shortest, null empty. */
static void csv_value(strbuf *sb, json_t *v)
{
    char num[40];
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v))
        csv_field(sb, json_string_value(v));
    else if (json_is_real(v))
        csv_field(sb, report_number(json_real_value(v), num, sizeof num));
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        csv_field(sb, s ? s : "");
        free(s);
    }
}

static void write_csv(strbuf *sb, json_t *rows, const columns *cols)
{
    for (size_t i = 0; i < ARRAY_SIZE(fixed_columns); i++) {
        if (i)
            sb_addc(sb, ',');
        csv_field(sb, fixed_columns[i]);
    }
    for (size_t i = 0; i < cols->n; i++) {
        sb_addc(sb, ',');
        csv_field(sb, cols->items[i].name);
    }
    sb_adds(sb, "\r\n");
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        for (size_t c = 0; c < ARRAY_SIZE(fixed_columns); c++) {
            if (c)
                sb_addc(sb, ',');
            csv_value(sb, json_object_get(r, fixed_columns[c]));
        }
        for (size_t c = 0; c < cols->n; c++) {
            sb_addc(sb, ',');
            csv_value(sb, json_object_get(r, cols->items[c].name));
        }
        sb_adds(sb, "\r\n");
    }
}

static void write_json(strbuf *sb, json_t *rows, bool lines)
{
    if (!lines) {
        char *s = report_json_dumps(rows, JSON_INDENT(2));
        sb_adds(sb, s);
        sb_addc(sb, '\n');
        free(s);
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        char *s = report_json_dumps(r, JSON_COMPACT);
        sb_adds(sb, s);
        sb_addc(sb, '\n');
        free(s);
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int cmd_export(int argc, char **argv)
{
    const char *format = NULL, *output = NULL;
    const sq_option opts[] = {
        OPT_STRING('F', "format", &format, "FMT", "csv, jsonl or json"),
        OPT_STRING('o', "output", &output, "FILE", "write to FILE (atomically) instead of stdout"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs == 0)
        return options_usage_error(&usage, "missing SWEEP");
    if (nargs > 1)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[1]);
    export_format fmt = FMT_CSV;
    if (!format && g.json)
        format = "json";
    if (!format && output)
        format = ends_with(output, ".jsonl")  ? "jsonl"
                 : ends_with(output, ".json") ? "json"
                                              : "csv";
    if (!format || !strcmp(format, "csv"))
        fmt = FMT_CSV;
    else if (!strcmp(format, "jsonl"))
        fmt = FMT_JSONL;
    else if (!strcmp(format, "json"))
        fmt = FMT_JSON;
    else
        return options_usage_error(&usage, "unknown format '%s'; use csv, jsonl or json", format);

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *sw = NULL;
    store_trial *t = NULL;
    size_t n = 0;
    columns cols = {0};
    report_order order = {0};
    json_t *rows = NULL;
    strbuf out = SB_INIT;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    code = open_store_sweep(st, argv[0], &sw);
    if (code)
        goto out;
    store_trial_query q = {.sweep = argv[0], .state = -1};
    rc = store_list_trials(st, &q, &t, &n);
    if (rc) {
        code = open_store_fail(rc, "list the trials of sweep '%s'", argv[0]);
        goto out;
    }
    report_order_load(&order, sw);
    rows = build_rows(t, n, store_now(st), &order, &cols);
    if (fmt == FMT_CSV)
        write_csv(&out, rows, &cols);
    else
        write_json(&out, rows, fmt == FMT_JSONL);
    if (output) {
        rc = file_replace(output, out.buf, out.len);
        if (rc) {
            fprintf(stderr, "sweepq: %s\n", sq_error_msg());
            code = EXIT_FAILED;
            goto out;
        }
        fprintf(stderr, "wrote %zu trials of '%s' to %s\n", n, argv[0], output);
    } else if (fwrite(out.buf ? out.buf : "", 1, out.len, stdout) != out.len || fflush(stdout)) {
        fprintf(stderr, "sweepq: cannot write the export: %s\n", strerror(errno));
        code = EXIT_FAILED;
    }
out:
    sb_release(&out);
    json_decref(rows);
    columns_release(&cols);
    report_order_release(&order);
    store_trials_free(t, n);
    store_sweep_free(sw);
    store_close(st);
    workspace_release(&ws);
    return code;
}
