/*
 * conns.c - the admission policy of conns.h: two intrusive lists (pending
 * in accept order, idle in least-recently-used order) under one mutex.
 * Every operation is O(1) but the per-address count, a walk over the
 * pending list (at most pending_max long).
 */
#include "util/common.h"

#include "server/conns.h"

/* ---- lists ------------------------------------------------------------------ */

static void list_push(conn_list *l, conn_slot *s)
{
    s->prev = l->tail;
    s->next = NULL;
    if (l->tail)
        l->tail->next = s;
    else
        l->head = s;
    l->tail = s;
    l->n++;
}

static void list_remove(conn_list *l, conn_slot *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        l->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        l->tail = s->prev;
    s->prev = s->next = NULL;
    l->n--;
}

/* The list s is in, or NULL. */
static conn_list *list_of(conn_table *t, const conn_slot *s)
{
    return s->state == CONN_PENDING ? &t->pending : s->state == CONN_IDLE ? &t->idle : NULL;
}

static void set_state(conn_table *t, conn_slot *s, conn_state to)
{
    conn_list *from = list_of(t, s);
    if (from)
        list_remove(from, s);
    s->state = to;
    conn_list *l = list_of(t, s);
    if (l)
        list_push(l, s);
}

/* ---- closing -------------------------------------------------------------- */

/* Closes s for room: it leaves its list and the open count at once. */
static void evict(conn_table *t, conn_slot *s)
{
    if (s->state == CONN_IDLE)
        t->counts.closed_idle++;
    else
        t->counts.closed_pending++;
    set_state(t, s, CONN_CLOSING);
    t->open--;
    t->close_fn(s->fd);
}

static bool same_addr(const conn_slot *a, const uint8_t *addr, size_t len)
{
    return a->addr_len == len && memcmp(a->addr, addr, len) == 0;
}

/* Policy steps 1 to 3 (conns.h). */
static void make_pending_room(conn_table *t, const uint8_t *addr, size_t len, double now)
{
    bool room_needed = t->open >= t->lim.max || t->pending.n >= t->lim.pending_max;
    while (room_needed && t->pending.head && now - t->pending.head->since > t->lim.header_timeout)
        evict(t, t->pending.head);
    size_t from_addr = 0;
    conn_slot *oldest = NULL;
    for (conn_slot *s = t->pending.head; s; s = s->next) {
        if (same_addr(s, addr, len) && !from_addr++)
            oldest = s;
    }
    if (from_addr >= t->lim.pending_per_addr)
        evict(t, oldest);
    if (t->pending.n >= t->lim.pending_max)
        evict(t, t->pending.head);
}

/* ---- the interface ---------------------------------------------------------- */

/* Copies the counts to the stats for /metrics (called under the lock). */
static void publish(conn_table *t)
{
    if (!t->stats)
        return;
    atomic_store_explicit(&t->stats->conns_open, t->open, memory_order_relaxed);
    atomic_store_explicit(&t->stats->conns_closed_idle, t->counts.closed_idle,
                          memory_order_relaxed);
    atomic_store_explicit(&t->stats->conns_closed_pending, t->counts.closed_pending,
                          memory_order_relaxed);
    atomic_store_explicit(&t->stats->conns_refused, t->counts.refused, memory_order_relaxed);
}

void conns_init(conn_table *t, const conn_limits *lim, void (*close_fn)(int fd), stats *st)
{
    SQ_ASSERT(lim->max >= 1 && lim->pending_per_addr >= 1 &&
              lim->pending_per_addr <= lim->pending_max && lim->pending_max <= lim->max);
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->lim = *lim;
    t->close_fn = close_fn;
    t->stats = st;
}

void conns_destroy(conn_table *t)
{
    pthread_mutex_destroy(&t->lock);
}

conn_slot *conns_open(conn_table *t, int fd, const void *addr, size_t addr_len, double now)
{
    conn_slot *s = xcalloc(1, sizeof *s);
    s->fd = fd;
    s->addr_len = (uint8_t)(addr_len <= sizeof s->addr ? addr_len : sizeof s->addr);
    memcpy(s->addr, addr, s->addr_len);
    s->since = now;
    pthread_mutex_lock(&t->lock);
    make_pending_room(t, s->addr, s->addr_len, now);
    if (t->open >= t->lim.max) { /* step 4 */
        if (t->idle.head)
            evict(t, t->idle.head);
        else if (t->pending.head)
            evict(t, t->pending.head);
    }
    if (t->open >= t->lim.max) { /* step 5: all busy */
        s->refused = true;
        t->counts.refused++;
        s->state = CONN_CLOSING;
    } else {
        s->state = CONN_BUSY; /* not in a list yet */
        set_state(t, s, CONN_PENDING);
        t->open++;
    }
    publish(t);
    pthread_mutex_unlock(&t->lock);
    return s;
}

void conns_request_begins(conn_table *t, conn_slot *s)
{
    pthread_mutex_lock(&t->lock);
    if (s->state == CONN_IDLE)
        set_state(t, s, CONN_BUSY);
    pthread_mutex_unlock(&t->lock);
}

bool conns_authenticated(conn_table *t, conn_slot *s)
{
    pthread_mutex_lock(&t->lock);
    bool first = !s->authenticated;
    s->authenticated = true;
    if (s->state == CONN_PENDING || s->state == CONN_IDLE)
        set_state(t, s, CONN_BUSY);
    pthread_mutex_unlock(&t->lock);
    return first;
}

void conns_request_ends(conn_table *t, conn_slot *s, double now)
{
    pthread_mutex_lock(&t->lock);
    if (s->authenticated && s->state == CONN_BUSY) {
        s->since = now;
        set_state(t, s, CONN_IDLE);
    }
    pthread_mutex_unlock(&t->lock);
}

void conns_close(conn_table *t, conn_slot *s)
{
    pthread_mutex_lock(&t->lock);
    if (s->state != CONN_CLOSING) {
        set_state(t, s, CONN_CLOSING);
        t->open--;
    }
    publish(t);
    pthread_mutex_unlock(&t->lock);
    free(s);
}

void conns_snapshot(conn_table *t, size_t *open, size_t *pending, conn_counts *counts)
{
    pthread_mutex_lock(&t->lock);
    *open = t->open;
    *pending = t->pending.n;
    *counts = t->counts;
    pthread_mutex_unlock(&t->lock);
}
