/*
 * wire.h - the JSON codec of the store's structs for the HTTP API v1
 * (docs/api.md): the one place that knows the field names. The server
 * (src/server/) decodes requests and encodes results with it; the http
 * store client (http.c) does the opposite.
 *
 * Invariants:
 *   - Encoders return a new json_t reference (caller json_decref's it); they
 *     never fail short of running out of memory (which aborts).
 *   - Decoders reject a value that is not an object, an unknown field, a
 *     missing required field and a wrong type with SQ_EINVAL and a message
 *     naming the object, the field and the expected type:
 *         invalid trial: field 'attempt' must be an integer
 *   - Fields that hold JSON text (spec_json, params_json, metrics_json,
 *     command_json, gpus_json, rows) travel as JSON strings, byte for byte.
 *   - Times are JSON reals, ids and counts integers; decoders accept any
 *     number for a time.
 *   - Decoders of the store's output structs (store_sweep, store_trial, ...)
 *     copy strings: the result is owned by the caller and freed with store.h's
 *     matching _free. Decoders of input structs (store_sweep_def,
 *     store_agent_info, store_result, store_lease lists) point their strings
 *     into the json_t, which must outlive the decoded struct; only arrays are
 *     allocated. On error every *out is NULL/0 and nothing is left allocated.
 */
#ifndef SQ_STORE_WIRE_H
#define SQ_STORE_WIRE_H

#include "store/store.h"

#include <jansson.h>

/* ---- objects ------------------------------------------------------------ */

json_t *wire_sweep_encode(const store_sweep *s);
/* *out: a new sweep (store_sweep_free). */
int wire_sweep_decode(store_sweep **out, const json_t *j);
json_t *wire_sweeps_encode(const store_sweep *s, size_t n); /* a JSON array */
/* *out: an array of *n (store_sweeps_free). */
int wire_sweeps_decode(store_sweep **out, size_t *n, const json_t *arr);

/* The POST /api/v1/sweeps body: the def's fields plus "trials". */
json_t *wire_sweep_def_encode(const store_sweep_def *d);
/* Fills *out; strings point into j; free with wire_sweep_def_release. */
int wire_sweep_def_decode(store_sweep_def *out, const json_t *j);
/* Frees the arrays (tags, trials) that wire_sweep_def_decode allocated. */
void wire_sweep_def_release(store_sweep_def *d);

json_t *wire_trial_defs_encode(const store_trial_def *t, size_t n); /* a JSON array */
/* *out: an array of *n (free()); strings point into arr. */
int wire_trial_defs_decode(store_trial_def **out, size_t *n, const json_t *arr);

/* One trial definition (the body of a proposal); strings point into j. */
json_t *wire_trial_def_encode(const store_trial_def *t);
int wire_trial_def_decode(store_trial_def *out, const json_t *j);

json_t *wire_trial_encode(const store_trial *t);
int wire_trial_decode(store_trial **out, const json_t *j); /* store_trial_free */
json_t *wire_trials_encode(const store_trial *t, size_t n);
int wire_trials_decode(store_trial **out, size_t *n, const json_t *arr); /* store_trials_free */

json_t *wire_attempts_encode(const store_attempt *a, size_t n);
int wire_attempts_decode(store_attempt **out, size_t *n,
                         const json_t *arr); /* store_attempts_free */

json_t *wire_agent_info_encode(const store_agent_info *a);
/* Fills *out; strings point into j; nothing to free. */
int wire_agent_info_decode(store_agent_info *out, const json_t *j);

json_t *wire_agents_encode(const store_agent *a, size_t n);
int wire_agents_decode(store_agent **out, size_t *n, const json_t *arr); /* store_agents_free */

json_t *wire_claims_encode(const store_claimed *c, size_t n);
int wire_claims_decode(store_claimed **out, size_t *n, const json_t *arr); /* store_claims_free */

/*
 * Heartbeat leases: with_result false is the request's
 * [{"trial_id","attempt"}], true the response's
 * [{"trial_id","attempt","lost","cancel"}]. *out: free().
 */
json_t *wire_leases_encode(const store_lease *l, size_t n, bool with_result);
int wire_leases_decode(store_lease **out, size_t *n, const json_t *arr, bool with_result);

/* The POST /api/v1/trials/ID/finish body: {"attempt","outcome","exit_code",
 * "term_signal","error"|null,"metrics_json"|null}. r's strings point into j. */
json_t *wire_finish_encode(int attempt, const store_result *r);
int wire_finish_decode(int *attempt, store_result *r, const json_t *j);

/*
 * The PUT /api/v1/trials/ID/log body: {"attempt", "text"} when the bytes are
 * UTF-8 text without NUL, else {"attempt", "text_base64"}, so that any bytes
 * travel unchanged. Decoding accepts exactly one of the two; *text (owned,
 * NUL-terminated, free()) and *len are the bytes.
 */
json_t *wire_log_encode(int attempt, const char *text, size_t len);
int wire_log_decode(int *attempt, char **text, size_t *len, const json_t *j);

/* ---- fields of small request bodies ---------------------------------------
 * For the bodies with two or three fields (claims, state, retry, gc, ...):
 * `what` names the object in messages ("claim request"). */

/* SQ_EINVAL unless j is an object whose keys are all in the NULL-terminated
 * list `allowed`. */
int wire_check_fields(const json_t *j, const char *what, const char *const *allowed);
/* A required field (or, with optional, a missing one leaves *out as it is).
 * wire_get_string with nullable accepts null as NULL; the string points into j. */
int wire_get_int(int64_t *out, const json_t *j, const char *what, const char *field, bool optional);
int wire_get_real(double *out, const json_t *j, const char *what, const char *field, bool optional);
int wire_get_bool(bool *out, const json_t *j, const char *what, const char *field, bool optional);
int wire_get_string(const char **out, const json_t *j, const char *what, const char *field,
                    bool optional, bool nullable);

/* ---- errors ------------------------------------------------------------- */

/* The wire name of an SQ_E* code: "ENOTFOUND", "ELEASE_LOST", ... "ERROR". */
const char *wire_error_name(int code);
/* The SQ_E* code of a wire name: the server-only names (EAUTH, ETOOBIG,
 * EMETHOD, ENOROUTE) and unknown ones are SQ_EINVAL and SQ_ERROR. */
int wire_error_code(const char *name);
/* The HTTP status of an SQ_E* code: EINVAL 400, ENOTFOUND 404, ECONFLICT,
 * ELEASE_LOST, EEXIST 409, EBUSY, EIO 503, EEMPTY 404, anything else 500. */
int wire_error_status(int code);
/* {"error":{"code":name,"message":message}}. */
json_t *wire_error_encode(const char *name, const char *message);
/*
 * Reads an error body: returns its SQ_E* code with sq_error_msg() set to the
 * server's message, or 0 when body is not an error object.
 */
int wire_error_decode(const json_t *body);

#endif
