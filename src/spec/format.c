/*
 * format.c - parameter values as text: how W&B's agent writes them into a
 * command line (Python's str()), as Python's json.dumps writes them
 * (${args_json}), and as compact JSON for keys and storage.
 *
 * W&B's agent builds each flag as f"--{name}={value}" (wandb/sdk/launch/
 * sweeps/utils.py, create_sweep_command_args), so a value appears as
 * Python's str() of the value it decoded from JSON:
 *   true/false -> True/False, null -> None, 3 -> 3,
 *   reals      -> repr(float): shortest text that reads back (0.001, 1e-05,
 *                 1e+16, 1.0, 0.30000000000000004),
 *   strings    -> as they are,
 *   lists/maps -> Python's repr: [1, 2], ['a', 'b'], {'k': True}.
 * ${args_json} is json.dumps(dict): ", " and ": " separators, non-ASCII as
 * \uXXXX. docs/spec.md lists the rules with examples.
 *
 * Invariants: every writer here is a pure function of the value; none keeps
 * state except a per-thread cache of recent float texts (a pure function of
 * the double's bits), so they are thread-safe and repeatable.
 */
#include "util/common.h"

#include "spec/format.h"
#include "spec/spec.h"

#include <float.h>
#include <math.h>

typedef enum {
    FMT_PY_STR,    /* Python str(): the top level of spec_format_value */
    FMT_PY_REPR,   /* Python repr(): items inside lists and dicts */
    FMT_PY_JSON,   /* Python json.dumps() with its default options */
    FMT_JSON,      /* compact JSON, keys in order */
    FMT_JSON_SORT, /* compact JSON, keys sorted (canonical) */
    FMT_YAML_FLOW  /* json.dumps' text that PyYAML also reads back as the same values */
} fmt_mode;

/* ---- floats ------------------------------------------------------------- */

/*
 * The shortest decimal digits that read back as v (v finite, > 0): digits
 * without a point into d (NUL-terminated, no trailing zeros) and the decimal
 * exponent of the first digit into *exp10, so v = d[0].d[1..] x 10^exp10.
 *
 * A double has 15 to 17 significant digits. Any decimal of at most 15
 * digits survives a round trip through a normal double (DBL_DIG), so when
 * the value rounded to 15 digits reads back, those digits minus trailing
 * zeros are the shortest. Otherwise 16 digits are tried (the correctly
 * rounded string and, near a power of two where the interval is lopsided,
 * its neighbours), then 17, which always reads back. Subnormals have fewer
 * digits of precision, so they are searched from one digit up.
 */
static void shortest_digits(double v, char d[32], int *exp10)
{
    char buf[80];
    int first = v < DBL_MIN ? 1 : 15;
    for (int prec = first; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        bool ok = strtod(buf, NULL) == v;
        if (!ok && prec == 16) {
            /* The other 16-digit candidates one unit away in the last digit. */
            char *e = strchr(buf, 'e');
            long long m = 0;
            for (const char *p = buf; p < e; p++)
                if (*p != '.')
                    m = m * 10 + (*p - '0');
            int ex = atoi(e + 1) - 15;
            for (int delta = -1; delta <= 1 && !ok; delta += 2) {
                char alt[80];
                snprintf(alt, sizeof alt, "%llde%d", m + delta, ex);
                if (strtod(alt, NULL) == v) {
                    /* Rewrite buf in %e form from the candidate's digits. */
                    char digits[24];
                    int n = snprintf(digits, sizeof digits, "%lld", m + delta);
                    snprintf(buf, sizeof buf, "%c.%se%d", digits[0], digits + 1, ex + n - 1);
                    ok = true;
                }
            }
        }
        if (!ok && prec < 17)
            continue;
        char *e = strchr(buf, 'e');
        size_t n = 0;
        for (const char *p = buf; p < e; p++)
            if (*p != '.')
                d[n++] = *p;
        while (n > 1 && d[n - 1] == '0')
            n--;
        d[n] = '\0';
        *exp10 = atoi(e + 1);
        return;
    }
}

/* Python's repr(float) into out (FLOAT_TEXT bytes): "0.001", "1e-05",
 * "1e+16", "1.0", "-0.0", "inf", "nan". */
#define FLOAT_TEXT 48

