/*
 * wire.c - the JSON codec of store structs for the HTTP API (see wire.h).
 *
 * Each object is one table of fields (name, kind, offset), the single source
 * of its wire form: encoding walks the table, decoding walks the table for
 * required fields and types and then the object for unknown keys. A table
 * serves owned structs (strings copied on decode) and input structs
 * (strings borrowed from the json_t) alike: the `owned` argument says which.
 *
 * Invariants:
 *   - A decoder writes its out-parameters only on success; a partly decoded
 *     element is freed with the store's own _free, which copes with NULLs.
 *   - Strings decoded as borrowed point into the json_t given.
 */
#include "util/common.h"

#include "store/wire.h"

#include <limits.h>
#include <math.h>
#include <nettle/base64.h>

/* ---- field tables ----------------------------------------------------------- */

typedef enum {
    F_STR,      /* char *, never null on the wire */
    F_STR_NULL, /* char *, null when NULL */
    F_INT,      /* int */
    F_I64,      /* int64_t */
    F_U64,      /* uint64_t (non-negative on the wire) */
    F_REAL,     /* double */
    F_BOOL,     /* bool */
    F_TRIAL_STATE,
    F_SWEEP_STATE,
    F_OUTCOME,
    F_TAGS,   /* char **at off, size_t count at off2 */
    F_COUNTS, /* store_counts */
} field_kind;

typedef struct wire_field {
    const char *name;
    field_kind kind;
    size_t off;
    size_t off2;
    bool optional; /* may be missing on decode (left zero/NULL) */
} wire_field;

#define FLD(T, name, kind)                                                                         \
    {                                                                                              \
#name, kind, offsetof(T, name), 0, false                                                   \
    }
#define OPT(T, name, kind)                                                                         \
    {                                                                                              \
#name, kind, offsetof(T, name), 0, true                                                    \
    }

static const wire_field sweep_fields[] = {
    FLD(store_sweep, id, F_I64),
    FLD(store_sweep, name, F_STR),
    FLD(store_sweep, state, F_SWEEP_STATE),
    FLD(store_sweep, spec_json, F_STR),
    FLD(store_sweep, spec_yaml, F_STR_NULL),
    FLD(store_sweep, command_json, F_STR),
    {"tags", F_TAGS, offsetof(store_sweep, tags), offsetof(store_sweep, ntags), false},
    FLD(store_sweep, metric_name, F_STR_NULL),
    FLD(store_sweep, maximize, F_BOOL),
    FLD(store_sweep, max_attempts, F_INT),
    FLD(store_sweep, lease_ttl, F_REAL),
    FLD(store_sweep, timeout, F_REAL),
    FLD(store_sweep, cpus, F_INT),
    FLD(store_sweep, gpus, F_INT),
    FLD(store_sweep, gpu_memory, F_U64),
    FLD(store_sweep, open_ended, F_BOOL),
    FLD(store_sweep, total, F_U64),
    FLD(store_sweep, next_number, F_U64),
    FLD(store_sweep, created_at, F_REAL),
    FLD(store_sweep, updated_at, F_REAL),
    FLD(store_sweep, finished_at, F_REAL),
    FLD(store_sweep, counts, F_COUNTS),
    FLD(store_sweep, completion_claimed, F_BOOL),
    {NULL, 0, 0, 0, false},
};

/* The fields a person writing a sweep by hand may leave out have defaults. */
static const wire_field sweep_def_fields[] = {
    FLD(store_sweep_def, name, F_STR),
    FLD(store_sweep_def, spec_json, F_STR),
    OPT(store_sweep_def, spec_yaml, F_STR_NULL),
    FLD(store_sweep_def, command_json, F_STR),
    {"tags", F_TAGS, offsetof(store_sweep_def, tags), offsetof(store_sweep_def, ntags), true},
    OPT(store_sweep_def, metric_name, F_STR_NULL),
    OPT(store_sweep_def, maximize, F_BOOL),
    FLD(store_sweep_def, max_attempts, F_INT),
    FLD(store_sweep_def, lease_ttl, F_REAL),
    OPT(store_sweep_def, timeout, F_REAL),
    OPT(store_sweep_def, cpus, F_INT),
    OPT(store_sweep_def, gpus, F_INT),
    OPT(store_sweep_def, gpu_memory, F_U64),
    OPT(store_sweep_def, open_ended, F_BOOL),
    OPT(store_sweep_def, total, F_U64),
    {NULL, 0, 0, 0, false},
};

