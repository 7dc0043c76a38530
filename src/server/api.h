/*
 * api.h - the HTTP API v1 of `sweepq serve` as a pure function: one request
 * (method, raw target, Authorization header, body) in, one response (status,
 * content type, body) out. No sockets: server.c feeds it from libmicrohttpd,
 * fuzz/fuzz_api.c and the unit tests call it directly.
 *
 * The routes, their bodies and their errors are /work/api-contract.md's and
 * docs/api.md's. Invariants:
 *   - api_handle always fills a response: a store failure or bad input is an
 *     HTTP status with {"error":{"code","message"}}, never a crash.
 *   - Requests under /api/v1 (except GET /api/v1/health) and GET /metrics
 *     carry "Authorization: Bearer TOKEN": a missing or unknown token is
 *     401, the read token on a method other than GET or HEAD is 403. The
 *     check runs before routing, so without a token nothing tells which
 *     paths exist.
 *   - When api.write_lock is set, every route that writes runs its store
 *     call holding it (see server.c for why).
 */
#ifndef SQ_SERVER_API_H
#define SQ_SERVER_API_H

#include "server/stats.h"
#include "server/token.h"
#include "store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* The largest request body the API reads; larger ones are 413. */
#define API_BODY_MAX ((size_t)8 << 20)

typedef struct api_request {
    const char *method;        /* "GET", "POST", ... */
    const char *target;        /* raw request target: "/api/v1/sweeps/a%20b?x=1" */
    const char *authorization; /* the Authorization header, or NULL */
    const char *body;          /* may be NULL when body_len is 0 */
    size_t body_len;
} api_request;

typedef struct api_response {
    int status;
    const char *content_type; /* static */
    char *body;               /* owned (free()); NULL when len is 0 */
    size_t len;
    char allow[32]; /* for 405: the methods the path takes ("GET, POST"), else "" */
    size_t route;   /* the stats index of the route that answered */
} api_response;

typedef struct api {
    token_digest write_token;
    token_digest read_token;
    bool has_read_token;
    stats *stats;                /* borrowed; never NULL */
    pthread_mutex_t *write_lock; /* borrowed; NULL: writes run unlocked */
} api;

/* Fills a with the digests of the tokens (read_token may be NULL: no read
 * token), the stats to count into and the optional lock for writes. */
void api_init(api *a, const char *write_token, const char *read_token, stats *st,
              pthread_mutex_t *write_lock);

/* Answers req using store st (used by this thread only). *out is filled
 * (release it with api_response_release) whatever happens. */
void api_handle(const api *a, store *st, const api_request *req, api_response *out);

/*
 * Whether the Authorization header grants method: the write token any
 * method, the read token GET and HEAD. server.c asks this from a request's
 * headers, before it reads any body: only a request that passes gets its
 * body read (and a connection that carried one is an agent's, worth keeping,
 * see server.c). A request that does not pass is answered by api_handle
 * without its body (401, 403, or the token-free health and dashboard files,
 * which take no body).
 */
bool api_authorized(const api *a, const char *method, const char *authorization);

/* Fills *out with a JSON error response of status and wire code name. */
void api_error_response(api_response *out, int status, const char *code, const char *message);

void api_response_release(api_response *r);

/* The stats index used for requests that fail before routing (server.c's
 * 413 and the like). */
size_t api_route_other(void);

#endif
