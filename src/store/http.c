/*
 * http.c - the http(s):// store backend: every slot is one request to a
 * `sweepq serve` (HTTP API v1, docs/api.md), with the
 * JSON codec of wire.c. The server's store judges leases by the server's
 * clock, so this backend holds no state beyond its connection.
 *
 * Invariants:
 *   - One libcurl easy handle per store handle, reused for every request
 *     (keep-alive); a store handle is used by one thread at a time, like
 *     every store handle.
 *   - Connection failures, timeouts and 5xx answers without an error body
 *     are SQ_EIO (transient: callers retry); an error body maps back to its
 *     SQ_E* code with the server's message.
 *   - A 2xx answer that cannot be used (not JSON, a field missing or of the
 *     wrong type, a claim listed twice, more claims than asked for, a claim
 *     of another sweep) is SQ_EIO too, as if it had been lost on the way:
 *     the caller sends the same request again (a claim with the same
 *     request id gets the same trials back), where a permanent error would
 *     strand what the server did for it. Nothing of such an answer is used.
 *   - Messages name the store by its URL with any user:password hidden.
 *   - The token is read once at open: $SWEEPQ_TOKEN, else the file
 *     $SWEEPQ_TOKEN_FILE (the CLI's --token-file), else the project's
 *     .sweepq/server.token found by walking up from the working directory,
 *     and that one only when the store's origin is listed in the project's
 *     .sweepq/server.url (store.h: a token goes to its own server only).
 *   - https:// verifies the server's certificate, against the system's CAs
 *     or the PEM file $SWEEPQ_CA_FILE (a self-signed server's certificate);
 *     a certificate refused is SQ_EINVAL, not worth retrying.
 *   - libcurl is not linked: the first open loads libcurl.so.4 with dlopen
 *     (util/dynlib.h) and calls go through the table cu (cu.easy_perform is
 *     curl_easy_perform), so an agent on a SQLite store never maps libcurl
 *     and the TLS, SSH, Kerberos and LDAP libraries it pulls in.
 */
#include "util/common.h"

#include "store/backend.h"
#include "store/wire.h"
#include "util/dynlib.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <curl/curl.h> /* the types; the functions come from dynlib_load(&curl_lib) */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <strings.h>
#include <unistd.h>

/* Answers bigger than this are refused (a whole sweep's listing fits). */
#define HTTP_RESPONSE_MAX ((size_t)512 << 20)
#define HTTP_CONNECT_TIMEOUT_MS 5000L
#define HTTP_TOTAL_TIMEOUT_MS 30000L

typedef struct http_store {
    struct store base;
    CURL *curl;
    char *base_url; /* "http://host:port[/prefix]" without a trailing '/' */
    char *shown;    /* the URL with user:password hidden, for messages */
    struct curl_slist *headers;
    strbuf resp; /* the last response's body */
    long status; /* the last response's HTTP status */
    char errbuf[CURL_ERROR_SIZE];
} http_store;

/* ---- libcurl, loaded at run time ------------------------------------------ */

/* libcurl's functions that this file calls, each named as in libcurl minus
 * the "curl_" prefix; typed from curl/curl.h, so a call is checked as a
 * direct one (curl_easy_setopt's variadic argument is passed as it is). */
static struct {
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_escape) *easy_escape;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_free) *free;
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
} cu;

/* Every slot of cu with its symbol (the static assert below keeps the two
 * lists the same length). */
static const dynlib_symbol curl_symbols[] = {
    {"curl_easy_cleanup", (void **)&cu.easy_cleanup},
    {"curl_easy_escape", (void **)&cu.easy_escape},
    {"curl_easy_getinfo", (void **)&cu.easy_getinfo},
    {"curl_easy_init", (void **)&cu.easy_init},
    {"curl_easy_perform", (void **)&cu.easy_perform},
    {"curl_easy_setopt", (void **)&cu.easy_setopt},
    {"curl_easy_strerror", (void **)&cu.easy_strerror},
    {"curl_free", (void **)&cu.free},
    {"curl_global_init", (void **)&cu.global_init},
    {"curl_slist_append", (void **)&cu.slist_append},
    {"curl_slist_free_all", (void **)&cu.slist_free_all},
};
_Static_assert(sizeof cu == ARRAY_SIZE(curl_symbols) * sizeof(void (*)(void)),
               "cu and curl_symbols must list the same functions");

/* libcurl wants curl_global_init once, before any other call and while no
 * other thread uses it: dynlib_load runs this once, under its lock. */
static const char *curl_start(void)
{
    CURLcode cc = cu.global_init(CURL_GLOBAL_DEFAULT);
    return cc == CURLE_OK ? NULL : cu.easy_strerror(cc);
}

static dynlib curl_lib = {
    .soname = "libcurl.so.4",
    .what = "libcurl",
    .package = "libcurl4",
    .symbols = curl_symbols,
    .nsymbols = ARRAY_SIZE(curl_symbols),
    .start = curl_start,
};

/* ---- opening --------------------------------------------------------------- */

