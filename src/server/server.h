/*
 * server.h - `sweepq serve`'s HTTP server: libmicrohttpd in front of one
 * store, answering the API of api.h, with a reaper thread that expires
 * leases on the server's clock.
 *
 * The server runs on its own threads from server_start to server_stop; the
 * caller only waits (cmd_serve.c waits for SIGINT/SIGTERM). Nothing a client
 * sends ends or blocks it: the token is checked from the headers before any
 * body is read, bodies over API_BODY_MAX are 413, headers over
 * SERVER_HEADER_MAX 431, and when the connections reach their limit room
 * is made by closing idle and token-less ones (conns.h's policy), never
 * a request in progress.
 *
 * Connections: the limit on open files is raised to its hard limit at
 * start and the connection limit sized from it (server.c,
 * size_connections), or set with max_connections. A connection that has
 * not shown a good token is closed after SERVER_HEADER_TIMEOUT (of silence,
 * or in all when room is needed); an agent's keep-alive connection after
 * SERVER_IDLE_TIMEOUT of silence, or earlier, least recently used first,
 * when room is needed.
 */
#ifndef SQ_SERVER_SERVER_H
#define SQ_SERVER_SERVER_H

#define SERVER_HEADER_MAX (64 * 1024)        /* bytes of request line + headers */
#define SERVER_IDLE_TIMEOUT 60               /* seconds an agent's connection may stay silent */
#define SERVER_HEADER_TIMEOUT 10             /* seconds a connection without a token is kept */
#define SERVER_MAX_CONNECTIONS_DEFAULT 65536 /* the most the default sizing picks */
#define SERVER_FD_RESERVE 64                 /* descriptors kept for other files */
#define SERVER_DEFAULT_LISTEN "127.0.0.1:8600"

typedef struct server server;

typedef struct server_config {
    const char *listen;       /* "ADDR:PORT", "[V6ADDR]:PORT" or "HOST:PORT"; port 0: any free */
    const char *store_url;    /* the store to serve */
    const char *write_token;  /* required */
    const char *read_token;   /* NULL: none */
    const char *tls_cert;     /* PEM text of the certificate chain, or NULL for plain HTTP */
    const char *tls_key;      /* PEM text of its key (with tls_cert) */
    double reap_every;        /* seconds between reaps; 0: no reaper */
    unsigned threads;         /* worker threads; 0: twice the CPUs, 4 to 16 */
    unsigned max_connections; /* 0: from the open-file limit (server.h) */
} server_config;

/*
 * Opens the store (to fail now rather than on the first request), binds
 * the address and starts serving. *out is the caller's (server_stop).
 * SQ_EINVAL: a bad address or TLS material; SQ_EIO: cannot bind (the
 * message names the address and the cause); the store's codes.
 */
int server_start(server **out, const server_config *cfg);

/* "http://127.0.0.1:PORT/" (https:// with TLS), with the bound port;
 * borrowed. */
const char *server_url(const server *srv);

/* The connection limit in force (the one asked, or the one sized). */
unsigned server_max_connections(const server *srv);

/* The bound port. */
int server_port(const server *srv);

/* Stops accepting, finishes the requests in flight, stops the reaper and
 * closes every store handle. NULL is a no-op. */
void server_stop(server *srv);

#endif
