/*
 * metrics.c - collect a trial attempt's metrics from its output, its metrics
 * file and W&B's summary; see metrics.h for the sources and invariants.
 *
 * The default output parser is hand-written rather than a regex: it runs on
 * every line a trial prints, and it must accept "name=value" and
 * "name: value" anywhere in a line while refusing look-alikes ("--lr=0.1"
 * echoed arguments, "http://host:80", "9897/10000", "45.2it/s").
 */
#include "util/common.h"

#include "agent/metrics.h"
#include "spec/spec.h"
#include "util/text.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <sys/stat.h>

#define SUMMARY_MAX ((size_t)16 << 20)
#define FLATTEN_DEPTH 4

struct metrics_pattern {
    bool custom;
    regex_t re;
};

struct metrics {
    const metrics_pattern *pattern;
    json_t *rows;      /* array of row objects not yet taken */
    json_t *final;     /* name -> last value */
    json_t *seen;      /* name -> how many values of it this attempt reported */
    char *bad_name;    /* the first metric name dropped and not yet reported */
    bool bad_reported; /* one warning per attempt */
    /* metrics_watch */
    char *watch;
    char *const *keep; /* metrics_keep: borrowed */
    size_t nkeep;
    metrics_watch_fn *watch_fn;
    void *watch_ud;
    bool garbage_due, garbage_reported; /* the watched metric was not a number */
    /* the bounds on rows (METRICS_MAX_ROWS, METRICS_MAX_PENDING) */
    uint64_t rows_total;   /* rows kept this attempt */
    uint64_t rows_dropped; /* rows dropped over a bound */
    bool drop_due, drop_reported;
};

int metrics_pattern_new(metrics_pattern **out, const char *ere)
{
    *out = NULL;
    metrics_pattern *p = xcalloc(1, sizeof *p);
    if (ere && *ere) {
        int rc = regcomp(&p->re, ere, REG_EXTENDED);
        if (rc) {
            char why[256];
            regerror(rc, &p->re, why, sizeof why);
            free(p);
            return sq_error_set(SQ_EINVAL, "invalid metrics pattern '%s': %s", ere, why);
        }
        if (p->re.re_nsub < 2) {
            regfree(&p->re);
            free(p);
            return sq_error_set(SQ_EINVAL,
                                "invalid metrics pattern '%s': it needs two groups, "
                                "(name) and (value), as in '([a-z_]+)=([-0-9.e]+)'",
                                ere);
        }
        p->custom = true;
    }
    *out = p;
    return 0;
}

void metrics_pattern_free(metrics_pattern *p)
{
    if (!p)
        return;
    if (p->custom)
        regfree(&p->re);
    free(p);
}

metrics *metrics_new(const metrics_pattern *p)
{
    metrics *m = xcalloc(1, sizeof *m);
    m->pattern = p;
    m->rows = json_array();
    m->final = json_object();
    m->seen = json_object();
    if (!m->rows || !m->final || !m->seen)
        SQ_BUG("out of memory in jansson");
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    json_decref(m->rows);
    json_decref(m->final);
    json_decref(m->seen);
    free(m->bad_name);
    free(m->watch);
    free(m);
}

void metrics_watch(metrics *m, const char *name, metrics_watch_fn *fn, void *ud)
{
    free(m->watch);
    m->watch = xstrdup(name);
    m->watch_fn = fn;
    m->watch_ud = ud;
}

void metrics_keep(metrics *m, char *const *names, size_t n)
{
    m->keep = names;
    m->nkeep = n;
}

/* Whether an output line's metric `name` is recorded: all of them unless a
 * metric is watched (or a custom pattern chose them); else the watched one
 * and those metrics_keep named. */
static bool wanted_from_output(const metrics *m, const char *name)
{
    if (!m->watch || (m->pattern && m->pattern->custom) || strcmp(name, m->watch) == 0)
        return true;
    for (size_t i = 0; i < m->nkeep; i++)
        if (strcmp(name, m->keep[i]) == 0)
            return true;
    return false;
}