/* The URL with "user:password@" replaced by "***@". */
static char *hide_credentials(const char *url)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t host_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', host_len);
    if (!at)
        return xstrdup(url);
    return xasprintf("%.*s***%s", (int)(auth - url), url, at);
}

/* Reads the first line of a token file into *out (caller frees). */
static int read_token_file(char **out, const char *path)
{
    strbuf sb;
    sb_init(&sb, 4096);
    int rc = sb_read_file(&sb, path);
    if (rc < 0) {
        sb_release(&sb);
        return sq_error_set(rc, "cannot read token file '%s': %s", path, sq_error_msg());
    }
    char *t = sb_detach(&sb);
    t[strcspn(t, "\r\n")] = '\0';
    if (!*t) {
        free(t);
        return sq_error_set(SQ_EINVAL, "token file '%s' is empty: write the server's token in it",
                            path);
    }
    *out = t;
    return 0;
}

/* "scheme://host:port" of url, lower-case, with the scheme's default port
 * made explicit; NULL when url is not http(s)://HOST[:PORT][/...]. */
static char *url_origin(const char *url)
{
    const char *scheme = strncasecmp(url, "https://", 8) == 0  ? "https"
                         : strncasecmp(url, "http://", 7) == 0 ? "http"
                                                               : NULL;
    if (!scheme)
        return NULL;
    const char *host = url + strlen(scheme) + 3;
    size_t len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', len); /* user:password@ is no part of it */
    if (at) {
        len -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    const char *end = host + len;
    const char *colon = NULL;
    if (*host == '[') {
        const char *rb = memchr(host, ']', len);
        if (!rb)
            return NULL;
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(host, ':', len);
    }
    size_t hlen = colon ? (size_t)(colon - host) : len;
    const char *port = colon ? colon + 1 : (strcmp(scheme, "https") ? "80" : "443");
    size_t plen = colon ? (size_t)(end - port) : strlen(port);
    if (hlen == 0 || plen == 0)
        return NULL;
    char *o = xasprintf("%s://%.*s:%.*s", scheme, (int)hlen, host, (int)plen, port);
    for (char *p = o; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return o;
}

/* Whether the origin of url is a line of the file path. */
static bool origin_listed(const char *path, const char *url)
{
    char *want = url_origin(url);
    strbuf sb;
    sb_init(&sb, 1 << 20);
    bool found = false;
    if (want && sb_read_file(&sb, path) == 0) {
        for (char *line = sb.buf; line && *line && !found;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            char *have = url_origin(line);
            found = have && strcmp(have, want) == 0;
            free(have);
            line = nl ? nl + 1 : NULL;
        }
    }
    sq_error_clear();
    sb_release(&sb);
    free(want);
    return found;
}

int store_http_record_server(const char *dir, const char *url)
{
    char *origin = url_origin(url);
    if (!origin)
        return sq_error_set(SQ_EINVAL, "cannot record server '%s': not an http(s) URL", url);
    char *path = xasprintf("%s/server.url", dir);
    const char *scheme_end = strstr(origin, "://") + 3;
    const char *port = strrchr(origin, ':');
    char *lines[3] = {NULL, NULL, NULL};
    bool wildcard = strncmp(scheme_end, "0.0.0.0:", 8) == 0 || strncmp(scheme_end, "[::]:", 5) == 0;
    if (wildcard) {
        int slen = (int)(scheme_end - origin);
        lines[0] = xasprintf("%.*s127.0.0.1%s", slen, origin, port);
        lines[1] = xasprintf("%.*s[::1]%s", slen, origin, port);
        lines[2] = xasprintf("%.*slocalhost%s", slen, origin, port);
    } else {
        lines[0] = xstrdup(origin);
    }
    int rc = 0;
    for (size_t i = 0; i < ARRAY_SIZE(lines) && lines[i] && rc == 0; i++) {
        if (origin_listed(path, lines[i]))
            continue;
        /* O_APPEND: servers starting at once each add their line whole. */
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        char *text = xasprintf("%s\n", lines[i]);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
            rc = sq_error_set(SQ_EIO, "cannot write '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(text);
    }
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
        free(lines[i]);
    free(path);
    free(origin);
    return rc;
}

/* The token file of the nearest project (.sweepq/) above the working
 * directory, or NULL when that project has none, there is no project, or
 * url is not one of the project's own servers (store.h). */
static char *find_project_token(const char *url)
{
    char *dir = getcwd(NULL, 0);
    char *found = NULL;
    while (dir) {
        const char *d = dir[1] ? dir : ""; /* "/" + "/.sweepq" is "//.sweepq" */
        char *proj = xasprintf("%s/.sweepq", d);
        bool is_project = access(proj, F_OK) == 0;
        free(proj);
        if (is_project) {
            char *p = xasprintf("%s/.sweepq/server.token", d);
            char *servers = xasprintf("%s/.sweepq/server.url", d);
            if (access(p, F_OK) == 0 && origin_listed(servers, url))
                found = p;
            else
                free(p);
            free(servers);
            break;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || !dir[1])
            break;
        slash[slash == dir ? 1 : 0] = '\0';
    }
    free(dir);
    return found;
}

/* *out: the bearer token for the store at url, or NULL when none is
 * configured for it. */
static int find_token(char **out, const char *url)
{
    *out = NULL;
    const char *env = getenv("SWEEPQ_TOKEN");
    if (env && *env) {
        *out = xstrdup(env);
        return 0;
    }
    const char *file = getenv("SWEEPQ_TOKEN_FILE");
    if (file && *file)
        return read_token_file(out, file);
    char *path = find_project_token(url);
    int rc = path ? read_token_file(out, path) : 0;
    free(path);
    return rc;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    http_store *h = arg;
    size_t n = size * nmemb;
    return sb_add(&h->resp, data, n) == 0 ? n : 0; /* 0: curl fails the transfer */
}

/* A trial the agent spawns must not inherit the connection to the server. */
static int on_socket(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0)
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    return CURL_SOCKOPT_OK;
}

static void http_close(store *st)
{
    http_store *h = (http_store *)st;
    if (h->curl)
        cu.easy_cleanup(h->curl);
    if (h->headers) /* none when libcurl could not be loaded */
        cu.slist_free_all(h->headers);
    sb_release(&h->resp);
    free(h->base_url);
    free(h->shown);
    free(h);
}

static int http_open(store **out, const char *url, const char *location)
{
    http_store *h = xcalloc(1, sizeof(*h));
    char *token = NULL;
    h->shown = hide_credentials(url);
    sb_init(&h->resp, HTTP_RESPONSE_MAX);
    int rc = dynlib_load(&curl_lib);
    if (rc) {
        rc = sq_error_set(rc, "cannot open store '%s': %s", h->shown, sq_error_msg());
        goto out;
    }
    if (strncmp(location, "//", 2) != 0 || !location[2]) {
        rc = sq_error_set(SQ_EINVAL, "cannot open store '%s': expected http://HOST:PORT", h->shown);
        goto out;
    }
    h->base_url = xstrdup(url);
    size_t len = strlen(h->base_url);
    while (len && h->base_url[len - 1] == '/')
        h->base_url[--len] = '\0';
    rc = find_token(&token, url);
    if (rc < 0)
        goto out;
    h->curl = cu.easy_init();
    if (!h->curl) {
        rc = sq_error_set(SQ_ERROR, "cannot open store '%s': libcurl failed to start", h->shown);
        goto out;
    }
    h->headers = cu.slist_append(NULL, "Content-Type: application/json");
    h->headers = cu.slist_append(h->headers, "Expect:"); /* no 100-continue round trip */
    if (token) {
        char *auth = xasprintf("Authorization: Bearer %s", token);
        h->headers = cu.slist_append(h->headers, auth);
        free(auth);
    }
    cu.easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    cu.easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, HTTP_CONNECT_TIMEOUT_MS);
    cu.easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, HTTP_TOTAL_TIMEOUT_MS);
    cu.easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    cu.easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    cu.easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    cu.easy_setopt(h->curl, CURLOPT_SOCKOPTFUNCTION, on_socket);
    cu.easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
    cu.easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    cu.easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    cu.easy_setopt(h->curl, CURLOPT_USERAGENT, "sweepq/" SQ_VERSION);
    const char *ca = getenv("SWEEPQ_CA_FILE"); /* e.g. a self-signed server's certificate */
    if (ca && *ca)
        cu.easy_setopt(h->curl, CURLOPT_CAINFO, ca);
out:
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    if (rc < 0) {
        http_close(&h->base);
        return rc;
    }
    *out = &h->base;
    return 0;
}

