/*
 * stats.h - the server's own counters for GET /metrics: requests and their
 * latency per route, trials claimed, leases reaped.
 *
 * Every counter is a relaxed atomic, so MHD's worker threads and the reaper
 * record without a lock; a scrape reads each counter once and may see one
 * request counted in _count but not yet in a bucket, which Prometheus
 * tolerates (the next scrape is consistent again).
 */
#ifndef SQ_SERVER_STATS_H
#define SQ_SERVER_STATS_H

#include "util/strbuf.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bounds of the latency histogram's buckets, in seconds (+Inf last). */
#define STATS_NBUCKETS 12
/* Routes are numbered by the caller (api.c's table); this many at most. */
#define STATS_MAX_ROUTES 48

typedef struct stats_route {
    _Atomic uint64_t by_class[6]; /* responses by status class: [2] = 2xx ... [5] = 5xx */
    _Atomic uint64_t buckets[STATS_NBUCKETS + 1];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us; /* total latency in microseconds */
} stats_route;

typedef struct stats {
    stats_route routes[STATS_MAX_ROUTES];
    _Atomic uint64_t claims;      /* trials handed out by POST /api/v1/claims */
    _Atomic uint64_t reaped;      /* leases expired by the server's reaper */
    _Atomic uint64_t finishes;    /* attempts ended by POST .../finish */
    _Atomic uint64_t reap_errors; /* reaper rounds that failed (a busy store) */
    /* connections (published by conns.c) */
    _Atomic uint64_t conns_open;           /* open now, not closing */
    _Atomic uint64_t conns_closed_idle;    /* idle agents' ones closed to make room */
    _Atomic uint64_t conns_closed_pending; /* token-less ones closed (timeout or room) */
    _Atomic uint64_t conns_refused;        /* refused with 503: every one busy */
} stats;

/* Zeroes every counter. */
void stats_init(stats *s);

/* Counts one response of route (0 <= route < STATS_MAX_ROUTES) with HTTP
 * status and latency seconds. */
void stats_record(stats *s, size_t route, int status, double seconds);

/*
 * Appends the counters in Prometheus' text format to out: route_names[i]
 * names route i for i < nroutes. 0 or SQ_EINVAL when out is full.
 */
int stats_render(const stats *s, const char *const *route_names, size_t nroutes, strbuf *out);

/* Appends text to out as a Prometheus label value: \ " and newline escaped. */
int stats_add_label(strbuf *out, const char *text);

#endif