char *metrics_take_warning(metrics *m)
{
    if (m->garbage_due) {
        m->garbage_due = false;
        m->garbage_reported = true;
        return xasprintf("metric '%s' reported a value that is not a finite number; such "
                         "values are ignored (not recorded, never a reason to stop the trial; "
                         "further ones of this attempt are ignored silently)",
                         m->watch);
    }
    if (m->drop_due) {
        m->drop_due = false;
        m->drop_reported = true;
        return xasprintf("the trial reports metrics faster than they are kept: more than %d "
                         "rows waiting or %d rows in this attempt; the excess is dropped (the "
                         "final values are still kept); report fewer values, e.g. once per "
                         "epoch, or name the ones to keep in the spec's metric",
                         METRICS_MAX_PENDING, METRICS_MAX_ROWS);
    }
    if (!m->bad_name)
        return NULL;
    char *text = xasprintf("metric name '%s' dropped: a name must be 1 to %d bytes of UTF-8 "
                           "without quotes, backslashes or control characters (further bad "
                           "names of this attempt are dropped silently)",
                           m->bad_name, METRICS_MAX_NAME);
    free(m->bad_name);
    m->bad_name = NULL;
    m->bad_reported = true;
    return text;
}

/* ---- values --------------------------------------------------------------- */

/* A number's JSON value: an integer when the text is one, else a real.
 * NULL when the text is not entirely a finite number. */
static json_t *number_value(const char *s, size_t n)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    bool integral = !strpbrk(buf, ".eE");
    char *end;
    errno = 0;
    if (integral) {
        long long v = strtoll(buf, &end, 10);
        if (!errno && *end == '\0' && end != buf)
            return json_integer(v);
        errno = 0;
    }
    double d = strtod(buf, &end);
    if (end == buf || *end != '\0' || !isfinite(d) || errno == ERANGE)
        return NULL;
    /* strtod also reads "nan", "inf" and hex: only plain decimals here. */
    for (const char *c = buf; *c; c++)
        if (!isdigit((unsigned char)*c) && !strchr("+-.eE", *c))
            return NULL;
    return json_real(d);
}

/* Whether name may be kept; the first one that may not is remembered for
 * metrics_take_warning. */
static bool name_ok(metrics *m, const char *name)
{
    if (text_is_metric_name(name, METRICS_MAX_NAME))
        return true;
    if (!m->bad_name && !m->bad_reported)
        m->bad_name = text_printable_str(name);
    return false;
}

/* The names that give a row its step instead of being metrics, strongest
 * first: a JSON line's "step", W&B's "_step", then "epoch". */
static const char *const step_names[] = {"step", "_step", "epoch"};

static int step_rank(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(step_names); i++)
        if (strcmp(name, step_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Puts name=value (a reference it takes) into row and the final values.
 * A step name sets the row's step (kept under "\x01rank" until
 * commit_row). From output lines (from_output) with a watched metric, only
 * that metric and "step" are kept: the spec named what it wants. */
static void put(metrics *m, json_t *row, const char *name, json_t *value, bool from_output)
{
    if (!name_ok(m, name)) {
        json_decref(value);
        return;
    }
    int rank = step_rank(name);
    if (from_output && rank > 0)
        rank = -1; /* in output, only "step=" is a step */
    if (rank >= 0) {
        char key[] = {'\x01', (char)('0' + rank), '\0'};
        json_object_set_new(row, key, value);
        return;
    }
    if (from_output && !wanted_from_output(m, name)) {
        json_decref(value);
        return;
    }
    if (!json_object_get(m->final, name) && json_object_size(m->final) >= METRICS_MAX_NAMES) {
        json_decref(value);
        return;
    }
    json_object_set(m->final, name, value);
    json_object_set_new(row, name, value);
}

/* The row's explicit step (the strongest step name it holds that is a
 * whole number >= 0); false when it has none. */
static bool row_step(const json_t *row, uint64_t *step)
{
    for (size_t i = 0; i < ARRAY_SIZE(step_names); i++) {
        char key[] = {'\x01', (char)('0' + i), '\0'};
        const json_t *v = json_object_get(row, key);
        double d = json_number_value(v);
        if (v && d >= 0 && d == trunc(d) && d < 9007199254740992.0) {
            *step = (uint64_t)d;
            return true;
        }
    }
    return false;
}

/* Whether one more row may be queued; counts a dropped one when not. */
static bool row_room(metrics *m)
{
    if (json_array_size(m->rows) < METRICS_MAX_PENDING && m->rows_total < METRICS_MAX_ROWS)
        return true;
    m->rows_dropped++;
    if (!m->drop_reported)
        m->drop_due = true;
    return false;
}

/* Queues one row of the store (row_room said there is room). */
static void queue_row(metrics *m, json_t *r)
{
    m->rows_total++;
    json_array_append_new(m->rows, r);
}

/*
 * Turns a parsed row into the store's rows, each with a step: with an
 * explicit step, one row of all its metrics at that step; without one, a
 * row per metric at the n-th value of that metric this attempt (n counts
 * every value, also those with an explicit step). The watched metric's
 * values go to the watcher. Returns the number of metrics in row.
 */
static size_t commit_row(metrics *m, json_t *row)
{
    uint64_t explicit_step = 0;
    bool has_step = row_step(row, &explicit_step);
    json_t *together = has_step ? json_pack("{sI}", "step", (json_int_t)explicit_step) : NULL;
    size_t values = 0;
    const char *name;
    json_t *v;
    json_object_foreach(row, name, v)
    {
        if (name[0] == '\x01')
            continue;
        values++;
        json_t *count = json_object_get(m->seen, name);
        uint64_t n = (count ? (uint64_t)json_integer_value(count) : 0) + 1;
        if (count || json_object_size(m->seen) < METRICS_MAX_NAMES)
            json_object_set_new(m->seen, name, json_integer((json_int_t)n));
        uint64_t step = has_step ? explicit_step : n;
        if (together)
            json_object_set(together, name, v);
        else if (row_room(m)) /* no row built past the bounds: a flood stays cheap */
            queue_row(m, json_pack("{sIsO}", "step", (json_int_t)step, name, v));
        if (m->watch_fn && strcmp(name, m->watch) == 0)
            m->watch_fn(step, json_number_value(v), m->watch_ud);
    }
    if (together && values && row_room(m))
        queue_row(m, together);
    else
        json_decref(together);
    json_decref(row);
    return values;
}

/* The watched metric was given something that is not a finite number. */
static void note_garbage(metrics *m, const char *name, size_t len)
{
    if (m->watch && !m->garbage_reported && strlen(m->watch) == len &&
        memcmp(m->watch, name, len) == 0)
        m->garbage_due = true;
}

/* ---- output lines ----------------------------------------------------------- */

static bool name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '/' || c == '-';
}

