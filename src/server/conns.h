/*
 * conns.h - which connections `sweepq serve` keeps when it runs out of
 * room: the admission policy, apart from libmicrohttpd (server.c feeds it
 * the connections' events) so that it is tested alone.
 *
 * A connection is in one of three states:
 *   - pending: accepted, no request with a good token seen yet (a client
 *     still sending its headers, a slowloris, a health probe, a browser
 *     fetching the dashboard's files). Pending connections are kept in
 *     accept order.
 *   - busy: a request with a good token is being read or answered.
 *   - idle: an agent's (or CLI's) keep-alive connection between requests,
 *     kept in least-recently-used order.
 * A connection becomes an agent's for good with its first request whose
 * token is good (conns_authenticated); it never goes back to pending.
 *
 * POLICY, applied by conns_open to each new connection, in order:
 *   1. when room is needed (max open, or pending_max pending), pending
 *      connections older than header_timeout are closed first (a client
 *      that has not shown a token that long is not an agent at work). Not
 *      before: on a server too loaded to read its newcomers' headers in
 *      time they are agents waiting, and closing them would only make
 *      them retry. (A pending connection silent for the header timeout is
 *      closed by libmicrohttpd's own timeout, server.c.)
 *   2. when the new connection's address already holds pending_per_addr
 *      pending connections, the oldest of them is closed: one address
 *      cycles through its own share and cannot push out others' newcomers;
 *   3. when pending_max connections are pending, the oldest is closed;
 *   4. when max connections are open, the least recently used idle one is
 *      closed (its client reconnects on its next request; libcurl does so
 *      by itself), else the oldest pending one;
 *   5. when every open connection is busy, the new one is refused:
 *      conns_open marks it (slot->refused) and server.c answers its first
 *      request 503 and closes it.
 * So room for an agent is always made from idle or pending connections,
 * never from a request in progress, and pending connections, whatever
 * their number, hold at most pending_max of the max places.
 *
 * "Closed" here is close_fn(fd) (server.c: shutdown(2), which makes
 * libmicrohttpd's own thread see the end of the connection and free it,
 * ending in conns_close). A closed slot leaves its list at once, so it is
 * never chosen twice; the table counts only the others in `open`.
 *
 * Thread safety: every function takes the table's mutex; close_fn is
 * called under it (shutdown(2) does not block). conns_close must be called
 * before the descriptor is closed (libmicrohttpd notifies "closed" first),
 * so close_fn never reaches a reused descriptor.
 */
#ifndef SQ_SERVER_CONNS_H
#define SQ_SERVER_CONNS_H

#include "server/stats.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CONN_PENDING, CONN_BUSY, CONN_IDLE, CONN_CLOSING } conn_state;

typedef struct conn_slot {
    struct conn_slot *prev, *next; /* in the pending or idle list */
    conn_state state;
    bool authenticated; /* once a request's token was good */
    bool refused;       /* admitted over the limit: answer 503 and close */
    int fd;
    uint8_t addr[16]; /* the client's address (IPv4 in the first 4 bytes) */
    uint8_t addr_len;
    double since; /* pending: accepted at; idle: last request ended at */
} conn_slot;

typedef struct conn_list {
    conn_slot *head, *tail; /* head: the oldest */
    size_t n;
} conn_list;

typedef struct conn_limits {
    size_t max;              /* open connections (not closing) kept at most */
    size_t pending_max;      /* of which pending at most */
    size_t pending_per_addr; /* pending from one address at most */
    double header_timeout;   /* seconds a pending connection is kept */
} conn_limits;

typedef struct conn_counts {
    uint64_t closed_idle;    /* idle connections closed to make room */
    uint64_t closed_pending; /* pending ones closed (timeout, per address, room) */
    uint64_t refused;        /* new ones refused: everything busy */
} conn_counts;

typedef struct conn_table {
    pthread_mutex_t lock;
    conn_limits lim;
    void (*close_fn)(int fd);
    conn_list pending, idle;
    size_t open; /* slots not closing */
    conn_counts counts;
    stats *stats; /* where the counts are published for /metrics, or NULL */
} conn_table;

/* Sets the limits (max >= 1, 1 <= pending_per_addr <= pending_max <= max);
 * st (borrowed, may be NULL) gets the counts after every change. */
void conns_init(conn_table *t, const conn_limits *lim, void (*close_fn)(int fd), stats *st);
void conns_destroy(conn_table *t);

/* Admits a new connection on fd from addr (4 or 16 bytes) at time now,
 * closing others by the policy above; the slot is the caller's until
 * conns_close. */
conn_slot *conns_open(conn_table *t, int fd, const void *addr, size_t addr_len, double now);

/* A request begins on s (its first line is in): an idle slot is busy now. */
void conns_request_begins(conn_table *t, conn_slot *s);

/* The request's token is good: s is an agent's connection from now on.
 * True the first time (the caller then gives it an agent's idle timeout). */
bool conns_authenticated(conn_table *t, conn_slot *s);

/* The request on s was answered at now: an authenticated slot is idle. */
void conns_request_ends(conn_table *t, conn_slot *s, double now);

/* The connection is gone: frees s. */
void conns_close(conn_table *t, conn_slot *s);

/* Open connections and the counters, read together. */
void conns_snapshot(conn_table *t, size_t *open, size_t *pending, conn_counts *counts);

#endif
