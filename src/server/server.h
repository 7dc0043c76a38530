/*
 * server.h - `sweepq serve`'s HTTP server: libmicrohttpd in front of one
 * store, answering the API of api.h, with a reaper thread that expires
 * leases on the server's clock.
 *
 * The server runs on its own threads from server_start to server_stop; the
 * caller only waits (cmd_serve.c waits for SIGINT/SIGTERM). Nothing a client
 * sends ends or blocks it: bodies over API_BODY_MAX are 413, headers over
 * SERVER_HEADER_MAX 431, idle connections close after SERVER_IDLE_TIMEOUT,
 * and connections past SERVER_MAX_CONNECTIONS are refused at accept.
 */
#ifndef SQ_SERVER_SERVER_H
#define SQ_SERVER_SERVER_H

#define SERVER_HEADER_MAX (64 * 1024) /* bytes of request line + headers */
#define SERVER_IDLE_TIMEOUT 60        /* seconds a connection may stay silent */
#define SERVER_MAX_CONNECTIONS 512
#define SERVER_DEFAULT_LISTEN "127.0.0.1:8600"

typedef struct server server;

typedef struct server_config {
    const char *listen;      /* "ADDR:PORT", "[V6ADDR]:PORT" or "HOST:PORT"; port 0: any free */
    const char *store_url;   /* the store to serve */
    const char *write_token; /* required */
    const char *read_token;  /* NULL: none */
    const char *tls_cert;    /* PEM text of the certificate chain, or NULL for plain HTTP */
    const char *tls_key;     /* PEM text of its key (with tls_cert) */
    double reap_every;       /* seconds between reaps; 0: no reaper */
    unsigned threads;        /* worker threads; 0: twice the CPUs, 4 to 16 */
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

/* The bound port. */
int server_port(const server *srv);

/* Stops accepting, finishes the requests in flight, stops the reaper and
 * closes every store handle. NULL is a no-op. */
void server_stop(server *srv);

#endif