static void py_float_repr(double v, char out[FLOAT_TEXT])
{
    if (isnan(v)) {
        snprintf(out, FLOAT_TEXT, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, FLOAT_TEXT, "%sinf", v < 0 ? "-" : "");
        return;
    }
    if (v == 0) {
        snprintf(out, FLOAT_TEXT, "%s0.0", signbit(v) ? "-" : "");
        return;
    }
    char d[32];
    int e;
    shortest_digits(fabs(v), d, &e);
    int n = (int)strlen(d), decpt = e + 1; /* digits before the point */
    char *o = out;
    if (v < 0)
        *o++ = '-';
    /* Python switches to exponent form when decpt <= -4 or decpt > 16. */
    if (decpt <= -4 || decpt > 16) {
        *o++ = d[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)n - 1);
            o += n - 1;
        }
        snprintf(o, (size_t)(out + FLOAT_TEXT - o), "e%c%02d", e < 0 ? '-' : '+', abs(e));
    } else if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)n + 1);
    } else if (decpt >= n) {
        memcpy(o, d, (size_t)n);
        o += n;
        for (int i = n; i < decpt; i++)
            *o++ = '0';
        memcpy(o, ".0", 3);
    } else {
        memcpy(o, d, (size_t)decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, d + decpt, (size_t)(n - decpt) + 1);
    }
}

/*
 * A small per-thread cache of float texts: grid sweeps format the same few
 * values millions of times, and the shortest-digits search costs a few
 * snprintf/strtod calls. Entries are keyed by the double's bits, so a hit is
 * always the right text.
 */
typedef struct float_cache_entry {
    uint64_t bits;
    bool used;
    char text[FLOAT_TEXT];
} float_cache_entry;

static _Thread_local float_cache_entry float_cache[256];

static const char *float_text(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t h = bits * 0x9e3779b97f4a7c15ULL;
    float_cache_entry *c = &float_cache[h >> 56];
    if (!c->used || c->bits != bits) {
        py_float_repr(v, c->text);
        c->bits = bits;
        c->used = true;
    }
    return c->text;
}

/* ---- strings ------------------------------------------------------------ */

/* Decodes one UTF-8 sequence at s (jansson strings are valid UTF-8). */
static uint32_t utf8_next(const unsigned char **s)
{
    const unsigned char *p = *s;
    uint32_t c = *p++;
    int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (more)
        c &= 0x3f >> more;
    while (more-- > 0 && (*p & 0xc0) == 0x80)
        c = (c << 6) | (*p++ & 0x3f);
    *s = p;
    return c;
}

/*
 * Python's str.isprintable() for one non-ASCII code point. Python escapes
 * controls, separators other than the space, format characters, surrogates
 * and private-use characters in repr(). This covers those ranges; code
 * points unassigned in Unicode (which Python also escapes) are kept as is.
 */
static bool py_printable(uint32_t c)
{
    static const uint32_t ranges[][2] = {
        {0x80, 0xa0},       {0xad, 0xad},        {0x600, 0x605},     {0x61c, 0x61c},
        {0x6dd, 0x6dd},     {0x70f, 0x70f},      {0x1680, 0x1680},   {0x180e, 0x180e},
        {0x2000, 0x200f},   {0x2028, 0x202f},    {0x205f, 0x2064},   {0x2066, 0x206f},
        {0x3000, 0x3000},   {0xd800, 0xf8ff},    {0xfeff, 0xfeff},   {0xfff9, 0xfffb},
        {0x110bd, 0x110bd}, {0x1bca0, 0x1bca3},  {0x1d173, 0x1d17a}, {0xe0001, 0xe0001},
        {0xe0020, 0xe007f}, {0xf0000, 0x10ffff},
    };
    for (size_t i = 0; i < ARRAY_SIZE(ranges); i++)
        if (c >= ranges[i][0] && c <= ranges[i][1])
            return false;
    return true;
}

