/*
 * server.c - libmicrohttpd glue for `sweepq serve` (server.h): sockets,
 * limits, TLS, one store handle per worker thread, the reaper thread.
 *
 * THREADING MODEL
 *   MHD runs an internal thread pool (MHD_USE_INTERNAL_POLLING_THREAD with
 *   MHD_OPTION_THREAD_POOL_SIZE, epoll): each worker owns a share of the
 *   connections and calls the access handler for them, so an idle or slow
 *   connection costs a file descriptor, never a thread.
 *
 *   Store handles are not shared between threads: sqlite.c opens its
 *   connection with SQLITE_OPEN_NOMUTEX and keeps per-handle prepared
 *   statements and busy-handler state, and postgres.c's libpq connection
 *   is one conversation at a time. So each worker opens its own handle on
 *   its first request (a pthread key maps the thread to it) and keeps it
 *   until server_stop, which closes them all after MHD has joined its
 *   threads. The reaper thread has its own handle too. Reads on different
 *   handles run in parallel (WAL readers do not block the writer).
 *
 *   Writes to a SQLite store are serialised by one process-wide mutex
 *   (api.write_lock). Without it the workers' connections would still take
 *   SQLite's write lock one at a time, but the losers wait in sqlite.c's
 *   busy handler, sleeping and polling the file lock; queueing on a mutex
 *   hands the lock over at once (bench/lifecycle_http.sh compares claim +
 *   finish through the server with direct SQLite). Other backends (PostgreSQL)
 *   do their own row locking, so their writes run unlocked in parallel.
 *
 * REQUEST LIFETIME
 *   The URI log callback (first to see a request) allocates its
 *   server_request with the raw target; the access handler checks the
 *   bearer token from the headers first: a request without a token good for
 *   its method is answered then (401/403, or health and the dashboard's
 *   files, which need none) and its body is never buffered (at most
 *   ANSWERED_DRAIN_MAX of it is read and dropped, and the connection closes).
 *   Otherwise it gathers the body (at most API_BODY_MAX: a larger Content-Length is refused before
 *   any of it is read; a chunked body that passes the limit is dropped as
 *   it comes and refused at its end, or cut off after DRAIN_MAX), then
 *   answers with api_handle; the completion callback frees it.
 *
 * LIBMICROHTTPD, LOADED AT RUN TIME
 *   It is not linked: server_start loads libmicrohttpd.so.12 with dlopen
 *   (util/dynlib.h) and calls go through the table mhd (mhd.start_daemon
 *   is MHD_start_daemon), so an agent never maps it nor the GnuTLS
 *   libraries it pulls in.
 */
#include "util/common.h"

#include "server/api.h"
#include "server/conns.h"
#include "server/server.h"
#include "util/dynlib.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h> /* the types; the functions come from dynlib_load(&mhd_lib) */
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The most bytes of an oversized chunked body read (and dropped) before
 * the connection is closed instead of answered. */
#define DRAIN_MAX ((size_t)64 << 20)

/* The most bytes of body read (and dropped) after a request was answered
 * from its headers (a request without a token: 401) before the connection
 * is closed: an unauthenticated client costs the server no more than this
 * and its headers (SERVER_HEADER_MAX). */
#define ANSWERED_DRAIN_MAX ((size_t)64 << 10)

struct server {
    struct MHD_Daemon *daemon;
    char *store_url;
    char *url;
    int port;
    stats stats;
    api api;
    conn_table conns; /* which connections to keep when full (conns.h) */
    bool conns_made;
    unsigned max_connections;
    bool serialize_writes;
    pthread_mutex_t write_lock;

    /* the workers' store handles, closed at stop */
    pthread_key_t store_key;
    bool key_made;
    pthread_mutex_t stores_lock;
    store **stores;
    size_t nstores, capstores;

    /* the reaper */
    store *reap_store;
    double reap_every;
    pthread_t reaper;
    bool reaper_started;
    bool stopping;
    pthread_mutex_t reap_lock;
    pthread_cond_t reap_cond;
};

