/* units.c - sizes and durations; see units.h for the accepted forms. */
#include "util/units.h"

#include "util/error.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *suffix;
    double factor;
} size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1024.0},
    {"kib", 1024.0},
    {"kb", 1e3},
    {"m", 1048576.0},
    {"mib", 1048576.0},
    {"mb", 1e6},
    {"g", 1073741824.0},
    {"gib", 1073741824.0},
    {"gb", 1e9},
    {"t", 1099511627776.0},
    {"tib", 1099511627776.0},
    {"tb", 1e12},
};

/* Reads a non-negative decimal number ("12", "1.5", ".5") at *p; advances *p. */
static int read_number(const char **p, double *out)
{
    const char *s = *p, *e = s;
    int digits = 0, dots = 0;
    for (; isdigit((unsigned char)*e) || (*e == '.' && !dots); e++) {
        if (*e == '.')
            dots++;
        else
            digits++;
    }
    char tmp[64];
    size_t n = (size_t)(e - s);
    if (!digits || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
    *p = e;
    return 0;
}

int units_parse_size(const char *text, uint64_t *out_bytes)
{
    const char *p = text;
    double v;
    while (isspace((unsigned char)*p))
        p++;
    if (read_number(&p, &v))
        goto bad;
    while (isspace((unsigned char)*p))
        p++;
    char suffix[8];
    size_t n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    if (n >= sizeof suffix)
        goto bad;
    memcpy(suffix, p, n);
    suffix[n] = '\0';
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (strcasecmp(suffix, size_units[i].suffix) == 0) {
            double bytes = v * size_units[i].factor;
            if (bytes >= 18446744073709551615.0)
                return sq_error_set(SQ_EINVAL, "size '%s' is too large", text);
            *out_bytes = (uint64_t)llround(bytes);
            return 0;
        }
    }
bad:
    return sq_error_set(SQ_EINVAL,
                        "invalid size '%s': expected a number with an optional unit, "
                        "such as 512MiB, 4GiB or 500MB",
                        text);
}

static double duration_unit(const char **p)
{
    static const struct {
        const char *name;
        double seconds;
    } units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t n = strlen(units[i].name);
        if (strncasecmp(*p, units[i].name, n) == 0) {
            *p += n;
            return units[i].seconds;
        }
    }
    return 0;
}

/* "D-HH:MM:SS", "HH:MM:SS", "MM:SS" */
static int parse_clock(const char *text, double *out)
{
    long days = 0, f[3];
    int nf = 0;
    const char *p = text;
    char *end;
    const char *dash = strchr(p, '-');
    if (dash) {
        days = strtol(p, &end, 10);
        if (end != dash || end == p)
            return -1;
        p = dash + 1;
    }
    while (nf < 3) {
        if (!isdigit((unsigned char)*p))
            return -1;
        f[nf++] = strtol(p, &end, 10);
        p = end;
        if (*p != ':')
            break;
        p++;
    }
    if (*p || nf < 2)
        return -1;
    double s = 0;
    for (int i = 0; i < nf; i++)
        s = s * 60 + (double)f[i];
    *out = s + (double)days * 86400;
    return 0;
}

int units_parse_duration(const char *text, double *out_seconds)
{
    if (strchr(text, ':')) {
        if (parse_clock(text, out_seconds) == 0)
            return 0;
        goto bad;
    }
    const char *p = text;
    double total = 0;
    int parts = 0;
    while (isspace((unsigned char)*p))
        p++;
    while (*p) {
        double v, unit;
        if (read_number(&p, &v))
            goto bad;
        unit = duration_unit(&p);
        if (unit == 0) {
            if (*p || parts)
                goto bad;
            unit = 1; /* a bare number is seconds */
        }
        total += v * unit;
        parts++;
        while (isspace((unsigned char)*p))
            p++;
    }
    if (!parts)
        goto bad;
    *out_seconds = total;
    return 0;
bad:
    return sq_error_set(SQ_EINVAL,
                        "invalid duration '%s': expected seconds or a number with a unit, "
                        "such as 90s, 30m, 4h, 1d2h or HH:MM:SS",
                        text);
}

const char *units_format_size(uint64_t bytes, char *buf, unsigned bufsize)
{
    static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int i = 0;
    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    if (i == 0 || v >= 100 || v == floor(v))
        snprintf(buf, bufsize, "%.0f %s", v, names[i]);
    else
        snprintf(buf, bufsize, "%.1f %s", v, names[i]);
    return buf;
}

const char *units_format_duration(double s, char *buf, unsigned bufsize)
{
    if (s < 0 || isnan(s))
        s = 0;
    long t = (long)s;
    if (s < 60)
        snprintf(buf, bufsize, s < 10 ? "%.1fs" : "%.0fs", s);
    else if (t < 3600)
        snprintf(buf, bufsize, "%ldm%02lds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, bufsize, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, bufsize, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
    return buf;
}
