/*
 * cmd_import.c - `sweepq import SWEEP FILE.csv`: mark the pending trials
 * whose parameters match a row of a results CSV written before sweepq (as
 * seed 001's final_results.csv) as succeeded, with the row's other numeric
 * columns as their metrics, so those experiments are not run again.
 *
 * Matching: a trial's parameter names are CSV column names; a row matches
 * when every parameter's value equals the cell by meaning, not by text:
 * numbers compare as numbers (to 12 significant digits, so "0.001" matches
 * 1e-3 and 0.1 written by float32 tools still matches), booleans as
 * true/false in any case, null as an empty cell or None/null, lists and
 * objects as JSON. Each value, trial or cell, is reduced to one normal form
 * (norm_text / norm_json) and compared as strings, so a row is found by
 * binary search over the trials' keys: O((rows + trials) log trials).
 *
 * Metrics are the row's numeric cells outside the parameter columns; with
 * --metric-prefix P only the columns starting with P, with P removed. A file
 * written by `sweepq export` is recognized by its metric.* columns.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <strings.h>

#define CSV_MAX_BYTES ((size_t)1 << 30)

static const sq_usage usage = {
    "import",
    "[options] SWEEP FILE.csv",
    "mark pending trials found in a results CSV as succeeded, with its metrics",
    "The CSV's header names the columns. A trial matches a row when each of its\n"
    "parameters (by dotted name) has a column whose value means the same\n"
    "(\"0.001\" matches 1e-3, \"True\" matches true). The row's other numeric\n"
    "columns become the trial's metrics; with --metric-prefix P only columns\n"
    "named P..., with P removed. A file from 'sweepq export' needs no option.",
    false,
};

/* ---- CSV (RFC 4180, plus LF line ends and a UTF-8 BOM) ------------------- */

typedef struct csv_row {
    char **cells;
    size_t n, cap;
    int line; /* where the row starts, 1-based */
} csv_row;

typedef struct csv {
    csv_row *rows; /* rows[0] is the header */
    size_t n, cap;
} csv;

static void csv_release(csv *c)
{
    for (size_t i = 0; i < c->n; i++) {
        for (size_t k = 0; k < c->rows[i].n; k++)
            free(c->rows[i].cells[k]);
        free(c->rows[i].cells);
    }
    free(c->rows);
}

static void row_add(csv_row *r, strbuf *cell)
{
    XGROW(r->cells, r->cap, r->n + 1);
    r->cells[r->n++] = sb_detach(cell);
}

/* Parses text into rows; skips blank lines. SQ_EINVAL on a stray quote. */
static int csv_parse(csv *out, const char *text, size_t len, const char *path)
{
    size_t i = 0;
    int line = 1;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        i = 3;
    while (i < len) {
        if (text[i] == '\n' || text[i] == '\r') { /* a blank line */
            line += text[i] == '\n';
            i++;
            continue;
        }
        csv_row row = {.line = line};
        strbuf cell = SB_INIT;
        for (;;) {
            if (i < len && text[i] == '"') {
                int start = line;
                for (i++;; i++) {
                    if (i >= len) {
                        sb_release(&cell);
                        for (size_t k = 0; k < row.n; k++)
                            free(row.cells[k]);
                        free(row.cells);
                        return sq_error_set(SQ_EINVAL, "%s:%d: a quoted field is never closed",
                                            path, start);
                    }
                    if (text[i] == '"' && i + 1 < len && text[i + 1] == '"') {
                        sb_addc(&cell, '"');
                        i++;
                    } else if (text[i] == '"') {
                        i++;
                        break;
                    } else {
                        line += text[i] == '\n';
                        sb_addc(&cell, text[i]);
                    }
                }
            }
            while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
                sb_addc(&cell, text[i++]);
            row_add(&row, &cell);
            if (i < len && text[i] == ',') {
                i++;
                continue;
            }
            if (i < len && text[i] == '\r')
                i++;
            if (i < len && text[i] == '\n') {
                i++;
                line++;
            }
            break;
        }
        XGROW(out->rows, out->cap, out->n + 1);
        out->rows[out->n++] = row;
    }
    return 0;
}

/* ---- normal forms ------------------------------------------------------- */

