/*
 * format.h - the spec module's own view of format.c: the appending forms of
 * the value writers, for callers that build millions of strings (command.c,
 * expand.c) and must not pay for a copy each. Not for use outside src/spec/.
 */
#ifndef SQ_SPEC_FORMAT_H
#define SQ_SPEC_FORMAT_H

#include "util/strbuf.h"

#include <jansson.h>
#include <stdbool.h>

/* Appends spec_format_value(v) to sb. 0 or SQ_EINVAL (sb's maximum). */
int spec_format_value_into(strbuf *sb, const json_t *v);

/* Appends spec_json_compact(v, sort_keys) to sb. */
int spec_json_compact_into(strbuf *sb, const json_t *v, bool sort_keys);

/* Appends spec_args_json(v) (Python's json.dumps) to sb. */
int spec_args_json_into(strbuf *sb, const json_t *v);

/* v as JSON text (json.dumps' spacing, non-ASCII escaped) that PyYAML
 * also reads as the same values: a float always has a '.' (1.0e-05).
 * Caller frees. */
char *spec_yaml_flow(const json_t *v);

#endif