/* ---- requests ---------------------------------------------------------------- */

/* Maps a failed answer (status >= 300) to an SQ_E* code and message. */
static int answer_error(http_store *h, const char *method, const char *path)
{
    json_error_t jerr;
    json_t *body = json_loadb(h->resp.buf ? h->resp.buf : "", h->resp.len, 0, &jerr);
    int rc = body ? wire_error_decode(body) : 0;
    json_decref(body);
    if (rc == SQ_EACCES) /* the server's words say what it wants; ours, where we look */
        return sq_error_set(rc,
                            "store '%s' refused this client: %s (this client sends $SWEEPQ_TOKEN, "
                            "else the file of --token-file, else the nearest "
                            ".sweepq/server.token, that one only to a server listed in "
                            ".sweepq/server.url)",
                            h->shown, sq_error_msg());
    if (rc < 0)
        return rc;
    if (h->status >= 500 || h->status == 408 || h->status == 429)
        return sq_error_set(SQ_EIO, "store '%s' answered %s %s with HTTP %ld: retry later",
                            h->shown, method, path, h->status);
    return sq_error_set(SQ_ERROR,
                        "store '%s' answered %s %s with HTTP %ld and no error body: is it a "
                        "sweepq server?",
                        h->shown, method, path, h->status);
}

/* The failures of TLS set-up that no retry can mend: the server's
 * certificate is not trusted, or the CA file cannot be read. */
static bool is_tls_refusal(CURLcode cc)
{
    return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
           cc == CURLE_SSL_CERTPROBLEM;
}