/* text parses entirely as a finite number into *v (surrounding blanks ok). */
static bool parse_number(const char *text, double *v)
{
    char *end;
    errno = 0;
    while (*text == ' ' || *text == '\t')
        text++;
    if (!*text)
        return false;
    *v = strtod(text, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    return end != text && !*end && !errno && isfinite(*v);
}

static void norm_number(strbuf *sb, double v)
{
    if (v == 0)
        v = 0; /* -0 and 0 are one value */
    sb_addf(sb, "n:%.12g", v);
}

static void norm_json(strbuf *sb, const json_t *v);

/* The normal form of a cell's text (also used for string parameters, so a
 * string "1e-3" and a cell "0.001" agree). */
static void norm_text(strbuf *sb, const char *text)
{
    double d;
    if (parse_number(text, &d)) {
        norm_number(sb, d);
    } else if (!strcasecmp(text, "true") || !strcasecmp(text, "false")) {
        sb_adds(sb, strcasecmp(text, "true") ? "b:0" : "b:1");
    } else if (!*text || !strcmp(text, "None") || !strcmp(text, "null")) {
        sb_adds(sb, "z:");
    } else if (text[0] == '[' || text[0] == '{') {
        json_t *j = json_loads(text, 0, NULL);
        if (j)
            norm_json(sb, j);
        else
            sb_addf(sb, "s:%s", text);
        json_decref(j);
    } else {
        sb_addf(sb, "s:%s", text);
    }
}

static void norm_json(strbuf *sb, const json_t *v)
{
    if (json_is_number(v)) {
        norm_number(sb, json_number_value(v));
    } else if (json_is_boolean(v)) {
        sb_adds(sb, json_is_true(v) ? "b:1" : "b:0");
    } else if (!v || json_is_null(v)) {
        sb_adds(sb, "z:");
    } else if (json_is_string(v)) {
        norm_text(sb, json_string_value(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        sb_adds(sb, "a:[");
        json_array_foreach(v, i, item)
        {
            norm_json(sb, item);
            sb_addc(sb, '\x1e');
        }
        sb_addc(sb, ']');
    } else {
        const char *k;
        json_t *item;
        /* Keys in sorted order: json_dumps with JSON_SORT_KEYS would not
         * normalize the numbers inside. */
        json_t *keys = json_array();
        json_object_foreach((json_t *)v, k, item) json_array_append_new(keys, json_string(k));
        size_t nk = json_array_size(keys);
        const char **sorted = xcalloc(nk ? nk : 1, sizeof *sorted);
        for (size_t i = 0; i < nk; i++)
            sorted[i] = json_string_value(json_array_get(keys, i));
        for (size_t i = 1; i < nk; i++) /* insertion sort: objects are small */
            for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
                const char *t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        sb_adds(sb, "o:{");
        for (size_t i = 0; i < nk; i++) {
            sb_addf(sb, "%s=", sorted[i]);
            norm_json(sb, json_object_get(v, sorted[i]));
            sb_addc(sb, '\x1e');
        }
        sb_addc(sb, '}');
        free(sorted);
        json_decref(keys);
    }
}

/* ---- matching ---------------------------------------------------------- */

typedef struct keyed {
    char *key;    /* the normal forms of the parameters, in `names` order */
    size_t trial; /* index into the trials */
} keyed;

static int compare_keyed(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct import_plan {
    const char **names; /* parameter names, sorted */
    size_t nnames;
    int *param_col; /* CSV column of each name */
    bool *is_param; /* per CSV column */
    keyed *keys;    /* one per trial, sorted by key */
    size_t ntrials;
} import_plan;

static void plan_release(import_plan *p)
{
    for (size_t i = 0; i < p->ntrials; i++)
        free(p->keys[i].key);
    free(p->keys);
    free(p->names);
    free(p->param_col);
    free(p->is_param);
}

/* The parameter names of every trial (their union), sorted. */
static void collect_names(import_plan *p, json_t **params, size_t n)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(params[i], k, v)
        {
            bool seen = false;
            for (size_t j = 0; j < p->nnames && !seen; j++)
                seen = !strcmp(p->names[j], k);
            if (!seen) {
                XGROW(p->names, cap, p->nnames + 1);
                p->names[p->nnames++] = k;
            }
        }
    }
    if (p->nnames)
        qsort(p->names, p->nnames, sizeof *p->names, compare_strings);
}

/* Maps each parameter name to its CSV column; SQ_EINVAL naming the ones
 * the header lacks. */
static int map_columns(import_plan *p, const csv_row *header, const char *path)
{
    p->param_col = xcalloc(p->nnames ? p->nnames : 1, sizeof *p->param_col);
    p->is_param = xcalloc(header->n ? header->n : 1, sizeof *p->is_param);
    strbuf missing = SB_INIT;
    for (size_t i = 0; i < p->nnames; i++) {
        p->param_col[i] = -1;
        for (size_t c = 0; c < header->n && p->param_col[i] < 0; c++)
            if (!strcmp(header->cells[c], p->names[i])) {
                p->param_col[i] = (int)c;
                p->is_param[c] = true;
            }
        if (p->param_col[i] < 0)
            sb_addf(&missing, "%s'%s'", missing.len ? ", " : "", p->names[i]);
    }
    int rc = 0;
    if (missing.len)
        rc = sq_error_set(SQ_EINVAL,
                          "'%s' has no column for the parameter%s %s; its header must name "
                          "each parameter by its dotted name",
                          path, strchr(sb_str(&missing), ',') ? "s" : "", sb_str(&missing));
    sb_release(&missing);
    return rc;
}

/* The key of a CSV row, or NULL when it is too short to hold every
 * parameter. Caller frees. */
static char *row_key(const import_plan *p, const csv_row *row)
{
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < p->nnames; i++) {
        if ((size_t)p->param_col[i] >= row->n) {
            sb_release(&sb);
            return NULL;
        }
        norm_text(&sb, row->cells[p->param_col[i]]);
        sb_addc(&sb, '\x1f');
    }
    return sb_detach(&sb);
}

static char *trial_key(const import_plan *p, json_t *params)
{
    strbuf sb = SB_INIT;
    for (size_t i = 0; i < p->nnames; i++) {
        norm_json(&sb, json_object_get(params, p->names[i]));
        sb_addc(&sb, '\x1f');
    }
    return sb_detach(&sb);
}

/* The row's metrics as a JSON object text, or NULL when it has none. */
static char *row_metrics(const import_plan *p, const csv_row *header, const csv_row *row,
                         const char *prefix)
{
    json_t *m = json_object();
    size_t plen = prefix ? strlen(prefix) : 0;
    for (size_t c = 0; c < row->n && c < header->n; c++) {
        const char *name = header->cells[c];
        double v;
        if (p->is_param[c] || (prefix && strncmp(name, prefix, plen)))
            continue;
        name += plen;
        if (*name && parse_number(row->cells[c], &v))
            json_object_set_new(m, name, json_real(v));
    }
    char *text = json_object_size(m) ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(m);
    return text;
}

/* The prefix to use: the option, else "metric." when the header has
 * columns named so (a `sweepq export` file), else none. */
static const char *choose_prefix(const char *option, const csv_row *header)
{
    if (option)
        return *option ? option : NULL;
    for (size_t c = 0; c < header->n; c++)
        if (!strncmp(header->cells[c], "metric.", 7) && header->cells[c][7])
            return "metric.";
    return NULL;
}

int cmd_import(int argc, char **argv)
{
    const char *prefix_opt = NULL;
    bool dry_run = false;
    const sq_option opts[] = {
        OPT_STRING(0, "metric-prefix", &prefix_opt, "P",
                   "only columns named P... are metrics (P removed)"),
        OPT_BOOL('n', "dry-run", &dry_run, "report what would be imported, change nothing"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs < 2)
        return options_usage_error(&usage, nargs ? "missing FILE.csv" : "missing SWEEP and FILE");
    if (nargs > 2)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[2]);
    const char *sweep = argv[0], *path = argv[1];

    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *sw = NULL;
    store_trial *t = NULL;
    size_t n = 0;
    json_t **params = NULL;
    csv table = {0};
    strbuf text = SB_INIT;
    import_plan plan = {0};
    bool *used = NULL;
    int code = EXIT_OK;

    sb_init(&text, CSV_MAX_BYTES);
    rc = sb_read_file(&text, path);
    if (rc) {
        fprintf(stderr, "sweepq: cannot read '%s': %s\n", path, sq_error_msg());
        return rc == SQ_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAILED;
    }
    rc = csv_parse(&table, sb_str(&text), text.len, path);
    if (!rc && table.n == 0)
        rc = sq_error_set(SQ_EINVAL, "'%s' is empty; it needs a header row and result rows", path);
    if (rc) {
        fprintf(stderr, "sweepq: cannot import '%s': %s\n", path, sq_error_msg());
        code = EXIT_FAILED;
        goto out;
    }
    code = open_store(&ws, &st, &g);
    if (code)
        goto out;
    code = open_store_sweep(st, sweep, &sw);
    if (code)
        goto out;
    store_trial_query q = {.sweep = sweep, .state = -1};
    rc = store_list_trials(st, &q, &t, &n);
    if (rc) {
        code = open_store_fail(rc, "list the trials of sweep '%s'", sweep);
        goto out;
    }
    params = xcalloc(n ? n : 1, sizeof *params);
    for (size_t i = 0; i < n; i++) {
        params[i] = t[i].params_json ? json_loads(t[i].params_json, 0, NULL) : NULL;
        if (!json_is_object(params[i])) {
            json_decref(params[i]);
            params[i] = json_object();
        }
    }
    collect_names(&plan, params, n);
    const csv_row *header = &table.rows[0];
    if (plan.nnames == 0) {
        fprintf(stderr,
                "sweepq: cannot import into sweep '%s': its trials have no parameters "
                "to match\n",
                sweep);
        code = EXIT_FAILED;
        goto out;
    }
    rc = map_columns(&plan, header, path);
    if (rc) {
        fprintf(stderr, "sweepq: cannot import '%s': %s\n", path, sq_error_msg());
        code = EXIT_FAILED;
        goto out;
    }
    plan.keys = xcalloc(n ? n : 1, sizeof *plan.keys);
    plan.ntrials = n;
    for (size_t i = 0; i < n; i++)
        plan.keys[i] = (keyed){trial_key(&plan, params[i]), i};
    qsort(plan.keys, n, sizeof *plan.keys, compare_keyed);

    const char *prefix = choose_prefix(prefix_opt, header);
    used = xcalloc(n ? n : 1, sizeof *used);
    uint64_t imported = 0, unmatched = 0, already = 0, no_metrics = 0;
    for (size_t r = 1; r < table.n; r++) {
        char *key = row_key(&plan, &table.rows[r]);
        keyed probe = {key, 0};
        keyed *hit = key ? bsearch(&probe, plan.keys, n, sizeof *plan.keys, compare_keyed) : NULL;
        free(key);
        if (!hit) {
            unmatched++;
            continue;
        }
        /* Several trials may share parameters only in a random sweep that
         * drew the same values twice; take the first one still pending. */
        while (hit > plan.keys && !compare_keyed(hit - 1, hit))
            hit--;
        keyed *end = plan.keys + n;
        keyed *pick = NULL;
        for (keyed *k = hit; k < end && !compare_keyed(k, hit) && !pick; k++)
            if (!used[k->trial] && t[k->trial].state == TRIAL_PENDING)
                pick = k;
        if (!pick) {
            already++;
            continue;
        }
        char *metrics = row_metrics(&plan, header, &table.rows[r], prefix);
        if (!metrics) {
            no_metrics++;
            fprintf(stderr,
                    "sweepq: %s:%d: no numeric %s column in this row; trial %llu left "
                    "pending\n",
                    path, table.rows[r].line, prefix ? "metric" : "result",
                    (unsigned long long)t[pick->trial].number);
            continue;
        }
        used[pick->trial] = true;
        if (!dry_run) {
            rc = store_import_result(st, t[pick->trial].id, metrics);
            if (rc) {
                free(metrics);
                code = open_store_fail(rc, "import trial %llu of sweep '%s'",
                                       (unsigned long long)t[pick->trial].number, sweep);
                goto out;
            }
        }
        free(metrics);
        imported++;
    }
    printf("%s %llu trial%s of sweep '%s' from '%s' as succeeded\n",
           dry_run ? "would import" : "imported", (unsigned long long)imported,
           imported == 1 ? "" : "s", sweep, path);
    printf("%llu row%s matched no trial", (unsigned long long)unmatched, unmatched == 1 ? "" : "s");
    if (already)
        printf("; %llu matched a trial that is not pending (already run or running, or matched by "
               "an earlier row)",
               (unsigned long long)already);
    if (no_metrics)
        printf("; %llu had no metrics", (unsigned long long)no_metrics);
    printf("\n");
out:
    free(used);
    plan_release(&plan);
    for (size_t i = 0; params && i < n; i++)
        json_decref(params[i]);
    free(params);
    store_trials_free(t, n);
    store_sweep_free(sw);
    store_close(st);
    workspace_release(&ws);
    csv_release(&table);
    sb_release(&text);
    return code;
}