static const wire_field trial_def_fields[] = {
    FLD(store_trial_def, number, F_U64),
    FLD(store_trial_def, key, F_STR),
    FLD(store_trial_def, params_json, F_STR),
    {NULL, 0, 0, 0, false},
};

static const wire_field trial_fields[] = {
    FLD(store_trial, id, F_I64),
    FLD(store_trial, sweep_id, F_I64),
    FLD(store_trial, sweep_name, F_STR),
    FLD(store_trial, number, F_U64),
    FLD(store_trial, key, F_STR),
    FLD(store_trial, params_json, F_STR),
    FLD(store_trial, state, F_TRIAL_STATE),
    FLD(store_trial, attempt, F_INT),
    FLD(store_trial, failures, F_INT),
    FLD(store_trial, agent_id, F_STR_NULL),
    FLD(store_trial, lease_expires, F_REAL),
    FLD(store_trial, created_at, F_REAL),
    FLD(store_trial, started_at, F_REAL),
    FLD(store_trial, finished_at, F_REAL),
    FLD(store_trial, exit_code, F_INT),
    FLD(store_trial, term_signal, F_INT),
    FLD(store_trial, last_outcome, F_OUTCOME),
    FLD(store_trial, error, F_STR_NULL),
    FLD(store_trial, metrics_json, F_STR),
    FLD(store_trial, cancel_requested, F_BOOL),
    OPT(store_trial, stopped_step, F_U64),
    {NULL, 0, 0, 0, false},
};

static const wire_field attempt_fields[] = {
    FLD(store_attempt, attempt, F_INT),
    FLD(store_attempt, agent_id, F_STR_NULL),
    FLD(store_attempt, started_at, F_REAL),
    FLD(store_attempt, finished_at, F_REAL),
    FLD(store_attempt, outcome, F_OUTCOME),
    FLD(store_attempt, exit_code, F_INT),
    FLD(store_attempt, term_signal, F_INT),
    FLD(store_attempt, error, F_STR_NULL),
    {NULL, 0, 0, 0, false},
};

static const wire_field agent_info_fields[] = {
    FLD(store_agent_info, id, F_STR),
    FLD(store_agent_info, host, F_STR),
    FLD(store_agent_info, pid, F_INT),
    FLD(store_agent_info, slots, F_INT),
    OPT(store_agent_info, gpus_json, F_STR_NULL),
    OPT(store_agent_info, version, F_STR_NULL),
    {NULL, 0, 0, 0, false},
};

static const wire_field agent_fields[] = {
    FLD(store_agent, id, F_STR),
    FLD(store_agent, host, F_STR),
    FLD(store_agent, pid, F_INT),
    FLD(store_agent, slots, F_INT),
    FLD(store_agent, running, F_INT),
    FLD(store_agent, gpus_json, F_STR_NULL),
    FLD(store_agent, version, F_STR_NULL),
    FLD(store_agent, started_at, F_REAL),
    FLD(store_agent, last_seen, F_REAL),
    FLD(store_agent, alive, F_BOOL),
    {NULL, 0, 0, 0, false},
};

static const wire_field claim_fields[] = {
    FLD(store_claimed, trial_id, F_I64),       FLD(store_claimed, sweep_id, F_I64),
    FLD(store_claimed, number, F_U64),         FLD(store_claimed, attempt, F_INT),
    FLD(store_claimed, failures, F_INT),       FLD(store_claimed, resume, F_BOOL),
    FLD(store_claimed, params_json, F_STR),    FLD(store_claimed, key, F_STR),
    FLD(store_claimed, lease_expires, F_REAL), {NULL, 0, 0, 0, false},
};

static const wire_field lease_fields[] = {
    FLD(store_lease, trial_id, F_I64),
    FLD(store_lease, attempt, F_INT),
    FLD(store_lease, lost, F_BOOL),
    FLD(store_lease, cancel, F_BOOL),
    {NULL, 0, 0, 0, false},
};

static const wire_field finish_fields[] = {
    FLD(store_result, outcome, F_OUTCOME),
    FLD(store_result, exit_code, F_INT),
    FLD(store_result, term_signal, F_INT),
    OPT(store_result, error, F_STR_NULL),
    OPT(store_result, metrics_json, F_STR_NULL),
    OPT(store_result, stopped_step, F_U64),
    {NULL, 0, 0, 0, false},
};