/* Python's repr(str): single quotes unless the text has ' and no ". */
static int add_py_repr_string(strbuf *sb, const char *s)
{
    char quote = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    int rc = sb_addc(sb, quote);
    const unsigned char *p = (const unsigned char *)s;
    while (!rc && *p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f && *p != (unsigned char)quote && *p != '\\')
            p++;
        if (p > run && (rc = sb_add(sb, run, (size_t)(p - run))))
            break;
        if (!*p)
            break;
        const unsigned char *start = p;
        uint32_t c = utf8_next(&p);
        if (c == (uint32_t)quote || c == '\\')
            rc = sb_addf(sb, "\\%c", (char)c);
        else if (c == '\t')
            rc = sb_adds(sb, "\\t");
        else if (c == '\n')
            rc = sb_adds(sb, "\\n");
        else if (c == '\r')
            rc = sb_adds(sb, "\\r");
        else if (c < 0x20 || c == 0x7f)
            rc = sb_addf(sb, "\\x%02x", c);
        else if (c < 0x80 || py_printable(c))
            rc = sb_add(sb, start, (size_t)(p - start));
        else if (c <= 0xff)
            rc = sb_addf(sb, "\\x%02x", c);
        else if (c <= 0xffff)
            rc = sb_addf(sb, "\\u%04x", c);
        else
            rc = sb_addf(sb, "\\U%08x", c);
    }
    return rc ? rc : sb_addc(sb, quote);
}

/* A JSON string. ascii_only: Python's json.dumps (ensure_ascii=True, every
 * character outside ' '..'~' as \uXXXX in lower case); otherwise jansson's
 * style (only controls escaped, UTF-8 kept). */
static int add_json_string(strbuf *sb, const char *s, bool ascii_only)
{
    int rc = sb_addc(sb, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (!rc && *p) {
        /* The bytes that need no escape, in one append. */
        const unsigned char *run = p;
        while (*p >= 0x20 && *p != '"' && *p != '\\' && (!ascii_only || *p < 0x7f))
            p++;
        if (p > run && (rc = sb_add(sb, run, (size_t)(p - run))))
            break;
        if (!*p)
            break;
        const unsigned char *start = p;
        uint32_t c = utf8_next(&p);
        switch (c) {
        case '"': rc = sb_adds(sb, "\\\""); continue;
        case '\\': rc = sb_adds(sb, "\\\\"); continue;
        case '\n': rc = sb_adds(sb, "\\n"); continue;
        case '\r': rc = sb_adds(sb, "\\r"); continue;
        case '\t': rc = sb_adds(sb, "\\t"); continue;
        case '\b': rc = sb_adds(sb, "\\b"); continue;
        case '\f': rc = sb_adds(sb, "\\f"); continue;
        default: break;
        }
        if (c < 0x20)
            rc = sb_addf(sb, ascii_only ? "\\u%04x" : "\\u%04X", c);
        else if (!ascii_only || (c >= 0x20 && c <= 0x7e))
            rc = sb_add(sb, start, (size_t)(p - start));
        else if (c <= 0xffff)
            rc = sb_addf(sb, "\\u%04x", c);
        else
            rc = sb_addf(sb, "\\u%04x\\u%04x", 0xd800 + ((c - 0x10000) >> 10),
                         0xdc00 + ((c - 0x10000) & 0x3ff));
    }
    return rc ? rc : sb_addc(sb, '"');
}

/* ---- values ------------------------------------------------------------- */

static int add_value(strbuf *sb, const json_t *v, fmt_mode mode);

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int add_object(strbuf *sb, const json_t *v, fmt_mode mode)
{
    bool py = mode == FMT_PY_STR || mode == FMT_PY_REPR;
    bool spaced = py || mode == FMT_PY_JSON || mode == FMT_YAML_FLOW;
    bool ascii = mode == FMT_PY_JSON || mode == FMT_YAML_FLOW;
    size_t n = json_object_size(v), i = 0;
    const char *few[16];
    const char **keys = n <= ARRAY_SIZE(few) ? few : xmalloc(n * sizeof *keys);
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)v, key, item) keys[i++] = key;
    if (mode == FMT_JSON_SORT)
        qsort(keys, n, sizeof *keys, cmp_keys);
    int rc = sb_addc(sb, '{');
    for (i = 0; !rc && i < n; i++) {
        if (i)
            rc = sb_adds(sb, spaced ? ", " : ",");
        if (!rc)
            rc = py ? add_py_repr_string(sb, keys[i]) : add_json_string(sb, keys[i], ascii);
        if (!rc)
            rc = sb_adds(sb, spaced ? ": " : ":");
        if (!rc)
            rc = add_value(sb, json_object_get(v, keys[i]), py ? FMT_PY_REPR : mode);
    }
    if (keys != few)
        free(keys);
    return rc ? rc : sb_addc(sb, '}');
}