/*
 * Sends one request. body (may be NULL; its reference is taken) is sent as
 * JSON. On 2xx: 0 and, when out is given, *out the parsed JSON answer (the
 * caller decrefs); the raw body stays in h->resp either way.
 */
static int request(http_store *h, const char *method, const char *path, json_t *body, json_t **out)
{
    char *text = NULL, *url = NULL;
    int rc = 0;
    if (out)
        *out = NULL;
    if (!body && strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0)
        return sq_error_set(SQ_EINVAL, "cannot send %s %s: a string in it is not valid UTF-8",
                            method, path);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text)
            return sq_error_set(SQ_EINVAL, "cannot send %s %s: the request is not valid JSON text",
                                method, path);
    }
    url = xasprintf("%s%s", h->base_url, path);
    sb_reset(&h->resp);
    h->errbuf[0] = '\0';
    h->status = 0;
    cu.easy_setopt(h->curl, CURLOPT_URL, url);
    if (text) {
        cu.easy_setopt(h->curl, CURLOPT_POSTFIELDS, text);
        cu.easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    } else {
        cu.easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    }
    cu.easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);

    CURLcode cc = cu.easy_perform(h->curl);
    cu.easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
    if (cc == CURLE_WRITE_ERROR) {
        rc = sq_error_set(SQ_ERROR, "store '%s' answered %s %s with more than %zu bytes", h->shown,
                          method, path, HTTP_RESPONSE_MAX);
    } else if (cc != CURLE_OK && is_tls_refusal(cc)) {
        /* Not transient: retrying would never succeed. */
        rc = sq_error_set(SQ_EINVAL,
                          "cannot reach store '%s' (%s %s): %s: to trust the server's "
                          "certificate, set SWEEPQ_CA_FILE to it (PEM)",
                          h->shown, method, path, h->errbuf[0] ? h->errbuf : cu.easy_strerror(cc));
    } else if (cc != CURLE_OK) {
        rc = sq_error_set(SQ_EIO, "cannot reach store '%s' (%s %s): %s: is `sweepq serve` running?",
                          h->shown, method, path, h->errbuf[0] ? h->errbuf : cu.easy_strerror(cc));
    } else if (h->status < 200 || h->status >= 300) {
        rc = answer_error(h, method, path);
    } else if (out) {
        json_error_t jerr;
        *out = json_loadb(h->resp.buf ? h->resp.buf : "", h->resp.len, 0, &jerr);
        if (!*out)
            rc = sq_error_set(SQ_EIO,
                              "store '%s' answered %s %s with a body that is not JSON (%s): "
                              "sending it again",
                              h->shown, method, path, jerr.text);
    }
    /* libcurl keeps the POSTFIELDS pointer: forget it before freeing. */
    cu.easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    free(text);
    free(url);
    return rc;
}

/* rc from decoding a 2xx answer: a decoding error becomes SQ_EIO (see the
 * invariants: the request is sent again), its message kept. */
static int usable(int rc)
{
    if (rc >= 0)
        return rc;
    return sq_error_set(SQ_EIO, "the store's answer cannot be used, sending the request again: %s",
                        sq_error_msg());
}

/* An answer's field that must be there; SQ_EIO otherwise. */
static int answer_field(const json_t **v, const json_t *ans, const char *field, const char *what)
{
    *v = json_object_get(ans, field);
    if (!*v)
        return usable(sq_error_set(SQ_ERROR, "the answer to %s has no '%s'", what, field));
    return 0;
}

static int answer_count(uint64_t *out, const json_t *ans, const char *field, const char *what)
{
    const json_t *v;
    int rc = answer_field(&v, ans, field, what);
    if (rc == 0 && (!json_is_integer(v) || json_integer_value(v) < 0))
        rc = usable(sq_error_set(SQ_ERROR, "the answer to %s: '%s' is not a count", what, field));
    if (rc == 0)
        *out = (uint64_t)json_integer_value(v);
    return rc;
}

/* Appends s percent-encoded. */
static void add_escaped(http_store *h, strbuf *sb, const char *s)
{
    char *e = cu.easy_escape(h->curl, s, 0);
    if (!e)
        SQ_BUG("curl_easy_escape failed");
    sb_adds(sb, e);
    cu.free(e);
}

/* "/api/v1/sweeps/NAME" + suffix, NAME percent-encoded; caller frees. */
static char *sweep_path(http_store *h, const char *name, const char *suffix)
{
    strbuf sb = SB_INIT;
    sb_adds(&sb, "/api/v1/sweeps/");
    add_escaped(h, &sb, name);
    sb_adds(&sb, suffix);
    return sb_detach(&sb);
}

/* ---- the slots ----------------------------------------------------------------- */

static double http_now(store *st)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    double now = 0;
    if (request(h, "GET", "/api/v1/time", NULL, &ans) == 0 &&
        json_is_number(json_object_get(ans, "now")))
        now = json_number_value(json_object_get(ans, "now"));
    json_decref(ans);
    /* store_now cannot fail: an unreachable server's clock is ours. */
    return now > 0 ? now : time_now();
}