static bool boundary_before(char c)
{
    return c == ' ' || c == '\t' || strchr(",;([{|<'\"", c) != NULL;
}

static bool boundary_after(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || strchr(",;)]}|>%'\"", c) != NULL;
}

/* Length of a decimal number at s ([+-]digits[.digits][e[+-]digits] or
 * [+-].digits...), 0 if there is none. */
static size_t number_len(const char *s)
{
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (isdigit((unsigned char)s[i]))
        i++, digits++;
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i]))
            i++, digits++;
    }
    if (!digits)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (isdigit((unsigned char)s[j])) {
            while (isdigit((unsigned char)s[j]))
                j++;
            i = j;
        }
    }
    return i;
}

static size_t parse_default(metrics *m, json_t *row, const char *line, size_t len)
{
    size_t found = 0;
    size_t i = 0;
    while (i < len) {
        if (!name_start(line[i]) || (i > 0 && !boundary_before(line[i - 1]))) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && name_char(line[j]))
            j++;
        size_t name_len = j - i;
        size_t k = j;
        while (k < len && line[k] == ' ')
            k++;
        if (k >= len || (line[k] != '=' && line[k] != ':') ||
            (line[k] == ':' && (line[k + 1] == ':' || line[k + 1] == '/'))) {
            i = j;
            continue;
        }
        k++;
        while (k < len && line[k] == ' ')
            k++;
        size_t nl = number_len(line + k);
        json_t *v = NULL;
        if (nl && boundary_after(line[k + nl]) && name_len <= METRICS_MAX_NAME)
            v = number_value(line + k, nl);
        if (!v) {
            if (nl || (k < len && isalpha((unsigned char)line[k])))
                note_garbage(m, line + i, name_len); /* "loss=nan", "loss: inf" */
            i = j;
            continue;
        }
        char name[METRICS_MAX_NAME + 1];
        memcpy(name, line + i, name_len);
        name[name_len] = '\0';
        put(m, row, name, v, true);
        found++;
        i = k + nl;
    }
    return found;
}

static size_t parse_custom(metrics *m, json_t *row, const char *line)
{
    size_t found = 0;
    const char *p = line;
    int flags = 0;
    regmatch_t g[3];
    while (*p && regexec(&m->pattern->re, p, 3, g, flags) == 0) {
        if (g[0].rm_eo == 0) /* an empty match would loop for ever */
            break;
        if (g[1].rm_so >= 0 && g[2].rm_so >= 0) {
            size_t name_len = (size_t)(g[1].rm_eo - g[1].rm_so);
            const char *vs = p + g[2].rm_so;
            size_t vlen = (size_t)(g[2].rm_eo - g[2].rm_so);
            while (vlen && isspace((unsigned char)*vs))
                vs++, vlen--;
            json_t *v = NULL;
            if (name_len && name_len <= METRICS_MAX_NAME)
                v = number_value(vs, vlen);
            if (v) {
                char name[METRICS_MAX_NAME + 1];
                memcpy(name, p + g[1].rm_so, name_len);
                name[name_len] = '\0';
                put(m, row, name, v, true);
                found++;
            }
        }
        p += g[0].rm_eo;
        flags = REG_NOTBOL;
    }
    return found;
}

