/*
 * stats.c - lock-free request counters and their Prometheus text form (see
 * stats.h). Latency is a histogram per route with fixed buckets, so scrapes
 * of many servers can be summed and quantiles taken on the Prometheus side.
 */
#include "util/common.h"

#include "server/stats.h"

static const double bucket_le[STATS_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

void stats_init(stats *s)
{
    memset(s, 0, sizeof *s);
}

void stats_record(stats *s, size_t route, int status, double seconds)
{
    if (route >= STATS_MAX_ROUTES)
        SQ_BUG("route %zu out of range", route);
    stats_route *r = &s->routes[route];
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add_explicit(&r->by_class[cls], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < STATS_NBUCKETS && seconds > bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
    uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0;
    atomic_fetch_add_explicit(&r->sum_us, us, memory_order_relaxed);
}

int stats_add_label(strbuf *out, const char *text)
{
    int rc = 0;
    for (const char *p = text; *p && !rc; p++) {
        if (*p == '\\')
            rc = sb_adds(out, "\\\\");
        else if (*p == '"')
            rc = sb_adds(out, "\\\"");
        else if (*p == '\n')
            rc = sb_adds(out, "\\n");
        else
            rc = sb_addc(out, *p);
    }
    return rc;
}

static uint64_t load(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

int stats_render(const stats *s, const char *const *route_names, size_t nroutes, strbuf *out)
{
    int rc = 0;
    if (nroutes > STATS_MAX_ROUTES)
        SQ_BUG("%zu routes, more than STATS_MAX_ROUTES", nroutes);
    rc |= sb_adds(out, "# HELP sweepq_claims_total Trials handed out by this server's claims "
                       "(a repeated claim request hands its trials out again).\n"
                       "# TYPE sweepq_claims_total counter\n");
    rc |= sb_addf(out, "sweepq_claims_total %llu\n", (unsigned long long)load(&s->claims));
    rc |= sb_adds(out, "# HELP sweepq_finishes_total Attempts ended through this server.\n"
                       "# TYPE sweepq_finishes_total counter\n");
    rc |= sb_addf(out, "sweepq_finishes_total %llu\n", (unsigned long long)load(&s->finishes));
    rc |= sb_adds(out, "# HELP sweepq_reaped_total Expired leases this server's reaper ended.\n"
                       "# TYPE sweepq_reaped_total counter\n");
    rc |= sb_addf(out, "sweepq_reaped_total %llu\n", (unsigned long long)load(&s->reaped));

    rc |= sb_adds(out, "# HELP sweepq_reap_errors_total Reaper rounds that failed (busy store).\n"
                       "# TYPE sweepq_reap_errors_total counter\n");
    rc |=
        sb_addf(out, "sweepq_reap_errors_total %llu\n", (unsigned long long)load(&s->reap_errors));
    rc |= sb_adds(out, "# HELP sweepq_connections_open Connections open (not being closed).\n"
                       "# TYPE sweepq_connections_open gauge\n");
    rc |= sb_addf(out, "sweepq_connections_open %llu\n", (unsigned long long)load(&s->conns_open));
    rc |= sb_adds(out, "# HELP sweepq_connections_closed_total Connections the server closed to "
                       "make room: idle agents' (least recently used first) and pending ones "
                       "(no good token yet).\n# TYPE sweepq_connections_closed_total counter\n");
    rc |= sb_addf(out, "sweepq_connections_closed_total{reason=\"idle\"} %llu\n",
                  (unsigned long long)load(&s->conns_closed_idle));
    rc |= sb_addf(out, "sweepq_connections_closed_total{reason=\"pending\"} %llu\n",
                  (unsigned long long)load(&s->conns_closed_pending));
    rc |= sb_adds(out, "# HELP sweepq_connections_refused_total Connections answered 503: every "
                       "other one was in a request.\n"
                       "# TYPE sweepq_connections_refused_total counter\n");
    rc |= sb_addf(out, "sweepq_connections_refused_total %llu\n",
                  (unsigned long long)load(&s->conns_refused));
    rc |= sb_adds(out, "# HELP sweepq_http_requests_total HTTP requests by route and status "
                       "class.\n# TYPE sweepq_http_requests_total counter\n");
    for (size_t i = 0; i < nroutes; i++)
        for (int c = 1; c <= 5; c++) {
            uint64_t n = load(&s->routes[i].by_class[c]);
            if (n)
                rc |= sb_addf(out, "sweepq_http_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n",
                              route_names[i], c, (unsigned long long)n);
        }
    rc |= sb_adds(out, "# HELP sweepq_http_request_duration_seconds Time to answer a request, "
                       "by route.\n# TYPE sweepq_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < nroutes; i++) {
        const stats_route *r = &s->routes[i];
        uint64_t count = load(&r->count);
        if (!count)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < STATS_NBUCKETS; b++) {
            cum += load(&r->buckets[b]);
            rc |= sb_addf(out,
                          "sweepq_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                          "%llu\n",
                          route_names[i], bucket_le[b], (unsigned long long)cum);
        }
        cum += load(&r->buckets[STATS_NBUCKETS]);
        /* +Inf must equal _count; a request recorded between the two reads
         * would make them differ, so both print the larger. */
        if (cum > count)
            count = cum;
        rc |= sb_addf(out,
                      "sweepq_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                      "%llu\n",
                      route_names[i], (unsigned long long)count);
        rc |= sb_addf(out, "sweepq_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                      route_names[i], (double)load(&r->sum_us) / 1e6);
        rc |= sb_addf(out, "sweepq_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                      route_names[i], (unsigned long long)count);
    }
    return rc ? SQ_EINVAL : 0;
}