/* The most bytes of trial definitions one request carries: well under the
 * server's body limit (8 MiB), so a big grid goes in several requests. */
#define HTTP_TRIALS_BUDGET ((size_t)3 << 20)

/* How many of the n trials from t fit in budget bytes of JSON (at least
 * one): each costs its strings, doubled for escaping, and its field names. */
static size_t trials_that_fit(const store_trial_def *t, size_t n, size_t budget)
{
    size_t used = 0, k = 0;
    while (k < n) {
        size_t cost = 2 * (strlen(t[k].key) + strlen(t[k].params_json)) + 80;
        if (k > 0 && used + cost > budget)
            break;
        used += cost;
        k++;
    }
    return k;
}

/* POST /api/v1/sweeps/ID/trials of n trials, in requests within budget. */
static int post_trials(http_store *h, int64_t sweep_id, const store_trial_def *trials, size_t n,
                       uint64_t *out_added)
{
    char *path = xasprintf("/api/v1/sweeps/%lld/trials", (long long)sweep_id);
    uint64_t total = 0;
    size_t off = 0;
    int rc = 0;
    do { /* at least one request: adding nothing still checks the sweep */
        const store_trial_def *t = n ? trials + off : NULL;
        size_t k = n ? trials_that_fit(t, n - off, HTTP_TRIALS_BUDGET) : 0;
        json_t *ans = NULL, *body = json_object();
        json_object_set_new(body, "trials", wire_trial_defs_encode(t, k));
        uint64_t added = 0;
        rc = request(h, "POST", path, body, &ans);
        if (rc == 0)
            rc = answer_count(&added, ans, "added", "adding trials");
        total += added;
        off += k;
        json_decref(ans);
    } while (rc == 0 && off < n);
    if (rc == 0)
        *out_added = total;
    free(path);
    return rc;
}

/* The sweep and the trials that fit in one request first; the rest are
 * added to it as store_add_trials would, as the agent's registration of a
 * big grid does chunk by chunk. */
static int http_create_sweep(store *st, const store_sweep_def *def, int64_t *out_id,
                             uint64_t *out_added)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    uint64_t id = 0, added = 0, more = 0;
    store_sweep_def first = *def;
    first.ntrials = trials_that_fit(def->trials, def->ntrials, HTTP_TRIALS_BUDGET);
    int rc = request(h, "POST", "/api/v1/sweeps", wire_sweep_def_encode(&first), &ans);
    if (rc == 0)
        rc = answer_count(&id, ans, "id", "creating a sweep");
    if (rc == 0)
        rc = answer_count(&added, ans, "added", "creating a sweep");
    if (rc == 0 && first.ntrials < def->ntrials)
        rc = post_trials(h, (int64_t)id, def->trials + first.ntrials, def->ntrials - first.ntrials,
                         &more);
    if (rc == 0) {
        *out_id = (int64_t)id;
        *out_added = added + more;
    }
    json_decref(ans);
    return rc;
}

static int http_add_trials(store *st, int64_t sweep_id, const store_trial_def *trials, size_t n,
                           uint64_t *out_added)
{
    return post_trials((http_store *)st, sweep_id, trials, n, out_added);
}

static int http_get_sweep(store *st, const char *name, store_sweep **out)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    char *path = sweep_path(h, name, "");
    int rc = request(h, "GET", path, NULL, &ans);
    if (rc == 0)
        rc = usable(wire_sweep_decode(out, ans));
    json_decref(ans);
    free(path);
    return rc;
}

static int http_list_sweeps(store *st, const store_sweep_filter *f, store_sweep **out, size_t *n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    strbuf path = SB_INIT;
    char sep = '?';
    sb_adds(&path, "/api/v1/sweeps");
    for (size_t i = 0; i < f->nnames; i++, sep = '&') {
        sb_addf(&path, "%cname=", sep);
        add_escaped(h, &path, f->names[i]);
    }
    if (f->tag) {
        sb_addf(&path, "%ctag=", sep);
        add_escaped(h, &path, f->tag);
        sep = '&';
    }
    if (f->since > 0) {
        sb_addf(&path, "%csince=%.6f", sep, f->since);
        sep = '&';
    }
    if (f->runnable_only)
        sb_addf(&path, "%crunnable=1", sep);
    int rc = request(h, "GET", sb_str(&path), NULL, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "sweeps", "listing sweeps");
    if (rc == 0)
        rc = usable(wire_sweeps_decode(out, n, list));
    json_decref(ans);
    sb_release(&path);
    return rc;
}

static int http_set_sweep_state(store *st, const char *name, sweep_state state)
{
    http_store *h = (http_store *)st;
    char *path = sweep_path(h, name, "/state");
    json_t *body = json_pack("{s:s}", "state", sweep_state_name(state));
    int rc = request(h, "POST", path, body, NULL);
    free(path);
    return rc;
}

static int http_cancel(store *st, const char *name, uint64_t *out_n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    char *path = sweep_path(h, name, "/cancel");
    int rc = request(h, "POST", path, json_object(), &ans);
    if (rc == 0)
        rc = answer_count(out_n, ans, "cancelled", "cancelling");
    json_decref(ans);
    free(path);
    return rc;
}