typedef struct server_request {
    char *target;
    conn_slot *slot; /* its connection's (conns.h) */
    strbuf body;
    double started; /* time_mono() when the headers were in */
    bool begun;     /* the access handler has seen the headers */
    bool too_big;   /* the body passed API_BODY_MAX: 413 at its end */
    bool answered;  /* answered from its headers (401, 403, 413, health...) */
    bool close;     /* close the connection after the answer (a body was left unread) */
    size_t drained; /* bytes of body dropped past the limit */
} server_request;

/* ---- libmicrohttpd, loaded at run time ------------------------------------ */

/* libmicrohttpd's functions that this file calls, each named as in
 * libmicrohttpd minus the "MHD_" prefix; typed from microhttpd.h, so a call
 * is checked as a direct one (MHD_start_daemon's options are passed as they
 * are). */
static struct {
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_is_feature_supported) *is_feature_supported;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_set_connection_option) *set_connection_option;
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
} mhd;

/* Every slot of mhd with its symbol (the static assert below keeps the two
 * lists the same length). */
static const dynlib_symbol mhd_symbols[] = {
    {"MHD_add_response_header", (void **)&mhd.add_response_header},
    {"MHD_create_response_from_buffer", (void **)&mhd.create_response_from_buffer},
    {"MHD_destroy_response", (void **)&mhd.destroy_response},
    {"MHD_get_connection_info", (void **)&mhd.get_connection_info},
    {"MHD_is_feature_supported", (void **)&mhd.is_feature_supported},
    {"MHD_lookup_connection_value", (void **)&mhd.lookup_connection_value},
    {"MHD_queue_response", (void **)&mhd.queue_response},
    {"MHD_set_connection_option", (void **)&mhd.set_connection_option},
    {"MHD_start_daemon", (void **)&mhd.start_daemon},
    {"MHD_stop_daemon", (void **)&mhd.stop_daemon},
};
_Static_assert(sizeof mhd == ARRAY_SIZE(mhd_symbols) * sizeof(void (*)(void)),
               "mhd and mhd_symbols must list the same functions");

static dynlib mhd_lib = {
    .soname = "libmicrohttpd.so.12",
    .what = "libmicrohttpd",
    .package = "libmicrohttpd12",
    .symbols = mhd_symbols,
    .nsymbols = ARRAY_SIZE(mhd_symbols),
};

/* ---- store handles per worker thread ------------------------------------ */

/* This thread's handle, opened on its first request; NULL with the message
 * set when the store cannot be opened. */
static store *thread_store(server *srv)
{
    store *st = pthread_getspecific(srv->store_key);
    if (st)
        return st;
    if (store_open(&st, srv->store_url) != 0)
        return NULL;
    pthread_mutex_lock(&srv->stores_lock);
    if (srv->nstores == srv->capstores) {
        srv->capstores = srv->capstores ? 2 * srv->capstores : 16;
        srv->stores = xrealloc(srv->stores, srv->capstores * sizeof *srv->stores);
    }
    srv->stores[srv->nstores++] = st;
    pthread_mutex_unlock(&srv->stores_lock);
    pthread_setspecific(srv->store_key, st);
    return st;
}

/* ---- MHD callbacks ----------------------------------------------------- */

/* conns.h's close_fn: ends a connection that libmicrohttpd's thread owns
 * without closing its descriptor under it; that thread sees the end of the
 * stream and frees the connection. */
static void shut_connection(int fd)
{
    shutdown(fd, SHUT_RDWR);
}

