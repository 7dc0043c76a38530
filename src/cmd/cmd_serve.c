/*
 * cmd_serve.c - `sweepq serve`: the HTTP API and dashboard in front of a
 * store, until SIGINT or SIGTERM.
 *
 * Its first line on stdout is always "sweepq: serving URL (store STORE)"
 * with the port it bound (scripts and tests read it; --listen with port 0
 * picks a free one). Tokens live in the project's .sweepq/ (made on the
 * first start, mode 0600, printed that once) unless --token-file or
 * --read-token-file name others. SIGINT and SIGTERM are blocked in every
 * thread and taken here with sigwait, so the server's threads never run a
 * handler and stopping is an ordinary return.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "server/server.h"
#include "server/token.h"
#include "util/workspace.h"

#include <pthread.h>
#include <signal.h>

static const sq_usage usage = {
    "serve",
    "[options]",
    "serve the store over HTTP: the JSON API for agents and the CLI, and the dashboard",
    "The first line printed is 'sweepq: serving URL (store STORE)'. Agents and verbs\n"
    "elsewhere use it with --store URL. The dashboard is at URL#token=READ_TOKEN.\n"
    "\n"
    "Every request but GET /api/v1/health and the dashboard's files needs\n"
    "'Authorization: Bearer TOKEN'. The write token (everything) is read from\n"
    "--token-file FILE, else .sweepq/server.token; the read-only token (GET\n"
    "requests and /metrics, for dashboards and scrapers) from --read-token-file\n"
    "FILE, else .sweepq/server.read-token. The .sweepq/ files are made on the first\n"
    "start (64 random hex digits, mode 0600) and printed once; clients on the same\n"
    "project find the write token there by themselves.\n"
    "\n"
    "Leases are judged by the server's clock: it expires those not renewed every\n"
    "--reap-every (default 5s). GET /metrics is Prometheus' text format. The routes\n"
    "are in docs/api.md.\n"
    "\n"
    "Limits. The token is checked from the headers, before any body is read: a\n"
    "request without one is answered 401 and its body dropped. Bodies over 8 MiB\n"
    "are refused (413), headers over 64 KiB too. Connections: serve raises its\n"
    "open-file limit to the hard one (ulimit -Hn) and keeps up to seven eighths of\n"
    "it open (at most 65536), or --max-connections N. Agents keep their connection\n"
    "between requests; it closes after 60 s of silence. A connection that has not\n"
    "sent a good token closes after 10 s of silence (or of age, when room is\n"
    "needed), and such connections never hold more than half the places (a\n"
    "quarter from one address). When all places are taken, a new connection gets\n"
    "one by closing the least recently used idle agent connection (its agent\n"
    "reconnects on its next request) or the oldest one without a token; only when\n"
    "every connection is in a request is it answered 503, and agents retry with\n"
    "jittered backoff.\n"
    "\n"
    "Binds 127.0.0.1:8600 by default: other users of the machine still reach\n"
    "loopback, which is why every request needs a token. Serve on other addresses\n"
    "with --tls-cert and --tls-key (PEM files), or behind a TLS proxy.",
    false,
};

/* url with the password of "scheme://user:password@host" as "***". */
static char *hide_password(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (!at || !colon || colon > at)
        return xstrdup(url);
    return xasprintf("%.*s:***%s", (int)(colon - url), url, at);
}

/* Loads the token named by the option, else the project's file (made when
 * missing). *path (caller frees) says where it came from. */
static int load_token(char **out, char **path, bool *created, const char *option_file,
                      const workspace *ws, const char *name)
{
    *path = option_file ? xstrdup(option_file) : xasprintf("%s/%s", ws->dir, name);
    return token_load(out, *path, option_file == NULL, created);
}

static int read_pem(char **out, const char *path, const char *what)
{
    strbuf sb = SB_INIT;
    sb_init(&sb, 1 << 20);
    int rc = sb_read_file(&sb, path);
    if (rc) {
        sb_release(&sb);
        return open_store_fail(rc, "read the TLS %s", what);
    }
    *out = sb_detach(&sb);
    return EXIT_OK;
}

/* The first lines serve prints: where it serves (tests and launch read the
 * first line), the tokens (new ones shown this once), the dashboard's URL,
 * and a warning when plain HTTP leaves this machine. */
static void print_banner(const server *srv, const char *shown, const char *wtok, const char *wpath,
                         bool wnew, const char *rtok, const char *rpath, bool rnew, bool tls)
{
    printf("sweepq: serving %s (store %s)\n", server_url(srv), shown);
    if (wnew)
        printf("sweepq: new write token, saved in %s (mode 0600; shown this once):\n  %s\n", wpath,
               wtok);
    else
        printf("sweepq: write token in %s\n", wpath);
    if (rnew)
        printf("sweepq: new read-only token, saved in %s:\n  %s\n"
               "sweepq: dashboard: %s#token=%s\n",
               rpath, rtok, server_url(srv), rtok);
    else
        printf("sweepq: read-only token in %s; dashboard: %s#token=READ_TOKEN\n", rpath,
               server_url(srv));
    fflush(stdout);
    const char *host = strstr(server_url(srv), "://") + 3;
    if (!tls && strncmp(host, "127.", 4) != 0 && strncmp(host, "[::1]", 5) != 0)
        fprintf(stderr, "sweepq: warning: plain HTTP on a non-loopback address: tokens and data "
                        "cross the network in clear; serve with --tls-cert and --tls-key\n");
}