static int http_retry(store *st, const char *name, bool failed, bool cancelled, uint64_t *out_n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    char *path = sweep_path(h, name, "/retry");
    json_t *body = json_pack("{s:b,s:b}", "failed", failed, "cancelled", cancelled);
    int rc = request(h, "POST", path, body, &ans);
    if (rc == 0)
        rc = answer_count(out_n, ans, "retried", "retrying");
    json_decref(ans);
    free(path);
    return rc;
}

static int http_gc(store *st, double before, char ***out_names, size_t *out_n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    int rc = request(h, "POST", "/api/v1/gc", json_pack("{s:f}", "before", before), &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "deleted", "collecting garbage");
    if (rc == 0 && !json_is_array(list))
        rc = usable(sq_error_set(SQ_ERROR, "the answer to collecting garbage: 'deleted' is not "
                                           "an array"));
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        if (!json_is_string(json_array_get(list, i)))
            rc = usable(sq_error_set(SQ_ERROR, "the answer to collecting garbage: 'deleted' "
                                               "holds a non-string"));
    }
    if (rc == 0) {
        size_t n = json_array_size(list);
        char **names = n ? xcalloc(n, sizeof(*names)) : NULL;
        for (size_t i = 0; i < n; i++)
            names[i] = xstrdup(json_string_value(json_array_get(list, i)));
        *out_names = names;
        *out_n = n;
    }
    json_decref(ans);
    return rc;
}

static int http_claim_completion(store *st, int64_t sweep_id, const char *by, bool *won)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *v;
    char *path = xasprintf("/api/v1/sweeps/%lld/completion", (long long)sweep_id);
    int rc = request(h, "POST", path, json_pack("{s:s}", "by", by), &ans);
    if (rc == 0)
        rc = answer_field(&v, ans, "won", "claiming completion");
    if (rc == 0 && !json_is_boolean(v))
        rc = usable(sq_error_set(SQ_ERROR, "the answer to claiming completion: 'won' is not a "
                                           "boolean"));
    if (rc == 0)
        *won = json_is_true(v);
    json_decref(ans);
    free(path);
    return rc;
}

static int http_complete_update(store *st, int64_t sweep_id, const char *by, completion_update what)
{
    static const char *const names[] = {[COMPLETION_RENEW] = "renew",
                                        [COMPLETION_SUCCEEDED] = "succeeded",
                                        [COMPLETION_FAILED] = "failed"};
    http_store *h = (http_store *)st;
    char *path = xasprintf("/api/v1/sweeps/%lld/completion/update", (long long)sweep_id);
    json_t *body = json_pack("{s:s,s:s}", "by", by, "update", names[what]);
    int rc = request(h, "POST", path, body, NULL);
    free(path);
    return rc;
}

static int http_list_trials(store *st, const store_trial_query *q, store_trial **out, size_t *n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    char *base = sweep_path(h, q->sweep, "/trials");
    strbuf path = SB_INIT;
    char sep = '?';
    sb_adds(&path, base);
    if (q->state >= 0) {
        sb_addf(&path, "%cstate=%s", sep, trial_state_name((trial_state)q->state));
        sep = '&';
    }
    if (q->sort_metric) {
        sb_addf(&path, "%csort=", sep);
        add_escaped(h, &path, q->sort_metric);
        sep = '&';
    }
    if (q->descending) {
        sb_addf(&path, "%cdesc=1", sep);
        sep = '&';
    }
    if (q->limit)
        sb_addf(&path, "%climit=%zu", sep, q->limit);
    int rc = request(h, "GET", sb_str(&path), NULL, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "trials", "listing trials");
    if (rc == 0)
        rc = usable(wire_trials_decode(out, n, list));
    json_decref(ans);
    sb_release(&path);
    free(base);
    return rc;
}

static int http_get_trial(store *st, const char *sweep, uint64_t number, store_trial **out)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    char suffix[48];
    snprintf(suffix, sizeof suffix, "/trials/%llu", (unsigned long long)number);
    char *path = sweep_path(h, sweep, suffix);
    int rc = request(h, "GET", path, NULL, &ans);
    if (rc == 0)
        rc = usable(wire_trial_decode(out, ans));
    json_decref(ans);
    free(path);
    return rc;
}

static int http_list_attempts(store *st, int64_t trial_id, store_attempt **out, size_t *n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    char *path = xasprintf("/api/v1/trials/%lld/attempts", (long long)trial_id);
    int rc = request(h, "GET", path, NULL, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "attempts", "listing attempts");
    if (rc == 0)
        rc = usable(wire_attempts_decode(out, n, list));
    json_decref(ans);
    free(path);
    return rc;
}

static int http_register_agent(store *st, const store_agent_info *a)
{
    return request((http_store *)st, "POST", "/api/v1/agents", wire_agent_info_encode(a), NULL);
}

static int http_deregister_agent(store *st, const char *agent_id)
{
    http_store *h = (http_store *)st;
    strbuf path = SB_INIT;
    sb_adds(&path, "/api/v1/agents/");
    add_escaped(h, &path, agent_id);
    int rc = request(h, "DELETE", sb_str(&path), NULL, NULL);
    sb_release(&path);
    return rc;
}