/* A new or gone connection: admitted to (or dropped from) srv->conns. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    server *srv = cls;
    if (code != MHD_CONNECTION_NOTIFY_STARTED) {
        if (*socket_context)
            conns_close(&srv->conns, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd =
        mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ci =
        mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const void *addr = "";
    size_t len = 0;
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        addr = &((const struct sockaddr_in *)ci->client_addr)->sin_addr;
        len = 4;
    } else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
        addr = &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr;
        len = 16;
    }
    *socket_context = conns_open(&srv->conns, fd ? fd->connect_fd : -1, addr, len, time_mono());
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    server *srv = cls;
    server_request *r = xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    r->target = xstrdup(uri ? uri : "");
    sb_init(&r->body, API_BODY_MAX);
    const union MHD_ConnectionInfo *ci =
        mhd.get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->slot = ci ? ci->socket_context : NULL;
    if (r->slot)
        conns_request_begins(&srv->conns, r->slot);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *srv = cls;
    server_request *r = *req_cls;
    if (!r)
        return;
    if (r->slot)
        conns_request_ends(&srv->conns, r->slot, time_mono());
    free(r->target);
    sb_release(&r->body);
    free(r);
    *req_cls = NULL;
}

/* Queues res (takes ownership of its body) and counts it. */
static enum MHD_Result respond(server *srv, struct MHD_Connection *conn, server_request *r,
                               api_response *res)
{
    struct MHD_Response *m =
        mhd.create_response_from_buffer(res->len, res->body, MHD_RESPMEM_MUST_FREE);
    if (!m) {
        api_response_release(res);
        return MHD_NO;
    }
    res->body = NULL; /* MHD frees it */
    mhd.add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
                            res->content_type ? res->content_type : "application/json");
    mhd.add_response_header(m, "X-Content-Type-Options", "nosniff");
    mhd.add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (res->allow[0])
        mhd.add_response_header(m, MHD_HTTP_HEADER_ALLOW, res->allow);
    if (res->status == MHD_HTTP_CONTENT_TOO_LARGE || r->close)
        mhd.add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = mhd.queue_response(conn, (unsigned)res->status, m);
    mhd.destroy_response(m);
    stats_record(&srv->stats, res->route, res->status, time_mono() - r->started);
    return ok;
}

static enum MHD_Result too_big(server *srv, struct MHD_Connection *conn, server_request *r)
{
    api_response res = {0};
    res.route = api_route_other();
    char *msg = xasprintf("request body larger than %zu bytes", (size_t)API_BODY_MAX);
    api_error_response(&res, MHD_HTTP_CONTENT_TOO_LARGE, "ETOOBIG", msg);
    free(msg);
    return respond(srv, conn, r, &res);
}

/* True when the request's headers announce a body (a Content-Length above
 * 0 or a chunked one). */
static bool announces_body(struct MHD_Connection *conn)
{
    const char *cl =
        mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return te || (cl && strspn(cl, " 0") != strlen(cl));
}

/* Answers the request with api_handle and whatever body r holds. */
static enum MHD_Result handle(server *srv, struct MHD_Connection *conn, server_request *r,
                              const char *method)
{
    api_response res;
    store *st = thread_store(srv);
    if (!st) {
        memset(&res, 0, sizeof res);
        res.route = api_route_other();
        api_error_response(&res, 503, "EIO", sq_error_msg());
    } else {
        api_request req = {
            .method = method,
            .target = r->target,
            .authorization =
                mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            .body = r->body.buf,
            .body_len = r->body.len,
        };
        api_handle(&srv->api, st, &req, &res);
    }
    return respond(srv, conn, r, &res);
}

/* A connection admitted when every other was busy (conns.h, step 5). */
static enum MHD_Result server_full(server *srv, struct MHD_Connection *conn, server_request *r)
{
    api_response res = {0};
    res.route = api_route_other();
    char *msg = xasprintf("the server is full: all its %u connections are busy "
                          "(--max-connections): retry later",
                          srv->max_connections);
    api_error_response(&res, 503, "EBUSY", msg);
    free(msg);
    r->close = true;
    return respond(srv, conn, r, &res);
}

/* The first call for a request: its headers are in, no body read yet.
 * Without a token good for its method the request is answered now, from its
 * headers (401/403, or health and dashboard files, which need no body), and
 * its body is never buffered; a body it announced closes the connection
 * after the answer. */
