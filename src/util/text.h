/*
 * text.h - text from sources sweepq does not control (a trial's output, a
 * store another program wrote) made safe to print on a terminal and to put
 * in JSON.
 *
 * Invariants:
 *   - text_utf8_cut never splits a UTF-8 sequence: what is kept of valid
 *     UTF-8 stays valid UTF-8 (JSON encoders refuse anything else).
 *   - text_printable's result is valid UTF-8 with no control character
 *     (C0, DEL, C1) and no byte that is not part of a valid UTF-8 sequence,
 *     so a terminal shows it as text: no escape sequence, no carriage
 *     return, no line break survives. Each such byte or character is
 *     written as \xNN (C1 characters as \u00NN), so nothing is hidden.
 */
#ifndef SQ_TEXT_H
#define SQ_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The largest n <= max (and <= len) such that s[0..n) ends on a UTF-8
 * character boundary: a multi-byte sequence cut by max is dropped whole. */
size_t text_utf8_cut(const char *s, size_t len, size_t max);

/* s[0..len) as printable UTF-8 (see above); the caller frees. */
char *text_printable(const char *s, size_t len);

/* text_printable of a NUL-terminated string; NULL gives NULL. */
char *text_printable_str(const char *s);

/* Whether name may be a metric's name: 1 to max bytes of valid UTF-8, with
 * no control character, no quote (' " `) and no backslash, so that it prints
 * in a table and a CSV header as itself. */
bool text_is_metric_name(const char *name, size_t max);

#endif