static const char *const count_names[] = {"pending", "running",   "succeeded",
                                          "failed",  "cancelled", "stopped"};

#define AT(base, off, T) ((T *)((char *)(base) + (off)))
#define CAT(base, off, T) ((const T *)((const char *)(base) + (off)))

/* ---- encoding ----------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Sets obj[f->name] from the struct at base. */
static void encode_field(json_t *obj, const wire_field *f, const void *base)
{
    json_t *v = NULL;
    switch (f->kind) {
    case F_STR:
        v = json_string(*CAT(base, f->off, char *) ? *CAT(base, f->off, char *) : "");
        break;
    case F_STR_NULL: v = str_or_null(*CAT(base, f->off, char *)); break;
    case F_INT: v = json_integer(*CAT(base, f->off, int)); break;
    case F_I64: v = json_integer(*CAT(base, f->off, int64_t)); break;
    case F_U64: v = json_integer((json_int_t)*CAT(base, f->off, uint64_t)); break;
    case F_REAL: v = json_real(*CAT(base, f->off, double)); break;
    case F_BOOL: v = json_boolean(*CAT(base, f->off, bool)); break;
    case F_TRIAL_STATE: v = json_string(trial_state_name(*CAT(base, f->off, trial_state))); break;
    case F_SWEEP_STATE: v = json_string(sweep_state_name(*CAT(base, f->off, sweep_state))); break;
    case F_OUTCOME:
        v = json_string(attempt_outcome_name(*CAT(base, f->off, attempt_outcome)));
        break;
    case F_TAGS: {
        const char *const *tags = *CAT(base, f->off, char **);
        size_t n = *CAT(base, f->off2, size_t);
        v = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(v, json_string(tags[i]));
        break;
    }
    case F_COUNTS: {
        const store_counts *c = CAT(base, f->off, store_counts);
        const uint64_t vals[] = {c->pending, c->running,   c->succeeded,
                                 c->failed,  c->cancelled, c->stopped};
        v = json_object();
        for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
            json_object_set_new(v, count_names[i], json_integer((json_int_t)vals[i]));
        break;
    }
    }
    if (!v) /* json_string refuses invalid UTF-8: keep the field, never drop it */
        v = json_string("\xef\xbf\xbd");
    json_object_set_new(obj, f->name, v);
}

/* Encodes the first `limit` fields (the lease request has no lost/cancel). */
static json_t *encode_fields(const wire_field *fields, const void *base, size_t limit)
{
    json_t *obj = json_object();
    for (size_t i = 0; fields[i].name && i < limit; i++)
        encode_field(obj, &fields[i], base);
    return obj;
}

#define ENCODE_ARRAY(fields, arr, n)                                                               \
    do {                                                                                           \
        json_t *a_ = json_array();                                                                 \
        for (size_t i_ = 0; i_ < (n); i_++)                                                        \
            json_array_append_new(a_, encode_fields(fields, &(arr)[i_], SIZE_MAX));                \
        return a_;                                                                                 \
    } while (0)

/* ---- decoding ----------------------------------------------------------------- */

static const char *type_name(field_kind k)
{
    switch (k) {
    case F_STR: return "a string";
    case F_STR_NULL: return "a string or null";
    case F_INT:
    case F_I64: return "an integer";
    case F_U64: return "a non-negative integer";
    case F_REAL: return "a number";
    case F_BOOL: return "a boolean";
    case F_TRIAL_STATE: return "one of pending, running, succeeded, failed, cancelled, stopped";
    case F_SWEEP_STATE: return "one of active, paused, cancelled, finished";
    case F_OUTCOME:
        return "one of none, succeeded, failed, timed_out, preempted, lost, cancelled, stopped";
    case F_TAGS: return "an array of strings";
    case F_COUNTS: return "an object of non-negative integers";
    }
    return "?";
}

static int bad_type(const char *what, const char *name, const char *expected)
{
    return sq_error_set(SQ_EINVAL, "invalid %s: field '%s' must be %s", what, name, expected);
}