static int http_list_agents(store *st, store_agent **out, size_t *n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    int rc = request(h, "GET", "/api/v1/agents", NULL, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "agents", "listing agents");
    if (rc == 0)
        rc = usable(wire_agents_decode(out, n, list));
    json_decref(ans);
    return rc;
}

/* 0 when claims c[0..n) can be what the server handed this agent: at most
 * max, all of sweep_id, no trial twice, attempts from 1. Else SQ_ERROR with
 * the first problem: running such a list would run a trial twice at one
 * attempt, or one this agent never asked for. */
static int check_claims(const store_claimed *c, size_t n, int64_t sweep_id, size_t max)
{
    if (n > max)
        return sq_error_set(SQ_ERROR, "%zu claims in the answer to a claim of at most %zu", n, max);
    for (size_t i = 0; i < n; i++) {
        if (c[i].sweep_id != sweep_id || c[i].attempt < 1)
            return sq_error_set(SQ_ERROR,
                                "the answer holds trial %lld of sweep %lld at attempt %d, not "
                                "a claim of sweep %lld",
                                (long long)c[i].trial_id, (long long)c[i].sweep_id, c[i].attempt,
                                (long long)sweep_id);
        for (size_t k = 0; k < i; k++) {
            if (c[k].trial_id == c[i].trial_id)
                return sq_error_set(SQ_ERROR, "the answer lists trial %lld twice",
                                    (long long)c[i].trial_id);
        }
    }
    return 0;
}

/* store_claim_request: "request_id" goes in the body only when there is one. */
static int http_claim_request(store *st, const char *agent_id, const char *request_id,
                              int64_t sweep_id, size_t max, store_claimed **out, size_t *n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    json_t *body =
        json_pack("{s:s,s:I,s:I}", "agent_id", agent_id, "sweep_id", (json_int_t)sweep_id, "max",
                  (json_int_t)(max > INT64_MAX ? INT64_MAX : max));
    if (request_id)
        json_object_set_new(body, "request_id", json_string(request_id));
    int rc = request(h, "POST", "/api/v1/claims", body, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "claims", "claiming trials");
    if (rc == 0)
        rc = usable(wire_claims_decode(out, n, list));
    if (rc == 0)
        rc = usable(check_claims(*out, *n, sweep_id, max));
    if (rc < 0) {
        store_claims_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    json_decref(ans);
    return rc;
}

static int http_claim(store *st, const char *agent_id, int64_t sweep_id, size_t max,
                      store_claimed **out, size_t *n)
{
    return http_claim_request(st, agent_id, NULL, sweep_id, max, out, n);
}

static int http_add_claim(store *st, const char *agent_id, int64_t sweep_id,
                          const store_trial_def *def, store_claimed **out, size_t *n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    char *path = xasprintf("/api/v1/sweeps/%lld/proposals", (long long)sweep_id);
    json_t *body =
        json_pack("{s:s,s:o}", "agent_id", agent_id, "trial", wire_trial_def_encode(def));
    int rc = request(h, "POST", path, body, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "claims", "adding a proposed trial");
    if (rc == 0)
        rc = wire_claims_decode(out, n, list);
    json_decref(ans);
    free(path);
    return rc;
}

static int http_heartbeat(store *st, const char *agent_id, store_lease *leases, size_t n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    store_lease *got = NULL;
    size_t ngot = 0;
    json_t *body = json_pack("{s:s,s:o}", "agent_id", agent_id, "leases",
                             wire_leases_encode(leases, n, false));
    int rc = request(h, "POST", "/api/v1/heartbeats", body, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "leases", "renewing leases");
    if (rc == 0)
        rc = usable(wire_leases_decode(&got, &ngot, list, true));
    if (rc == 0 && ngot != n)
        rc =
            usable(sq_error_set(SQ_ERROR, "%zu leases in the answer for the %zu renewed", ngot, n));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (got[i].trial_id != leases[i].trial_id || got[i].attempt != leases[i].attempt)
            rc = usable(sq_error_set(SQ_ERROR, "the answer lists the leases out of order"));
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        leases[i].lost = got[i].lost;
        leases[i].cancel = got[i].cancel;
    }
    free(got);
    json_decref(ans);
    return rc;
}

static int http_finish(store *st, int64_t trial_id, int attempt, const store_result *r)
{
    http_store *h = (http_store *)st;
    char *path = xasprintf("/api/v1/trials/%lld/finish", (long long)trial_id);
    int rc = request(h, "POST", path, wire_finish_encode(attempt, r), NULL);
    free(path);
    return rc;
}

static int http_append_metrics(store *st, int64_t trial_id, int attempt, const char *rows_json)
{
    http_store *h = (http_store *)st;
    char *path = xasprintf("/api/v1/trials/%lld/metrics", (long long)trial_id);
    json_t *rows = json_string(rows_json);
    int rc = rows ? 0
                  : sq_error_set(SQ_EINVAL,
                                 "cannot append metrics of trial %lld: the rows are "
                                 "not valid UTF-8",
                                 (long long)trial_id);
    if (rc == 0)
        rc = request(h, "POST", path, json_pack("{s:i,s:o}", "attempt", attempt, "rows", rows),
                     NULL);
    free(path);
    return rc;
}

