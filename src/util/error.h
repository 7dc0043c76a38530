/*
 * error.h - error codes and the one-line message that travels with them.
 *
 * Every library function returns 0 on success or a negative SQ_E* code. The
 * function that detects a failure records a one-line message with
 * sq_error_set(), which returns the code so it can be written as
 *     return sq_error_set(SQ_EINVAL, "bad size '%s'", text);
 * Callers propagate the code unchanged; the CLI prints sq_error_msg().
 * The message is thread-local, as in libgit2's git_error_last().
 */
#ifndef SQ_ERROR_H
#define SQ_ERROR_H

#include <stdio.h>
#include <stdlib.h>

enum {
    SQ_OK = 0,
    SQ_ERROR = -1,       /* generic failure, see the message */
    SQ_ENOTFOUND = -2,   /* a sweep, trial, file or key does not exist */
    SQ_ELEASE_LOST = -3, /* a write about a trial whose attempt is no longer current */
    SQ_ECONFLICT = -4,   /* the request conflicts with what is stored */
    SQ_EBUSY = -5,       /* the store is busy or locked: retry later */
    SQ_EINVAL = -6,      /* invalid input */
    SQ_EIO = -7,         /* I/O or connection failure: retry later */
    SQ_EEXIST = -8,      /* already exists */
    SQ_EEMPTY = -9,      /* nothing to do / nothing matched (not a failure) */
    SQ_EACCES = -10,     /* a server refused our token (none, unknown, or read-only) */
};

/* Records a formatted message for this thread and returns code. */
int sq_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded by this thread ("" if none); borrowed. */
const char *sq_error_msg(void);

/* The last code recorded by this thread. */
int sq_error_code(void);

void sq_error_clear(void);

/* A short name for a code ("not found", "lease lost", ...). */
const char *sq_error_name(int code);

/* True for codes that mean "try again later" (busy, I/O). */
static inline int sq_error_is_transient(int code)
{
    return code == SQ_EBUSY || code == SQ_EIO;
}

/* Programmer errors: abort loudly with the location. Never for runtime input. */
#define SQ_BUG(...)                                                                                \
    do {                                                                                           \
        fprintf(stderr, "sweepq: BUG at %s:%d: ", __FILE__, __LINE__);                             \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define SQ_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            SQ_BUG("assertion failed: %s", #cond);                                                 \
    } while (0)

#endif