static int parse_name(const char *const *names, size_t count, const char *s, int *out)
{
    for (size_t i = 0; s && i < count; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return -1;
}

/* Parses an enum value by its name function, which maps 0..count-1. */
static int parse_enum(const char *(*name_of)(int), int count, const char *s, int *out)
{
    for (int i = 0; s && i < count; i++) {
        if (strcmp(s, name_of(i)) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

static const char *trial_state_name_i(int i)
{
    return trial_state_name((trial_state)i);
}
static const char *sweep_state_name_i(int i)
{
    return sweep_state_name((sweep_state)i);
}
static const char *outcome_name_i(int i)
{
    return attempt_outcome_name((attempt_outcome)i);
}

static int decode_field(void *base, const wire_field *f, const json_t *v, const char *what,
                        bool owned)
{
    const char *name = f->name;
    switch (f->kind) {
    case F_STR:
    case F_STR_NULL: {
        if (json_is_null(v) && f->kind == F_STR_NULL)
            return 0; /* already NULL */
        if (!json_is_string(v))
            return bad_type(what, name, type_name(f->kind));
        const char *s = json_string_value(v);
        *AT(base, f->off, const char *) = owned ? xstrdup(s) : s;
        return 0;
    }
    case F_INT:
    case F_I64:
    case F_U64: {
        if (!json_is_integer(v))
            return bad_type(what, name, type_name(f->kind));
        json_int_t x = json_integer_value(v);
        if (f->kind == F_INT) {
            if (x < INT_MIN || x > INT_MAX)
                return sq_error_set(SQ_EINVAL, "invalid %s: field '%s' is out of range", what,
                                    name);
            *AT(base, f->off, int) = (int)x;
        } else if (f->kind == F_I64) {
            *AT(base, f->off, int64_t) = x;
        } else {
            if (x < 0)
                return bad_type(what, name, type_name(f->kind));
            *AT(base, f->off, uint64_t) = (uint64_t)x;
        }
        return 0;
    }
    case F_REAL:
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return bad_type(what, name, type_name(f->kind));
        *AT(base, f->off, double) = json_number_value(v);
        return 0;
    case F_BOOL:
        if (!json_is_boolean(v))
            return bad_type(what, name, type_name(f->kind));
        *AT(base, f->off, bool) = json_is_true(v);
        return 0;
    case F_TRIAL_STATE:
    case F_SWEEP_STATE:
    case F_OUTCOME: {
        const char *(*name_of)(int) = f->kind == F_TRIAL_STATE   ? trial_state_name_i
                                      : f->kind == F_SWEEP_STATE ? sweep_state_name_i
                                                                 : outcome_name_i;
        int count = f->kind == F_TRIAL_STATE   ? TRIAL_STOPPED + 1
                    : f->kind == F_SWEEP_STATE ? SWEEP_FINISHED + 1
                                               : OUTCOME_STOPPED + 1;
        int e = 0;
        if (parse_enum(name_of, count, json_string_value(v), &e) < 0)
            return bad_type(what, name, type_name(f->kind));
        /* The enums' storage is an int-sized integer type. */
        if (f->kind == F_TRIAL_STATE)
            *AT(base, f->off, trial_state) = (trial_state)e;
        else if (f->kind == F_SWEEP_STATE)
            *AT(base, f->off, sweep_state) = (sweep_state)e;
        else
            *AT(base, f->off, attempt_outcome) = (attempt_outcome)e;
        return 0;
    }
    case F_TAGS: {
        if (!json_is_array(v))
            return bad_type(what, name, type_name(f->kind));
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (!json_is_string(json_array_get(v, i)))
                return bad_type(what, name, type_name(f->kind));
        }
        const char **tags = n ? xcalloc(n, sizeof(*tags)) : NULL;
        for (size_t i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(v, i));
            tags[i] = owned ? xstrdup(s) : s;
        }
        *AT(base, f->off, const char **) = tags;
        *AT(base, f->off2, size_t) = n;
        return 0;
    }
    case F_COUNTS: {
        if (!json_is_object(v))
            return bad_type(what, name, type_name(f->kind));
        uint64_t vals[ARRAY_SIZE(count_names)] = {0};
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x)
        {
            int i = 0;
            if (parse_name(count_names, ARRAY_SIZE(count_names), key, &i) < 0)
                return sq_error_set(SQ_EINVAL, "invalid %s: unknown field '%s.%s'", what, name,
                                    key);
            if (!json_is_integer(x) || json_integer_value(x) < 0)
                return bad_type(what, name, type_name(f->kind));
            vals[i] = (uint64_t)json_integer_value(x);
        }
        store_counts *c = AT(base, f->off, store_counts);
        c->pending = vals[0];
        c->running = vals[1];
        c->succeeded = vals[2];
        c->failed = vals[3];
        c->cancelled = vals[4];
        c->stopped = vals[5];
        return 0;
    }
    }
    SQ_BUG("unknown field kind %d", (int)f->kind);
}

/* Looks name up in a table of `limit` fields (extra: more allowed keys). */
static bool known_field(const wire_field *fields, size_t limit, const char *const *extra,
                        const char *name)
{
    for (size_t i = 0; fields[i].name && i < limit; i++) {
        if (strcmp(fields[i].name, name) == 0)
            return true;
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        if (strcmp(extra[i], name) == 0)
            return true;
    }
    return false;
}

/*
 * Decodes j into the struct at base (zeroed by the caller) by the first
 * `limit` fields of the table; `extra` lists keys the caller reads itself.
 * On error, owned strings already copied stay in the struct for the
 * caller's _free.
 */
static int decode_fields(void *base, const wire_field *fields, size_t limit,
                         const char *const *extra, const json_t *j, const char *what, bool owned)
{
    if (!json_is_object(j))
        return sq_error_set(SQ_EINVAL, "invalid %s: expected a JSON object", what);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        if (!known_field(fields, limit, extra, key))
            return sq_error_set(SQ_EINVAL, "invalid %s: unknown field '%s'", what, key);
    }
    for (size_t i = 0; fields[i].name && i < limit; i++) {
        v = json_object_get(j, fields[i].name);
        if (!v) {
            if (fields[i].optional || fields[i].kind == F_STR_NULL)
                continue;
            return sq_error_set(SQ_EINVAL, "invalid %s: field '%s' is missing (%s)", what,
                                fields[i].name, type_name(fields[i].kind));
        }
        int rc = decode_field(base, &fields[i], v, what, owned);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Decodes a JSON array of objects into a new array of elem-sized structs;
 * on error frees it with free_fn (which takes the count decoded so far). */
static int decode_array(void **out, size_t *n, const json_t *arr, size_t elem,
                        const wire_field *fields, size_t limit, const char *what, bool owned,
                        void (*free_fn)(void *, size_t))
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr))
        return sq_error_set(SQ_EINVAL, "invalid %s list: expected a JSON array", what);
    size_t count = json_array_size(arr);
    char *items = count ? xcalloc(count, elem) : NULL;
    for (size_t i = 0; i < count; i++) {
        int rc = decode_fields(items + i * elem, fields, limit, NULL, json_array_get(arr, i), what,
                               owned);
        if (rc < 0) {
            free_fn(items, i + 1);
            return rc;
        }
    }
    *out = items;
    *n = count;
    return 0;
}