static int http_get_metrics(store *st, int64_t trial_id, char **out_json)
{
    http_store *h = (http_store *)st;
    char *path = xasprintf("/api/v1/trials/%lld/metrics", (long long)trial_id);
    int rc = request(h, "GET", path, NULL, NULL);
    if (rc == 0)
        *out_json = xstrndup(h->resp.buf ? h->resp.buf : "", h->resp.len);
    free(path);
    return rc;
}

static int http_band_values(store *st, int64_t sweep_id, const char *name, uint64_t step,
                            bool completed_only, double **out, size_t *n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    const json_t *list;
    strbuf path = SB_INIT;
    sb_addf(&path, "/api/v1/sweeps/%lld/values?name=", (long long)sweep_id);
    add_escaped(h, &path, name);
    sb_addf(&path, "&step=%llu%s", (unsigned long long)step, completed_only ? "&completed=1" : "");
    int rc = request(h, "GET", sb_str(&path), NULL, &ans);
    if (rc == 0)
        rc = answer_field(&list, ans, "values", "reading the values at a step");
    if (rc == 0 && !json_is_array(list))
        rc = sq_error_set(SQ_ERROR, "store '%s' answered a values request with no array", h->shown);
    size_t len = rc == 0 ? json_array_size(list) : 0;
    double *v = len ? xcalloc(len, sizeof *v) : NULL;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        const json_t *x = json_array_get(list, i);
        if (!json_is_number(x))
            rc = sq_error_set(SQ_ERROR, "store '%s' answered a values request with a non-number",
                              h->shown);
        else
            v[i] = json_number_value(x);
    }
    if (rc == 0) {
        *out = v;
        *n = len;
    } else {
        free(v);
    }
    json_decref(ans);
    sb_release(&path);
    return rc;
}

static int http_reap(store *st, uint64_t *out_n)
{
    http_store *h = (http_store *)st;
    json_t *ans = NULL;
    int rc = request(h, "POST", "/api/v1/reap", json_object(), &ans);
    if (rc == 0)
        rc = answer_count(out_n, ans, "reaped", "reaping");
    json_decref(ans);
    return rc;
}

static int http_import_result(store *st, int64_t trial_id, const char *metrics_json)
{
    http_store *h = (http_store *)st;
    char *path = xasprintf("/api/v1/trials/%lld/import", (long long)trial_id);
    json_t *m = json_string(metrics_json);
    int rc = m ? 0
               : sq_error_set(SQ_EINVAL,
                              "cannot import trial %lld: its metrics are not valid "
                              "UTF-8",
                              (long long)trial_id);
    if (rc == 0)
        rc = request(h, "POST", path, json_pack("{s:o}", "metrics_json", m), NULL);
    free(path);
    return rc;
}

static int http_put_log(store *st, int64_t trial_id, int attempt, const char *text, size_t len)
{
    http_store *h = (http_store *)st;
    char *path = xasprintf("/api/v1/trials/%lld/log", (long long)trial_id);
    int rc = request(h, "PUT", path, wire_log_encode(attempt, text, len), NULL);
    free(path);
    return rc;
}

static int http_get_log(store *st, int64_t trial_id, int attempt, char **out, size_t *len)
{
    http_store *h = (http_store *)st;
    char *path = xasprintf("/api/v1/trials/%lld/log?attempt=%d", (long long)trial_id, attempt);
    int rc = request(h, "GET", path, NULL, NULL);
    if (rc == 0) {
        *len = h->resp.len;
        *out = xstrndup(h->resp.buf ? h->resp.buf : "", h->resp.len);
    }
    free(path);
    return rc;
}

const store_backend store_http_backend = {
    .version = STORE_BACKEND_VERSION,
    .scheme = "http",
    .open = http_open,
    .close = http_close,
    .now = http_now,
    .create_sweep = http_create_sweep,
    .add_trials = http_add_trials,
    .get_sweep = http_get_sweep,
    .list_sweeps = http_list_sweeps,
    .set_sweep_state = http_set_sweep_state,
    .cancel = http_cancel,
    .retry = http_retry,
    .gc = http_gc,
    .claim_completion = http_claim_completion,
    .complete_update = http_complete_update,
    .list_trials = http_list_trials,
    .get_trial = http_get_trial,
    .list_attempts = http_list_attempts,
    .register_agent = http_register_agent,
    .deregister_agent = http_deregister_agent,
    .list_agents = http_list_agents,
    .claim = http_claim,
    .heartbeat = http_heartbeat,
    .finish = http_finish,
    .append_metrics = http_append_metrics,
    .get_metrics = http_get_metrics,
    .reap = http_reap,
    .import_result = http_import_result,
    .put_log = http_put_log,
    .get_log = http_get_log,
    .claim_request = http_claim_request,
    .band_values = http_band_values,
    .add_claim = http_add_claim,
};
