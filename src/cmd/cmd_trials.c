/*
 * cmd_trials.c - `sweepq trials SWEEP`: the trials of a sweep, one row each
 * (number, state, attempts, duration, parameters, final metrics), filtered
 * by state, sorted by a metric, cut to the first K.
 *
 * Columns fit the terminal: one column per parameter and per metric when
 * the table fits (or when the output is not a terminal, for tools), else
 * two columns of "name=value" pairs, the last one clipped.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "cmd/report.h"

static const sq_usage usage = {
    "trials",
    "[options] SWEEP",
    "list a sweep's trials: number, state, attempts, duration, parameters, metrics",
    "STATE is one of pending, running, succeeded, failed, cancelled. --sort takes\n"
    "the name of a final metric; trials without it come last.",
    true,
};

typedef struct names {
    char **items;
    size_t n, cap;
} names;

static void names_add(names *ns, const char *name)
{
    for (size_t i = 0; i < ns->n; i++)
        if (!strcmp(ns->items[i], name))
            return;
    XGROW(ns->items, ns->cap, ns->n + 1);
    ns->items[ns->n++] = xstrdup(name);
}

static void names_release(names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->items[i]);
    free(ns->items);
}

/* Adds the keys of every row's object (params or metrics) in first-seen order. */
static void collect_keys(names *ns, json_t **objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(objs[i], k, v) names_add(ns, k);
    }
}

/* One JSON value as a table cell: strings bare, numbers shortest. */
static void add_cell(report_table *t, json_t *v)
{
    char num[40];
    if (!v || json_is_null(v))
        report_table_add(t, "-");
    else if (json_is_string(v))
        report_table_add(t, json_string_value(v));
    else if (json_is_real(v))
        report_table_add(t, report_number(json_real_value(v), num, sizeof num));
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        report_table_add(t, s);
        free(s);
    }
}

/* The table with one column per parameter and metric (wide) or two
 * "name=value" columns (narrow). */
static report_table *build_table(const store_trial *tr, size_t n, json_t **params, json_t **metrics,
                                 const names *pn, const names *mn, bool wide, double now)
{
    size_t ncols = 4 + (wide ? pn->n + mn->n : 2);
    const char **headers = xcalloc(ncols, sizeof *headers);
    headers[0] = "trial";
    headers[1] = "state";
    headers[2] = "attempts";
    headers[3] = "duration";
    if (wide) {
        for (size_t i = 0; i < pn->n; i++)
            headers[4 + i] = pn->items[i];
        for (size_t i = 0; i < mn->n; i++)
            headers[4 + pn->n + i] = mn->items[i];
    } else {
        headers[4] = "params";
        headers[5] = "metrics";
    }
    report_table *t = report_table_new(ncols, headers);
    free(headers);
    report_table_align_right(t, 0);
    report_table_align_right(t, 2);
    report_table_align_right(t, 3);
    for (size_t c = 4 + pn->n; wide && c < ncols; c++)
        report_table_align_right(t, c);
    for (size_t i = 0; i < n; i++) {
        char dur[32];
        report_table_addf(t, "%llu", (unsigned long long)tr[i].number);
        if (tr[i].state == TRIAL_STOPPED && tr[i].stopped_step) /* where it was stopped */
            report_table_addf(t, "stopped@%llu", (unsigned long long)tr[i].stopped_step);
        else
            report_table_add(t, trial_state_name(tr[i].state));
        report_table_addf(t, "%d", tr[i].attempt);
        report_table_add(t, report_duration(report_trial_duration(&tr[i], now), dur, sizeof dur));
        if (wide) {
            for (size_t k = 0; k < pn->n; k++)
                add_cell(t, json_object_get(params[i], pn->items[k]));
            for (size_t k = 0; k < mn->n; k++)
                add_cell(t, json_object_get(metrics[i], mn->items[k]));
        } else {
            char *p = report_kv_brief(tr[i].params_json);
            char *m = report_kv_brief(tr[i].metrics_json);
            report_table_add(t, p);
            report_table_add(t, m);
            free(p);
            free(m);
        }
    }
    return t;
}

static json_t *load_object(const char *text)
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    if (json_is_object(o))
        return o;
    json_decref(o);
    return json_object();
}

static void print_table(FILE *f, const store_sweep *sw, const store_trial *tr, size_t n, double now)
{
    json_t **params = xcalloc(n ? n : 1, sizeof *params);
    json_t **metrics = xcalloc(n ? n : 1, sizeof *metrics);
    for (size_t i = 0; i < n; i++) {
        params[i] = load_object(tr[i].params_json);
        metrics[i] = load_object(tr[i].metrics_json);
    }
    names pn = {0}, mn = {0};
    collect_keys(&pn, params, n);
    report_order order;
    report_order_load(&order, sw);
    report_order_sort(&order, (const char **)pn.items, pn.n);
    report_order_release(&order);
    collect_keys(&mn, metrics, n);
    int width = report_term_width(f);
    report_table *t = build_table(tr, n, params, metrics, &pn, &mn, true, now);
    if (width > 0 && report_table_width(t) > width) {
        report_table_free(t);
        t = build_table(tr, n, params, metrics, &pn, &mn, false, now);
    }
    report_table_print(f, t, width);
    report_table_free(t);
    for (size_t i = 0; i < n; i++) {
        json_decref(params[i]);
        json_decref(metrics[i]);
    }
    free(params);
    free(metrics);
    names_release(&pn);
    names_release(&mn);
}

int cmd_trials(int argc, char **argv)
{
    const char *state_name = NULL, *sort = NULL;
    bool desc = false;
    int limit = 0;
    const sq_option opts[] = {
        OPT_STRING('s', "state", &state_name, "STATE", "only trials in this state"),
        OPT_STRING(0, "sort", &sort, "METRIC", "sort by this final metric (ascending)"),
        OPT_BOOL(0, "desc", &desc, "sort descending"),
        OPT_INT('n', "limit", &limit, "K", "show at most K trials"),
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
    trial_state state = TRIAL_PENDING;
    if (state_name && trial_state_parse(state_name, &state))
        return options_usage_error(&usage,
                                   "unknown state '%s'; use pending, running, succeeded, failed, "
                                   "cancelled or stopped",
                                   state_name);
    if (limit < 0)
        return options_usage_error(&usage, "option '-n' expects a count >= 0, not %d", limit);

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *sw = NULL;
    store_trial *tr = NULL;
    size_t n = 0;
    int code = open_store(&ws, &st, &g);
    if (code)
        return code;
    code = open_store_sweep(st, argv[0], &sw);
    if (code)
        goto out;
    store_trial_query q = {
        .sweep = argv[0],
        .state = state_name ? (int)state : -1,
        .sort_metric = sort,
        .descending = desc,
        .limit = (size_t)limit,
    };
    rc = store_list_trials(st, &q, &tr, &n);
    if (rc) {
        code = open_store_fail(rc, "list the trials of sweep '%s'", argv[0]);
        goto out;
    }
    double now = store_now(st);
    if (g.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, report_trial_json(&tr[i], now));
        report_json_print(stdout, arr);
    } else if (n == 0) {
        printf("no %s%strials in sweep '%s'\n", state_name ? state_name : "", state_name ? " " : "",
               argv[0]);
    } else {
        print_table(stdout, sw, tr, n, now);
    }
out:
    store_trials_free(tr, n);
    store_sweep_free(sw);
    store_close(st);
    workspace_release(&ws);
    return code;
}