static void free_sweeps(void *p, size_t n)
{
    store_sweeps_free(p, n);
}
static void free_trials(void *p, size_t n)
{
    store_trials_free(p, n);
}
static void free_attempts(void *p, size_t n)
{
    store_attempts_free(p, n);
}
static void free_agents(void *p, size_t n)
{
    store_agents_free(p, n);
}
static void free_claims(void *p, size_t n)
{
    store_claims_free(p, n);
}
static void free_plain(void *p, size_t n)
{
    (void)n;
    free(p);
}

/* ---- objects ------------------------------------------------------------------ */

json_t *wire_sweep_encode(const store_sweep *s)
{
    return encode_fields(sweep_fields, s, SIZE_MAX);
}

int wire_sweep_decode(store_sweep **out, const json_t *j)
{
    *out = NULL;
    store_sweep *s = xcalloc(1, sizeof(*s));
    int rc = decode_fields(s, sweep_fields, SIZE_MAX, NULL, j, "sweep", true);
    if (rc < 0) {
        store_sweep_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

json_t *wire_sweeps_encode(const store_sweep *s, size_t n)
{
    ENCODE_ARRAY(sweep_fields, s, n);
}

int wire_sweeps_decode(store_sweep **out, size_t *n, const json_t *arr)
{
    return decode_array((void **)out, n, arr, sizeof(**out), sweep_fields, SIZE_MAX, "sweep", true,
                        free_sweeps);
}

json_t *wire_trial_defs_encode(const store_trial_def *t, size_t n)
{
    ENCODE_ARRAY(trial_def_fields, t, n);
}

int wire_trial_defs_decode(store_trial_def **out, size_t *n, const json_t *arr)
{
    return decode_array((void **)out, n, arr, sizeof(**out), trial_def_fields, SIZE_MAX,
                        "trial definition", false, free_plain);
}

json_t *wire_trial_def_encode(const store_trial_def *t)
{
    return encode_fields(trial_def_fields, t, SIZE_MAX);
}

int wire_trial_def_decode(store_trial_def *out, const json_t *j)
{
    store_trial_def t = {0};
    memset(out, 0, sizeof(*out));
    int rc = decode_fields(&t, trial_def_fields, SIZE_MAX, NULL, j, "trial definition", false);
    if (rc == 0)
        *out = t;
    return rc;
}

json_t *wire_sweep_def_encode(const store_sweep_def *d)
{
    json_t *obj = encode_fields(sweep_def_fields, d, SIZE_MAX);
    json_object_set_new(obj, "trials", wire_trial_defs_encode(d->trials, d->ntrials));
    return obj;
}

int wire_sweep_def_decode(store_sweep_def *out, const json_t *j)
{
    static const char *const extra[] = {"trials", NULL};
    store_sweep_def d = {0};
    store_trial_def *trials = NULL;
    size_t ntrials = 0;
    memset(out, 0, sizeof(*out));
    int rc = decode_fields(&d, sweep_def_fields, SIZE_MAX, extra, j, "sweep definition", false);
    const json_t *t = rc == 0 ? json_object_get(j, "trials") : NULL;
    if (rc == 0 && t)
        rc = wire_trial_defs_decode(&trials, &ntrials, t);
    if (rc < 0) {
        wire_sweep_def_release(&d);
        return rc;
    }
    d.trials = trials;
    d.ntrials = ntrials;
    *out = d;
    return 0;
}

void wire_sweep_def_release(store_sweep_def *d)
{
    free((void *)d->tags);
    free((void *)d->trials);
    d->tags = NULL;
    d->ntags = 0;
    d->trials = NULL;
    d->ntrials = 0;
}

json_t *wire_trial_encode(const store_trial *t)
{
    return encode_fields(trial_fields, t, SIZE_MAX);
}

int wire_trial_decode(store_trial **out, const json_t *j)
{
    *out = NULL;
    store_trial *t = xcalloc(1, sizeof(*t));
    int rc = decode_fields(t, trial_fields, SIZE_MAX, NULL, j, "trial", true);
    if (rc < 0) {
        store_trial_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

json_t *wire_trials_encode(const store_trial *t, size_t n)
{
    ENCODE_ARRAY(trial_fields, t, n);
}

int wire_trials_decode(store_trial **out, size_t *n, const json_t *arr)
{
    return decode_array((void **)out, n, arr, sizeof(**out), trial_fields, SIZE_MAX, "trial", true,
                        free_trials);
}

json_t *wire_attempts_encode(const store_attempt *a, size_t n)
{
    ENCODE_ARRAY(attempt_fields, a, n);
}

int wire_attempts_decode(store_attempt **out, size_t *n, const json_t *arr)
{
    return decode_array((void **)out, n, arr, sizeof(**out), attempt_fields, SIZE_MAX, "attempt",
                        true, free_attempts);
}

json_t *wire_agent_info_encode(const store_agent_info *a)
{
    return encode_fields(agent_info_fields, a, SIZE_MAX);
}

int wire_agent_info_decode(store_agent_info *out, const json_t *j)
{
    store_agent_info a = {0};
    memset(out, 0, sizeof(*out));
    int rc = decode_fields(&a, agent_info_fields, SIZE_MAX, NULL, j, "agent", false);
    if (rc == 0)
        *out = a;
    return rc;
}

json_t *wire_agents_encode(const store_agent *a, size_t n)
{
    ENCODE_ARRAY(agent_fields, a, n);
}

int wire_agents_decode(store_agent **out, size_t *n, const json_t *arr)
{
    return decode_array((void **)out, n, arr, sizeof(**out), agent_fields, SIZE_MAX, "agent", true,
                        free_agents);
}

json_t *wire_claims_encode(const store_claimed *c, size_t n)
{
    ENCODE_ARRAY(claim_fields, c, n);
}

int wire_claims_decode(store_claimed **out, size_t *n, const json_t *arr)
{
    return decode_array((void **)out, n, arr, sizeof(**out), claim_fields, SIZE_MAX, "claim", true,
                        free_claims);
}

json_t *wire_leases_encode(const store_lease *l, size_t n, bool with_result)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, encode_fields(lease_fields, &l[i], with_result ? SIZE_MAX : 2));
    return a;
}

int wire_leases_decode(store_lease **out, size_t *n, const json_t *arr, bool with_result)
{
    return decode_array((void **)out, n, arr, sizeof(**out), lease_fields,
                        with_result ? SIZE_MAX : 2, "lease", false, free_plain);
}

json_t *wire_finish_encode(int attempt, const store_result *r)
{
    json_t *obj = encode_fields(finish_fields, r, SIZE_MAX);
    json_object_set_new(obj, "attempt", json_integer(attempt));
    return obj;
}

int wire_finish_decode(int *attempt, store_result *r, const json_t *j)
{
    static const char *const extra[] = {"attempt", NULL};
    store_result res = {0};
    int64_t a = 0;
    *attempt = 0;
    memset(r, 0, sizeof(*r));
    int rc = decode_fields(&res, finish_fields, SIZE_MAX, extra, j, "result", false);
    if (rc == 0)
        rc = wire_get_int(&a, j, "result", "attempt", false);
    if (rc == 0 && (a < INT_MIN || a > INT_MAX))
        rc = sq_error_set(SQ_EINVAL, "invalid result: field 'attempt' is out of range");
    if (rc < 0)
        return rc;
    *attempt = (int)a;
    *r = res;
    return 0;
}

/* The length of the valid UTF-8 sequence at s (at most len bytes), or 0
 * for an invalid one: a stray continuation byte, a truncated sequence, an
 * overlong form, a surrogate, past U+10FFFF, or NUL (which jansson refuses
 * on input by default). */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    size_t n = c == 0                   ? 0
               : c < 0x80               ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (n == 0 || n > len)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] >> 6) != 2)
            return 0;
    }
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