size_t metrics_add_output_line(metrics *m, const char *line, size_t len)
{
    /* Cheap rejection first: every match needs a separator. */
    if (!m->pattern || !m->pattern->custom) {
        if (!memchr(line, '=', len) && !memchr(line, ':', len))
            return 0;
    }
    json_t *row = json_object();
    if (m->pattern && m->pattern->custom)
        parse_custom(m, row, line);
    else
        parse_default(m, row, line, len);
    return commit_row(m, row);
}

/* ---- JSON sources ----------------------------------------------------------- */

/* Copies the numeric values of obj into row (or only into the final values
 * when row is NULL), with dotted names for nested objects. */
static void flatten(metrics *m, json_t *row, const char *prefix, json_t *obj, int depth,
                    bool skip_private)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (skip_private && key[0] == '_')
            continue;
        char *name = prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
        if (strlen(name) <= METRICS_MAX_NAME) {
            if (json_is_integer(v) || (json_is_real(v) && isfinite(json_real_value(v)))) {
                if (row) {
                    put(m, row, name, json_copy(v), false);
                } else if (strcmp(name, "step") != 0 && name_ok(m, name) &&
                           (json_object_get(m->final, name) ||
                            json_object_size(m->final) < METRICS_MAX_NAMES)) {
                    json_object_set(m->final, name, v);
                }
            } else if (row && !json_is_object(v)) {
                note_garbage(m, name, strlen(name)); /* a string, a bool, null */
            } else if (json_is_object(v) && depth < FLATTEN_DEPTH &&
                       !(skip_private && json_object_get(v, "_type"))) {
                /* W&B media and histograms carry "_type": not metrics. */
                flatten(m, row, name, v, depth + 1, skip_private);
            }
        }
        free(name);
    }
}

int metrics_add_json_line(metrics *m, const char *line, size_t len)
{
    json_t *obj = json_loadb(line, len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return sq_error_set(SQ_EINVAL, "a metrics line is not a JSON object");
    }
    json_t *row = json_object();
    flatten(m, row, NULL, obj, 0, false);
    commit_row(m, row);
    json_decref(obj);
    return 0;
}

int metrics_add_summary(metrics *m, const char *text, size_t len)
{
    json_t *obj = json_loadb(text, len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return sq_error_set(SQ_EINVAL, "wandb-summary.json is not a JSON object");
    }
    flatten(m, NULL, NULL, obj, 0, true);
    json_decref(obj);
    return 0;
}

int metrics_read_wandb_summary(metrics *m, const char *trial_dir)
{
    char *wandb = xasprintf("%s/wandb", trial_dir);
    DIR *d = opendir(wandb);
    char *best = NULL;
    int rc = 0;
    if (!d) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = sq_error_set(SQ_EIO, "cannot read '%s': %s", wandb, strerror(errno));
        goto out;
    }
    struct timespec best_time = {0, 0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "run-", 4) != 0 && strncmp(e->d_name, "offline-run-", 12) != 0)
            continue;
        char *path = xasprintf("%s/%s/files/wandb-summary.json", wandb, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (!best || st.st_mtim.tv_sec > best_time.tv_sec ||
             (st.st_mtim.tv_sec == best_time.tv_sec && st.st_mtim.tv_nsec > best_time.tv_nsec))) {
            free(best);
            best = path;
            best_time = st.st_mtim;
        } else {
            free(path);
        }
    }
    closedir(d);
    if (best) {
        strbuf sb;
        sb_init(&sb, SUMMARY_MAX);
        if (sb_read_file(&sb, best) == 0)
            metrics_add_summary(m, sb.buf ? sb.buf : "", sb.len);
        else
            rc = sq_error_set(SQ_EIO, "cannot read '%s': %s", best, sq_error_msg());
        sb_release(&sb);
    }
out:
    free(best);
    free(wandb);
    return rc;
}

/* ---- results ----------------------------------------------------------------- */

size_t metrics_pending(const metrics *m)
{
    return json_array_size(m->rows);
}

char *metrics_take_rows(metrics *m)
{
    if (json_array_size(m->rows) == 0)
        return NULL;
    char *text = spec_json_compact(m->rows, false);
    json_array_clear(m->rows);
    return text;
}

char *metrics_final_json(const metrics *m)
{
    if (json_object_size(m->final) == 0)
        return NULL;
    return spec_json_compact(m->final, false);
}