/* Decimal digits of an integer, without printf's machinery: grids format
 * millions of them. */
static int add_integer(strbuf *sb, json_int_t v)
{
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return sb_add(sb, p, (size_t)(buf + sizeof buf - p));
}

static int add_real(strbuf *sb, double d, fmt_mode mode)
{
    if (mode == FMT_PY_JSON && !isfinite(d)) /* json.dumps: allow_nan=True */
        return sb_adds(sb, isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity");
    if ((mode == FMT_JSON || mode == FMT_JSON_SORT) && !isfinite(d))
        return sb_adds(sb, "null"); /* jansson cannot hold these; be safe */
    if (mode == FMT_YAML_FLOW) {
        if (!isfinite(d))
            return sb_adds(sb, isnan(d) ? ".nan" : d < 0 ? "-.inf" : ".inf");
        /* YAML 1.1 (PyYAML) reads 1e-05 as a string: a float needs a '.',
         * so write 1.0e-05, as PyYAML's own representer does. */
        const char *t = float_text(d), *e = strchr(t, 'e');
        if (e && !strchr(t, '.')) {
            int rc = sb_add(sb, t, (size_t)(e - t));
            return rc ? rc : sb_addf(sb, ".0%s", e);
        }
    }
    return sb_adds(sb, float_text(d));
}

static int add_value(strbuf *sb, const json_t *v, fmt_mode mode)
{
    bool py = mode == FMT_PY_STR || mode == FMT_PY_REPR;
    switch (json_typeof(v)) {
    case JSON_TRUE: return sb_adds(sb, py ? "True" : "true");
    case JSON_FALSE: return sb_adds(sb, py ? "False" : "false");
    case JSON_NULL: return sb_adds(sb, py ? "None" : "null");
    case JSON_INTEGER: return add_integer(sb, json_integer_value(v));
    case JSON_REAL: return add_real(sb, json_real_value(v), mode);
    case JSON_STRING:
        if (mode == FMT_PY_STR)
            return sb_add(sb, json_string_value(v), json_string_length(v));
        if (mode == FMT_PY_REPR)
            return add_py_repr_string(sb, json_string_value(v));
        return add_json_string(sb, json_string_value(v),
                               mode == FMT_PY_JSON || mode == FMT_YAML_FLOW);
    case JSON_ARRAY: {
        int rc = sb_addc(sb, '[');
        for (size_t i = 0; !rc && i < json_array_size(v); i++) {
            if (i)
                rc = sb_adds(sb, mode == FMT_JSON || mode == FMT_JSON_SORT ? "," : ", ");
            if (!rc)
                rc = add_value(sb, json_array_get(v, i), py ? FMT_PY_REPR : mode);
        }
        return rc ? rc : sb_addc(sb, ']');
    }
    case JSON_OBJECT: return add_object(sb, v, mode);
    }
    SQ_BUG("unknown JSON type %d", (int)json_typeof(v));
}

/* Runs add_value into a fresh unbounded buffer. Values come from a loaded
 * spec, which is bounded in size, so the buffer's maximum is never reached;
 * if it were, that is a programmer error rather than bad input. */
static char *format(const json_t *v, fmt_mode mode)
{
    strbuf sb = SB_INIT;
    if (add_value(&sb, v, mode))
        SQ_BUG("formatting a value failed: %s", sq_error_msg());
    return sb_detach(&sb);
}

char *spec_format_value(const json_t *v)
{
    return format(v, FMT_PY_STR);
}

char *spec_json_compact(const json_t *v, bool sort_keys)
{
    return format(v, sort_keys ? FMT_JSON_SORT : FMT_JSON);
}

char *spec_args_json(const json_t *params)
{
    return format(params, FMT_PY_JSON);
}

int spec_format_value_into(strbuf *sb, const json_t *v)
{
    return add_value(sb, v, FMT_PY_STR);
}

int spec_json_compact_into(strbuf *sb, const json_t *v, bool sort_keys)
{
    return add_value(sb, v, sort_keys ? FMT_JSON_SORT : FMT_JSON);
}

int spec_args_json_into(strbuf *sb, const json_t *v)
{
    return add_value(sb, v, FMT_PY_JSON);
}

char *spec_yaml_flow(const json_t *v)
{
    return format(v, FMT_YAML_FLOW);
}