static bool is_text(const char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n) {
        n = utf8_seq((const unsigned char *)s + i, len - i);
        if (n == 0)
            return false;
    }
    return true;
}

json_t *wire_log_encode(int attempt, const char *text, size_t len)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "attempt", json_integer(attempt));
    if (is_text(text, len)) {
        json_object_set_new(obj, "text", json_stringn(text, len));
    } else {
        char *b64 = xmalloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
        base64_encode_raw(b64, len, (const uint8_t *)text);
        b64[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
        json_object_set_new(obj, "text_base64", json_string(b64));
        free(b64);
    }
    return obj;
}

int wire_log_decode(int *attempt, char **text, size_t *len, const json_t *j)
{
    static const char *const fields[] = {"attempt", "text", "text_base64", NULL};
    const char *plain = NULL, *b64 = NULL;
    int64_t a = 0;
    *attempt = 0;
    *text = NULL;
    *len = 0;
    int rc = wire_check_fields(j, "log request", fields);
    if (rc == 0)
        rc = wire_get_int(&a, j, "log request", "attempt", false);
    if (rc == 0 && (a < INT_MIN || a > INT_MAX))
        rc = sq_error_set(SQ_EINVAL, "invalid log request: field 'attempt' is out of range");
    if (rc == 0)
        rc = wire_get_string(&plain, j, "log request", "text", true, false);
    if (rc == 0)
        rc = wire_get_string(&b64, j, "log request", "text_base64", true, false);
    if (rc == 0 && !plain == !b64)
        rc = sq_error_set(SQ_EINVAL, "invalid log request: give exactly one of the fields 'text' "
                                     "and 'text_base64'");
    if (rc < 0)
        return rc;
    if (plain) {
        *len = json_string_length(json_object_get(j, "text"));
        *text = xmalloc(*len + 1);
        memcpy(*text, plain, *len);
        (*text)[*len] = '\0';
    } else {
        size_t in = strlen(b64), out = BASE64_DECODE_LENGTH(in);
        struct base64_decode_ctx ctx;
        uint8_t *buf = xmalloc(out + 1);
        base64_decode_init(&ctx);
        if (!base64_decode_update(&ctx, &out, buf, in, b64) || !base64_decode_final(&ctx)) {
            free(buf);
            return sq_error_set(SQ_EINVAL, "invalid log request: field 'text_base64' must be "
                                           "base64");
        }
        buf[out] = '\0';
        *text = (char *)buf;
        *len = out;
    }
    *attempt = (int)a;
    return 0;
}

