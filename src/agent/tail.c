/* tail.c - follow a growing file line by line; see tail.h. */
#include "util/common.h"

#include "agent/tail.h"

#include <errno.h>
#include <unistd.h>

#define CHUNK 65536

void tail_init(tail *t, size_t max_line)
{
    t->offset = 0;
    sb_init(&t->partial, max_line + 1);
    t->skipping = false;
    t->max_line = max_line;
}

void tail_release(tail *t)
{
    sb_release(&t->partial);
}

static void emit(tail *t, const char *s, size_t n, tail_line_fn fn, void *ud)
{
    if (t->partial.len) {
        size_t room = t->max_line - t->partial.len;
        sb_add(&t->partial, s, n < room ? n : room);
        if (fn)
            fn(t->partial.buf, t->partial.len, ud);
        sb_reset(&t->partial);
    } else if (n) {
        /* s points into the read buffer, which has a byte to spare after
         * the line (its terminator): NUL-terminate in place. */
        char *line = (char *)s;
        char saved = line[n];
        line[n] = '\0';
        if (fn)
            fn(line, n, ud);
        line[n] = saved;
    }
}

/* Keeps the start of an unterminated line, cutting it at max_line. */
static void keep(tail *t, const char *s, size_t n, tail_line_fn fn, void *ud)
{
    size_t room = t->max_line - t->partial.len;
    if (n < room) {
        sb_add(&t->partial, s, n);
        return;
    }
    sb_add(&t->partial, s, room);
    if (fn)
        fn(t->partial.buf, t->partial.len, ud);
    sb_reset(&t->partial);
    t->skipping = true;
}

static void consume(tail *t, char *buf, size_t n, tail_line_fn fn, void *ud)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n' && buf[i] != '\r')
            continue;
        if (t->skipping) {
            t->skipping = false;
        } else {
            size_t len = i - start;
            if (t->partial.len + len > t->max_line)
                len = t->max_line - t->partial.len;
            emit(t, buf + start, len, fn, ud);
        }
        start = i + 1;
    }
    if (start < n && !t->skipping)
        keep(t, buf + start, n - start, fn, ud);
}

long tail_read(tail *t, int fd, size_t max_bytes, tail_line_fn fn, void *ud)
{
    char buf[CHUNK + 1];
    long total = 0;
    for (;;) {
        size_t want = CHUNK;
        if (max_bytes && max_bytes - (size_t)total < want)
            want = max_bytes - (size_t)total;
        if (want == 0)
            break;
        ssize_t got = pread(fd, buf, want, t->offset);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return sq_error_set(SQ_EIO, "cannot read a trial's output: %s", strerror(errno));
        }
        if (got == 0)
            break;
        t->offset += got;
        total += got;
        consume(t, buf, (size_t)got, fn, ud);
        if ((size_t)got < want)
            break;
    }
    return total;
}

void tail_flush(tail *t, tail_line_fn fn, void *ud)
{
    if (t->partial.len && fn)
        fn(t->partial.buf, t->partial.len, ud);
    sb_reset(&t->partial);
    t->skipping = false;
}
