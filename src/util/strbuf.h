/*
 * strbuf.h - a growable, always NUL-terminated byte buffer.
 *
 * Every buffer has a maximum size (curl's DYNBUF rule): appends that would
 * pass it fail with SQ_EINVAL and leave the buffer as it was, so data read
 * from a file, the network or a child can never grow without bound.
 * SB_INIT gives an empty buffer with the default maximum.
 */
#ifndef SQ_STRBUF_H
#define SQ_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *buf;  /* NUL-terminated; never NULL after the first append */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap;
    size_t max; /* most bytes it may hold */
} strbuf;

#define SB_DEFAULT_MAX ((size_t)1 << 30)
#define SB_INIT                                                                                    \
    {                                                                                              \
        NULL, 0, 0, SB_DEFAULT_MAX                                                                 \
    }

void sb_init(strbuf *sb, size_t max);
void sb_release(strbuf *sb);
void sb_reset(strbuf *sb);
int sb_add(strbuf *sb, const void *data, size_t n);
int sb_adds(strbuf *sb, const char *s);
int sb_addc(strbuf *sb, char c);
int sb_addf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_vaddf(strbuf *sb, const char *fmt, va_list ap);
/* The contents ("" for an unused buffer); borrowed. */
const char *sb_str(const strbuf *sb);
/* Hands the contents to the caller (never NULL) and resets the buffer. */
char *sb_detach(strbuf *sb);
/* Appends s quoted for /bin/sh so that it is one inert word. */
int sb_add_shell_quoted(strbuf *sb, const char *s);
/* Reads a whole file into sb, up to sb->max bytes. */
int sb_read_file(strbuf *sb, const char *path);

#endif