/* ---- fields of small bodies ------------------------------------------------------ */

int wire_check_fields(const json_t *j, const char *what, const char *const *allowed)
{
    if (!json_is_object(j))
        return sq_error_set(SQ_EINVAL, "invalid %s: expected a JSON object", what);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            return sq_error_set(SQ_EINVAL, "invalid %s: unknown field '%s'", what, key);
    }
    return 0;
}

/* The field's value, or NULL with *rc set: SQ_EINVAL when it is missing and
 * required, 0 when it is missing and optional. */
static const json_t *get_field(const json_t *j, const char *what, const char *field, bool optional,
                               const char *expected, int *rc)
{
    const json_t *v = json_is_object(j) ? json_object_get(j, field) : NULL;
    *rc = 0;
    if (!json_is_object(j))
        *rc = sq_error_set(SQ_EINVAL, "invalid %s: expected a JSON object", what);
    else if (!v && !optional)
        *rc = sq_error_set(SQ_EINVAL, "invalid %s: field '%s' is missing (%s)", what, field,
                           expected);
    return v;
}

int wire_get_int(int64_t *out, const json_t *j, const char *what, const char *field, bool optional)
{
    int rc;
    const json_t *v = get_field(j, what, field, optional, "an integer", &rc);
    if (!v)
        return rc;
    if (!json_is_integer(v))
        return bad_type(what, field, "an integer");
    *out = json_integer_value(v);
    return 0;
}