static enum MHD_Result on_headers(server *srv, struct MHD_Connection *conn, server_request *r,
                                  const char *method)
{
    r->begun = true;
    r->started = time_mono();
    if (r->slot && r->slot->refused) {
        r->answered = true;
        return server_full(srv, conn, r);
    }
    const char *auth =
        mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!api_authorized(&srv->api, method, auth)) {
        r->answered = true;
        r->close = announces_body(conn);
        return handle(srv, conn, r, method);
    }
    /* An agent's connection: kept idle for SERVER_IDLE_TIMEOUT, where a
     * pending one gets SERVER_HEADER_TIMEOUT of silence. */
    if (r->slot && conns_authenticated(&srv->conns, r->slot))
        mhd.set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)SERVER_IDLE_TIMEOUT);
    const char *cl =
        mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == ERANGE || n > API_BODY_MAX) {
            r->answered = true;
            return too_big(srv, conn, r);
        }
    }
    return MHD_YES; /* the body, if any, comes in the next calls */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    server *srv = cls;
    server_request *r = *req_cls;
    if (!r)
        return MHD_NO; /* the URI callback always runs first */
    if (r->answered) {
        /* What comes after an early answer is dropped, up to ANSWERED_DRAIN_MAX. */
        r->drained += *upload_data_size;
        *upload_data_size = 0;
        return r->drained > ANSWERED_DRAIN_MAX ? MHD_NO : MHD_YES;
    }
    if (!r->begun)
        return on_headers(srv, conn, r, method);
    if (*upload_data_size) {
        /* A chunked body past the limit is read and dropped, and answered
         * with 413 at its end (MHD cannot answer in the middle of a body);
         * one that goes on past DRAIN_MAX closes the connection. */
        if (!r->too_big && sb_add(&r->body, upload_data, *upload_data_size) != 0) {
            r->too_big = true;
            sb_release(&r->body);
        }
        if (r->too_big) {
            r->drained += *upload_data_size;
            if (r->drained > DRAIN_MAX)
                return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return too_big(srv, conn, r);
    return handle(srv, conn, r, method);
}

/* ---- the reaper ------------------------------------------------------------ */

/* Reaps every reap_every seconds until server_stop signals reap_cond. The
 * clock is CLOCK_MONOTONIC (reap_cond's), so a clock change neither stops
 * nor floods it. */
static void *reaper_main(void *arg)
{
    server *srv = arg;
    pthread_mutex_lock(&srv->reap_lock);
    while (!srv->stopping) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        double whole = (double)(long)srv->reap_every;
        at.tv_sec += (time_t)whole;
        at.tv_nsec += (long)((srv->reap_every - whole) * 1e9);
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        while (!srv->stopping &&
               pthread_cond_timedwait(&srv->reap_cond, &srv->reap_lock, &at) != ETIMEDOUT)
            ;
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->reap_lock);
        uint64_t n = 0;
        if (srv->serialize_writes)
            pthread_mutex_lock(&srv->write_lock);
        int rc = store_reap(srv->reap_store, &n);
        if (srv->serialize_writes)
            pthread_mutex_unlock(&srv->write_lock);
        if (rc == 0)
            atomic_fetch_add_explicit(&srv->stats.reaped, n, memory_order_relaxed);
        else /* transient (busy): the next round tries again */
            atomic_fetch_add_explicit(&srv->stats.reap_errors, 1, memory_order_relaxed);
        pthread_mutex_lock(&srv->reap_lock);
    }
    pthread_mutex_unlock(&srv->reap_lock);
    return NULL;
}

/* ---- listening --------------------------------------------------------------- */

/* Splits "HOST:PORT" / "[V6]:PORT" and resolves it (numeric ports only). */
static int resolve_listen(const char *addr, struct sockaddr_storage *out, socklen_t *len)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1])
        return sq_error_set(SQ_EINVAL,
                            "invalid listen address '%s': expected ADDR:PORT, e.g. "
                            "127.0.0.1:8600",
                            addr);
    char *host = xstrndup(addr, (size_t)(colon - addr));
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    int rc = 0;
    if (*end || port < 0 || port > 65535) {
        rc = sq_error_set(SQ_EINVAL, "invalid listen address '%s': port '%s' is not 0 to 65535",
                          addr, colon + 1);
        goto out;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai);
    if (g != 0) {
        rc = sq_error_set(SQ_EINVAL, "invalid listen address '%s': %s", addr, gai_strerror(g));
        goto out;
    }
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
out:
    free(host);
    return rc;
}

