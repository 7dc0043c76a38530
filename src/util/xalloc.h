/*
 * xalloc.h - allocation that never returns NULL.
 *
 * Out of memory is not a condition sweepq recovers from: these abort with a
 * message in one place (convention 6), so callers never check for NULL.
 */
#ifndef SQ_XALLOC_H
#define SQ_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows an array of elem-sized items to hold at least want items. */
void *xgrow(void *p, size_t *cap, size_t want, size_t elem);
char *xstrdup(const char *s); /* xstrdup(NULL) returns NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

#define XGROW(arr, cap, want) ((arr) = xgrow((arr), &(cap), (want), sizeof *(arr)))

#endif
