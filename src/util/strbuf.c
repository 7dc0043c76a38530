/* strbuf.c - growable buffers with a maximum; see strbuf.h. */
#include "util/strbuf.h"

#include "util/error.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void sb_init(strbuf *sb, size_t max)
{
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->max = max;
}

void sb_release(strbuf *sb)
{
    free(sb->buf);
    sb_init(sb, sb->max);
}

void sb_reset(strbuf *sb)
{
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = '\0';
}

static int sb_reserve(strbuf *sb, size_t extra)
{
    if (extra > sb->max || sb->len > sb->max - extra)
        return sq_error_set(SQ_EINVAL, "data larger than the limit of %zu bytes", sb->max);
    size_t want = sb->len + extra + 1;
    if (want > sb->cap) {
        size_t n = sb->cap ? sb->cap : 64;
        while (n < want)
            n *= 2;
        sb->buf = xrealloc(sb->buf, n);
        sb->cap = n;
    }
    return 0;
}

int sb_add(strbuf *sb, const void *data, size_t n)
{
    int rc = sb_reserve(sb, n);
    if (rc)
        return rc;
    if (n)
        memcpy(sb->buf + sb->len, data, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
    return 0;
}

int sb_adds(strbuf *sb, const char *s)
{
    return sb_add(sb, s, strlen(s));
}

int sb_addc(strbuf *sb, char c)
{
    return sb_add(sb, &c, 1);
}

int sb_vaddf(strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return sq_error_set(SQ_EINVAL, "bad format");
    int rc = sb_reserve(sb, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return 0;
}

int sb_addf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sb_vaddf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

const char *sb_str(const strbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

char *sb_detach(strbuf *sb)
{
    char *s = sb->buf ? sb->buf : xstrdup("");
    sb_init(sb, sb->max);
    return s;
}

int sb_add_shell_quoted(strbuf *sb, const char *s)
{
    /* 'it'\''s' : single quotes make everything inert but the quote itself. */
    int rc = sb_addc(sb, '\'');
    for (; !rc && *s; s++)
        rc = *s == '\'' ? sb_adds(sb, "'\\''") : sb_addc(sb, *s);
    return rc ? rc : sb_addc(sb, '\'');
}

int sb_read_file(strbuf *sb, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sq_error_set(errno == ENOENT ? SQ_ENOTFOUND : SQ_EIO, "cannot open '%s': %s", path,
                            strerror(errno));
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = sb_add(sb, chunk, n);
    if (!rc && ferror(f))
        rc = sq_error_set(SQ_EIO, "cannot read '%s': %s", path, strerror(errno));
    else if (rc)
        rc = sq_error_set(rc, "cannot read '%s': larger than %zu bytes", path, sb->max);
    fclose(f);
    return rc;
}