/* A bound, listening socket for addr; *port gets the port it got. */
static int open_listener(const char *addr, int *out_fd, int *port, char **host_text)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    int rc = resolve_listen(addr, &sa, &salen);
    if (rc)
        return rc;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sq_error_set(SQ_EIO, "cannot listen on '%s': %s", addr, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, salen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int err = errno;
        close(fd);
        return sq_error_set(SQ_EIO, "cannot listen on '%s': %s%s", addr, strerror(err),
                            err == EADDRINUSE ? ": another server runs there; pick another "
                                                "--listen port (0: any free one)"
                                              : "");
    }
    socklen_t l = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &l);
    char buf[INET6_ADDRSTRLEN] = "";
    if (sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
        *port = ntohs(s6->sin6_port);
        *host_text = xasprintf("[%s]", buf);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof buf);
        *port = ntohs(s4->sin_port);
        *host_text = xstrdup(buf);
    }
    *out_fd = fd;
    return 0;
}

/* ---- start and stop ---------------------------------------------------------- */

static unsigned default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    long t = n > 0 ? 2 * n : 4;
    return (unsigned)(t < 4 ? 4 : t > 16 ? 16 : t);
}

/* Raises the soft limit on open files to the hard one: each connection is
 * a descriptor. Returns the limit now in force. */
static size_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > ((rlim_t)1 << 24) ? (size_t)1 << 24
                                                                           : (size_t)rl.rlim_cur;
}

/*
 * Sizes the connection limits from the descriptors this process may open:
 * SERVER_FD_RESERVE plus two per worker for the store, the rest for
 * connections, of which an eighth is left for connections being closed
 * (conns.h closes them asynchronously) and the policy keeps the remaining
 * seven eighths (at most SERVER_MAX_CONNECTIONS_DEFAULT unless asked).
 * *mhd_limit is libmicrohttpd's own, hard, limit.
 */
static int size_connections(const server_config *cfg, unsigned threads, conn_limits *lim,
                            unsigned *mhd_limit)
{
    size_t nofile = raise_nofile();
    size_t reserve = SERVER_FD_RESERVE + 2 * (size_t)threads;
    size_t budget = nofile > reserve + 16 ? nofile - reserve : 16;
    size_t room = budget - budget / 8;
    size_t max = cfg->max_connections                    ? cfg->max_connections
                 : room < SERVER_MAX_CONNECTIONS_DEFAULT ? room
                                                         : SERVER_MAX_CONNECTIONS_DEFAULT;
    if (max > room)
        return sq_error_set(SQ_EINVAL,
                            "cannot serve %u connections: this process may open %zu files "
                            "(ulimit -n, already raised to the hard limit), enough for %zu; "
                            "lower --max-connections or raise the hard limit (ulimit -Hn, "
                            "LimitNOFILE= in a systemd unit, nofile in limits.conf)",
                            cfg->max_connections, nofile, room);
    lim->max = max;
    lim->pending_max = max / 2 ? max / 2 : 1;
    lim->pending_per_addr = lim->pending_max / 2 ? lim->pending_max / 2 : 1;
    lim->header_timeout = SERVER_HEADER_TIMEOUT;
    *mhd_limit = (unsigned)(budget < UINT_MAX ? budget : UINT_MAX);
    return 0;
}

/* True for stores whose writes take one file lock (sqlite: or a path). */
static bool single_writer_store(const char *url)
{
    return strstr(url, "://") == NULL;
}

