/*
 * tail.h - follow a file that another process appends to (a trial's log, its
 * metrics file) and hand over its complete lines.
 *
 * Invariants:
 *   - Reads with pread from t->offset, so the descriptor's own offset is
 *     never moved (the agent's copy of a log is O_APPEND and shared with
 *     nothing, but a reader must not care).
 *   - '\n' and '\r' both end a line (progress bars redraw with '\r'); empty
 *     lines are skipped. A line longer than max_line is cut: its first
 *     max_line bytes are handed over and the rest, up to the next end of
 *     line, is dropped, so memory stays bounded whatever the child writes.
 *   - Lines are handed over NUL-terminated, without their terminator; the
 *     pointer is valid only during the callback.
 */
#ifndef SQ_TAIL_H
#define SQ_TAIL_H

#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct tail {
    off_t offset;    /* bytes of the file consumed so far */
    strbuf partial;  /* the start of a line whose end has not been read */
    bool skipping;   /* dropping the rest of an overlong line */
    size_t max_line; /* longest line handed over, in bytes */
} tail;

#define TAIL_MAX_LINE 8192

void tail_init(tail *t, size_t max_line);
void tail_release(tail *t);

typedef void (*tail_line_fn)(const char *line, size_t len, void *ud);

/*
 * Reads what fd holds past t->offset, at most max_bytes (0: until the end of
 * the file), and calls fn for each complete line. Returns the number of
 * bytes read (0 when nothing was new) or SQ_EIO with the message.
 */
long tail_read(tail *t, int fd, size_t max_bytes, tail_line_fn fn, void *ud);

/* At the end of the file: hands the unterminated last line, if any, to fn. */
void tail_flush(tail *t, tail_line_fn fn, void *ud);

#endif