int cmd_serve(int argc, char **argv)
{
    sq_globals g = {0};
    const char *listen = SERVER_DEFAULT_LISTEN, *read_file = NULL, *cert_file = NULL,
               *key_file = NULL;
    double reap_every = 5;
    int threads = 0, max_connections = 0;
    const sq_option opts[] = {
        OPT_STRING(0, "listen", &listen, "ADDR:PORT",
                   "address to serve on (default 127.0.0.1:8600; port 0: any free one)"),
        OPT_STRING(0, "read-token-file", &read_file, "FILE",
                   "the read-only token (default .sweepq/server.read-token)"),
        OPT_STRING(0, "tls-cert", &cert_file, "FILE", "serve HTTPS with this PEM certificate"),
        OPT_STRING(0, "tls-key", &key_file, "FILE", "the PEM private key of --tls-cert"),
        OPT_DURATION(0, "reap-every", &reap_every, "DURATION",
                     "how often expired leases are reaped (default 5s; 0: only on claims)"),
        OPT_INT(0, "threads", &threads, "N", "worker threads (default twice the CPUs, 4 to 16)"),
        OPT_INT(0, "max-connections", &max_connections, "N",
                "connections kept open (default: from the open-file limit, at most 65536)"),
        OPT_END(),
    };
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (nargs > 0)
        return options_usage_error(&usage, "unexpected argument '%s'", argv[0]);
    if (!cert_file != !key_file)
        return options_usage_error(&usage, "--tls-cert and --tls-key go together");
    if (threads < 0 || threads > 256)
        return options_usage_error(&usage, "--threads %d is not 0 to 256", threads);
    if (max_connections < 0)
        return options_usage_error(&usage, "--max-connections %d must not be negative",
                                   max_connections);
    if (reap_every < 0)
        return options_usage_error(&usage, "--reap-every must not be negative");

    workspace ws = WORKSPACE_INIT;
    char *wtok = NULL, *rtok = NULL, *wpath = NULL, *rpath = NULL, *cert = NULL, *key = NULL;
    char *shown = NULL;
    bool wnew = false, rnew = false;
    server *srv = NULL;
    int code = EXIT_OK;
    rc = workspace_open(&ws, g.store_url, true);
    if (rc) {
        code = open_store_fail(rc, "find the project to serve");
        goto out;
    }
    rc = load_token(&wtok, &wpath, &wnew, g.token_file, &ws, "server.token");
    if (rc == 0)
        rc = load_token(&rtok, &rpath, &rnew, read_file, &ws, "server.read-token");
    if (rc) {
        code = open_store_fail(rc, "load the server's tokens");
        goto out;
    }
    if (!strcmp(wtok, rtok)) {
        fprintf(stderr,
                "sweepq: the write and read-only tokens are the same ('%s' and '%s'): "
                "give each its own\n",
                wpath, rpath);
        code = EXIT_USAGE;
        goto out;
    }
    if (cert_file && (code = read_pem(&cert, cert_file, "certificate")) == EXIT_OK)
        code = read_pem(&key, key_file, "key");
    if (code)
        goto out;

    /* Blocked before any thread starts, so that all of them inherit it. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    /* A client that hangs up mid-response must cost a failed write, not
     * the process (TLS writes may not pass MSG_NOSIGNAL). */
    signal(SIGPIPE, SIG_IGN);
    server_config cfg = {
        .listen = listen,
        .store_url = ws.store_url,
        .write_token = wtok,
        .read_token = rtok,
        .tls_cert = cert,
        .tls_key = key,
        .reap_every = reap_every,
        .threads = (unsigned)threads,
        .max_connections = (unsigned)max_connections,
    };
    rc = server_start(&srv, &cfg);
    if (rc) {
        code = rc == SQ_EINVAL
                   ? (fprintf(stderr, "sweepq: cannot serve: %s\n", sq_error_msg()), EXIT_USAGE)
                   : open_store_fail(rc, "serve");
        goto out;
    }
    /* Clients in this project send its token only to the servers listed. */
    if (!g.token_file && store_http_record_server(ws.dir, server_url(srv)))
        fprintf(stderr, "sweepq: warning: %s; clients here need --token-file\n", sq_error_msg());
    shown = hide_password(ws.store_url);
    print_banner(srv, shown, wtok, wpath, wnew, rtok, rpath, rnew, cert != NULL);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    fprintf(stderr, "sweepq: %s: stopping the server\n",
            sig == SIGINT ? "interrupted" : "terminated");
out:
    server_stop(srv);
    free(shown);
    free(cert);
    free(key);
    free(wtok);
    free(rtok);
    free(wpath);
    free(rpath);
    workspace_release(&ws);
    return code;
}