int server_start(server **out, const server_config *cfg)
{
    *out = NULL;
    if (!cfg->write_token || !*cfg->write_token)
        SQ_BUG("server_start without a write token");
    if (!cfg->tls_cert != !cfg->tls_key)
        return sq_error_set(SQ_EINVAL, "cannot serve TLS: give both --tls-cert and --tls-key");
    int rc = dynlib_load(&mhd_lib); /* the message says what to install */
    if (rc)
        return rc;
    if (cfg->tls_cert && mhd.is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return sq_error_set(SQ_EINVAL, "cannot serve TLS: this libmicrohttpd was built without it");

    server *srv = xmalloc(sizeof *srv);
    memset(srv, 0, sizeof *srv);
    srv->store_url = xstrdup(cfg->store_url);
    srv->reap_every = cfg->reap_every;
    stats_init(&srv->stats);
    pthread_mutex_init(&srv->write_lock, NULL);
    pthread_mutex_init(&srv->stores_lock, NULL);
    pthread_mutex_init(&srv->reap_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->reap_cond, &ca);
    pthread_condattr_destroy(&ca);
    srv->serialize_writes = single_writer_store(cfg->store_url);
    api_init(&srv->api, cfg->write_token, cfg->read_token, &srv->stats,
             srv->serialize_writes ? &srv->write_lock : NULL);

    int fd = -1;
    char *host = NULL;
    rc = store_open(&srv->reap_store, cfg->store_url);
    if (rc)
        goto fail;
    if (pthread_key_create(&srv->store_key, NULL) != 0) {
        rc = sq_error_set(SQ_ERROR, "cannot start the server: no thread key left");
        goto fail;
    }
    srv->key_made = true;
    rc = open_listener(cfg->listen ? cfg->listen : SERVER_DEFAULT_LISTEN, &fd, &srv->port, &host);
    if (rc)
        goto fail;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (cfg->tls_cert)
        flags |= MHD_USE_TLS;
    unsigned threads = cfg->threads ? cfg->threads : default_threads();
    conn_limits lim;
    unsigned mhd_limit = 0;
    rc = size_connections(cfg, threads, &lim, &mhd_limit);
    if (rc) {
        close(fd);
        goto fail;
    }
    conns_init(&srv->conns, &lim, shut_connection, &srv->stats);
    srv->conns_made = true;
    srv->max_connections = (unsigned)lim.max;
    struct MHD_OptionItem tls[] = {
        {cfg->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cfg->tls_cert},
        {cfg->tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)cfg->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = mhd.start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_HEADER_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_HEADER_MAX, MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, srv, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!srv->daemon) {
        close(fd);
        rc = sq_error_set(SQ_EINVAL,
                          cfg->tls_cert ? "cannot start the server on '%s': libmicrohttpd refused "
                                          "the TLS certificate or key (PEM expected)"
                                        : "cannot start the server on '%s': libmicrohttpd "
                                          "failed to start",
                          cfg->listen ? cfg->listen : SERVER_DEFAULT_LISTEN);
        goto fail;
    }
    srv->url = xasprintf("%s://%s:%d/", cfg->tls_cert ? "https" : "http", host, srv->port);
    free(host);
    host = NULL;

    if (srv->reap_every > 0) {
        if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
            rc = sq_error_set(SQ_ERROR, "cannot start the reaper thread: %s", strerror(errno));
            goto fail;
        }
        srv->reaper_started = true;
    }
    *out = srv;
    return 0;
fail:
    free(host);
    server_stop(srv);
    return rc;
}

unsigned server_max_connections(const server *srv)
{
    return srv->max_connections;
}

const char *server_url(const server *srv)
{
    return srv->url;
}

int server_port(const server *srv)
{
    return srv->port;
}

void server_stop(server *srv)
{
    if (!srv)
        return;
    if (srv->reaper_started) {
        pthread_mutex_lock(&srv->reap_lock);
        srv->stopping = true;
        pthread_cond_signal(&srv->reap_cond);
        pthread_mutex_unlock(&srv->reap_lock);
        pthread_join(srv->reaper, NULL);
    }
    if (srv->daemon)
        mhd.stop_daemon(srv->daemon); /* joins the workers */
    if (srv->conns_made)
        conns_destroy(&srv->conns);
    for (size_t i = 0; i < srv->nstores; i++)
        store_close(srv->stores[i]);
    free(srv->stores);
    if (srv->key_made)
        pthread_key_delete(srv->store_key);
    store_close(srv->reap_store);
    pthread_cond_destroy(&srv->reap_cond);
    pthread_mutex_destroy(&srv->reap_lock);
    pthread_mutex_destroy(&srv->stores_lock);
    pthread_mutex_destroy(&srv->write_lock);
    free(srv->store_url);
    free(srv->url);
    free(srv);
}