int wire_get_real(double *out, const json_t *j, const char *what, const char *field, bool optional)
{
    int rc;
    const json_t *v = get_field(j, what, field, optional, "a number", &rc);
    if (!v)
        return rc;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return bad_type(what, field, "a number");
    *out = json_number_value(v);
    return 0;
}

int wire_get_bool(bool *out, const json_t *j, const char *what, const char *field, bool optional)
{
    int rc;
    const json_t *v = get_field(j, what, field, optional, "a boolean", &rc);
    if (!v)
        return rc;
    if (!json_is_boolean(v))
        return bad_type(what, field, "a boolean");
    *out = json_is_true(v);
    return 0;
}

int wire_get_string(const char **out, const json_t *j, const char *what, const char *field,
                    bool optional, bool nullable)
{
    int rc;
    const char *expected = nullable ? "a string or null" : "a string";
    const json_t *v = get_field(j, what, field, optional, expected, &rc);
    if (!v)
        return rc;
    if (nullable && json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return bad_type(what, field, expected);
    *out = json_string_value(v);
    return 0;
}

/* ---- errors ------------------------------------------------------------------- */

static const struct {
    int code;
    const char *name;
    int status;
} error_table[] = {
    {SQ_EINVAL, "EINVAL", 400},
    {SQ_ENOTFOUND, "ENOTFOUND", 404},
    {SQ_ELEASE_LOST, "ELEASE_LOST", 409},
    {SQ_ECONFLICT, "ECONFLICT", 409},
    {SQ_EEXIST, "EEXIST", 409},
    {SQ_EBUSY, "EBUSY", 503},
    {SQ_EIO, "EIO", 503},
    {SQ_EEMPTY, "EEMPTY", 404},
    {SQ_EACCES, "EAUTH", 401}, /* the server sends 403 for a read-only token */
    {SQ_ERROR, "ERROR", 500},
};

/* Names only the server uses for refusals of its own; to a client they are
 * invalid requests, not worth retrying. */
static const char *const server_only_names[] = {"ETOOBIG", "EMETHOD", "ENOROUTE"};

const char *wire_error_name(int code)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_table); i++) {
        if (error_table[i].code == code)
            return error_table[i].name;
    }
    return "ERROR";
}

int wire_error_code(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(error_table); i++) {
        if (strcmp(error_table[i].name, name) == 0)
            return error_table[i].code;
    }
    for (size_t i = 0; name && i < ARRAY_SIZE(server_only_names); i++) {
        if (strcmp(server_only_names[i], name) == 0)
            return SQ_EINVAL;
    }
    return SQ_ERROR;
}

int wire_error_status(int code)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_table); i++) {
        if (error_table[i].code == code)
            return error_table[i].status;
    }
    return 500;
}

json_t *wire_error_encode(const char *name, const char *message)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(name));
    json_t *msg = json_string(message ? message : "");
    json_object_set_new(e, "message", msg ? msg : json_string("(message not valid UTF-8)"));
    json_t *body = json_object();
    json_object_set_new(body, "error", e);
    return body;
}

int wire_error_decode(const json_t *body)
{
    const json_t *e = json_is_object(body) ? json_object_get(body, "error") : NULL;
    const char *name = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!json_is_object(e) || !name)
        return 0;
    int code = wire_error_code(name);
    return sq_error_set(code, "%s", msg && *msg ? msg : name);
}
