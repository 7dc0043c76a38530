/*
 * test_server.c - the HTTP API against a real SQLite store in a temporary
 * directory: api_handle called directly (auth, routing, refusals that name
 * the field, a trial's whole life, Prometheus text), then the real server
 * on a free loopback port spoken to with libcurl (limits, TLS refused
 * without both files, a clean stop).
 */
#include "util/common.h"

#include "server/api.h"
#include "server/conns.h"
#include "server/server.h"
#include "server/token.h"
#include "store/store.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define WRITE_TOKEN "w0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
#define READ_TOKEN "r0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"

typedef struct fixture {
    char *dir;
    char *url;
    store *st;
    stats stats;
    api api;
} fixture;

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    fixture *f = xmalloc(sizeof *f);
    memset(f, 0, sizeof *f);
    f->dir = xstrdup("/tmp/sq-server-test.XXXXXX");
    if (!mkdtemp(f->dir))
        SQ_BUG("mkdtemp: %s", strerror(errno));
    f->url = xasprintf("sqlite:%s/store.db", f->dir);
    if (store_open(&f->st, f->url) != 0)
        SQ_BUG("store_open: %s", sq_error_msg());
    stats_init(&f->stats);
    api_init(&f->api, WRITE_TOKEN, READ_TOKEN, &f->stats, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    remove_dir(f->dir);
    free(f->dir);
    free(f->url);
    free(f);
    return 0;
}

/* One request through api_handle; token NULL sends no header. The caller
 * releases *res. */
static void call(fixture *f, api_response *res, const char *method, const char *target,
                 const char *token, const char *body)
{
    char *auth = token ? xasprintf("Bearer %s", token) : NULL;
    api_request req = {method, target, auth, body, body ? strlen(body) : 0};
    api_handle(&f->api, f->st, &req, res);
    free(auth);
}

/* The status of one request; the body is dropped. */
static int status_of(fixture *f, const char *method, const char *target, const char *token,
                     const char *body)
{
    api_response res;
    call(f, &res, method, target, token, body);
    int st = res.status;
    api_response_release(&res);
    return st;
}

/* Asserts an error response: status, wire code, and a message holding
 * `needle`. */
static void expect_error(fixture *f, const char *method, const char *target, const char *body,
                         int status, const char *code, const char *needle)
{
    api_response res;
    call(f, &res, method, target, WRITE_TOKEN, body);
    assert_int_equal(res.status, status);
    json_t *j = json_loadb(res.body, res.len, 0, NULL);
    assert_non_null(j);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(c);
    assert_non_null(m);
    assert_string_equal(c, code);
    if (!strstr(m, needle))
        fail_msg("message '%s' does not contain '%s'", m, needle);
    json_decref(j);
    api_response_release(&res);
}

/* A successful request's JSON body (caller json_decref's). */
static json_t *ok_json(fixture *f, const char *method, const char *target, const char *body)
{
    api_response res;
    call(f, &res, method, target, WRITE_TOKEN, body);
    if (res.status != 200)
        fail_msg("%s %s: %d %.*s", method, target, res.status, (int)res.len, res.body);
    json_t *j = json_loadb(res.body, res.len, 0, NULL);
    assert_non_null(j);
    api_response_release(&res);
    return j;
}

static const char *sweep_body(const char *name, int ntrials)
{
    static char buf[4096];
    strbuf sb = SB_INIT;
    sb_addf(&sb,
            "{\"name\":\"%s\",\"spec_json\":\"{}\",\"spec_yaml\":\"name: x\\n\","
            "\"command_json\":\"[\\\"true\\\"]\",\"tags\":[\"t1\"],\"metric_name\":\"loss\","
            "\"maximize\":false,\"max_attempts\":2,\"lease_ttl\":60,\"total\":%d,\"trials\":[",
            name, ntrials);
    for (int i = 1; i <= ntrials; i++)
        sb_addf(&sb, "%s{\"number\":%d,\"key\":\"k%d\",\"params_json\":\"{\\\"x\\\":%d}\"}",
                i > 1 ? "," : "", i, i, i);
    sb_adds(&sb, "]}");
    snprintf(buf, sizeof buf, "%s", sb_str(&sb));
    sb_release(&sb);
    return buf;
}

/* ---- auth ----------------------------------------------------------------- */

static void test_health_needs_no_token(void **state)
{
    fixture *f = *state;
    json_t *j = NULL;
    api_response res;
    call(f, &res, "GET", "/api/v1/health", NULL, NULL);
    assert_int_equal(res.status, 200);
    j = json_loadb(res.body, res.len, 0, NULL);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_true(json_is_real(json_object_get(j, "now")));
    json_decref(j);
    api_response_release(&res);
}

static void test_tokens_are_checked_before_routing(void **state)
{
    fixture *f = *state;
    assert_int_equal(status_of(f, "GET", "/api/v1/sweeps", NULL, NULL), 401);
    assert_int_equal(status_of(f, "GET", "/api/v1/sweeps", "wrong", NULL), 401);
    assert_int_equal(status_of(f, "GET", "/api/v1/nowhere", NULL, NULL), 401);
    assert_int_equal(status_of(f, "GET", "/metrics", NULL, NULL), 401);
    assert_int_equal(status_of(f, "GET", "/api/v1/sweeps", READ_TOKEN, NULL), 200);
    assert_int_equal(status_of(f, "GET", "/metrics", READ_TOKEN, NULL), 200);
    assert_int_equal(status_of(f, "POST", "/api/v1/reap", READ_TOKEN, "{}"), 403);
    assert_int_equal(status_of(f, "DELETE", "/api/v1/agents/a", READ_TOKEN, NULL), 403);
    assert_int_equal(status_of(f, "POST", "/api/v1/reap", WRITE_TOKEN, "{}"), 200);
    /* a prefix of the token, or the token with more after it, is not it */
    assert_int_equal(status_of(f, "GET", "/api/v1/sweeps", "w0123456789abcdef", NULL), 401);
    assert_int_equal(status_of(f, "GET", "/api/v1/sweeps", WRITE_TOKEN "x", NULL), 401);
    api_response res;
    api_request req = {"GET", "/api/v1/sweeps", "Basic " WRITE_TOKEN, NULL, 0};
    api_handle(&f->api, f->st, &req, &res);
    assert_int_equal(res.status, 401);
    api_response_release(&res);
}

/* api_authorized decides from the headers alone whether server.c reads a
 * request's body: the write token for any method, the read token for reads. */
static void test_authorized_from_headers_alone(void **state)
{
    fixture *f = *state;
    assert_false(api_authorized(&f->api, "POST", NULL));
    assert_false(api_authorized(&f->api, "GET", "Bearer wrong"));
    assert_false(api_authorized(&f->api, "POST", "Bearer " READ_TOKEN));
    assert_false(api_authorized(&f->api, "POST", "Basic " WRITE_TOKEN));
    assert_true(api_authorized(&f->api, "GET", "Bearer " READ_TOKEN));
    assert_true(api_authorized(&f->api, "HEAD", "Bearer " READ_TOKEN));
    assert_true(api_authorized(&f->api, "POST", "Bearer " WRITE_TOKEN));
    assert_true(api_authorized(&f->api, "DELETE", "  bearer " WRITE_TOKEN " "));
}

static void test_token_files_are_made_once_with_mode_0600(void **state)
{
    fixture *f = *state;
    char *path = xasprintf("%s/server.token", f->dir);
    char *a = NULL, *b = NULL;
    bool created = false;
    assert_int_equal(token_load(&a, path, false, &created), SQ_ENOTFOUND);
    assert_int_equal(token_load(&a, path, true, &created), 0);
    assert_true(created);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(token_load(&b, path, true, &created), 0);
    assert_false(created);
    assert_string_equal(a, b);
    token_digest da, db;
    token_hash(&da, a, strlen(a));
    token_hash(&db, b, strlen(b));
    assert_true(token_equal(&da, &db));
    token_hash(&db, b, strlen(b) - 1);
    assert_false(token_equal(&da, &db));
    free(a);
    free(b);
    free(path);
}

/* ---- refusals --------------------------------------------------------------- */

static void test_refusals_name_the_field(void **state)
{
    fixture *f = *state;
    expect_error(f, "POST", "/api/v1/claims",
                 "{\"agent_id\":\"a\",\"sweep_id\":1,\"max\":1,\"bogus\":2}", 400, "EINVAL",
                 "'bogus'");
    expect_error(f, "POST", "/api/v1/claims", "{\"agent_id\":\"a\",\"sweep_id\":\"1\",\"max\":1}",
                 400, "EINVAL", "'sweep_id' must be an integer");
    expect_error(f, "POST", "/api/v1/claims", "{\"agent_id\":\"a\",\"sweep_id\":1}", 400, "EINVAL",
                 "'max'");
    expect_error(f, "POST", "/api/v1/claims", "{\"agent_id\":\"a\",\"sweep_id\":1,\"max\":0}", 400,
                 "EINVAL", "'max' must be from 1");
    expect_error(f, "POST", "/api/v1/claims", "{\"agent_id\":", 400, "EINVAL", "invalid JSON");
    expect_error(f, "POST", "/api/v1/claims", "[1,2]", 400, "EINVAL", "JSON object");
    expect_error(f, "POST", "/api/v1/claims", "{\"max\":1,\"max\":2}", 400, "EINVAL",
                 "invalid JSON");
    expect_error(f, "POST", "/api/v1/sweeps", "{\"name\":\"x\",\"nmae\":1}", 400, "EINVAL",
                 "'nmae'");
    expect_error(f, "POST", "/api/v1/sweeps/x/state", "{\"state\":\"finished\"}", 400, "EINVAL",
                 "'state'");
    expect_error(f, "POST", "/api/v1/trials/abc/finish", "{}", 400, "EINVAL", "trial id");
    expect_error(f, "POST", "/api/v1/trials/-1/finish", "{}", 400, "EINVAL", "trial id");
    expect_error(f, "POST", "/api/v1/trials/99999999999999999999/finish", "{}", 400, "EINVAL",
                 "trial id");
    expect_error(f, "GET", "/api/v1/sweeps?colour=red", NULL, 400, "EINVAL", "'colour'");
    expect_error(f, "GET", "/api/v1/sweeps/x/trials?limit=-3", NULL, 400, "EINVAL", "'limit=-3'");
    expect_error(f, "GET", "/api/v1/sweeps/a%2", NULL, 400, "EINVAL", "percent");
    expect_error(f, "GET", "/api/v1/sweeps/a%00b", NULL, 400, "EINVAL", "%00");
}

static void test_unknown_paths_and_methods(void **state)
{
    fixture *f = *state;
    expect_error(f, "GET", "/api/v1/nowhere", NULL, 404, "ENOROUTE", "no such path");
    expect_error(f, "GET", "/api/v1/a/b/c/d/e/f/g/h/i/j", NULL, 404, "ENOROUTE", "no such path");
    expect_error(f, "GET", "/api/v1/sweeps/x/", NULL, 404, "ENOROUTE", "no such path");
    expect_error(f, "PATCH", "/api/v1/sweeps", NULL, 405, "EMETHOD", "POST, GET");
    api_response res;
    call(f, &res, "DELETE", "/api/v1/claims", WRITE_TOKEN, NULL);
    assert_int_equal(res.status, 405);
    assert_string_equal(res.allow, "POST");
    api_response_release(&res);
    expect_error(f, "GET", "/api/v1/sweeps/none", NULL, 404, "ENOTFOUND", "none");
    expect_error(f, "GET", "", NULL, 400, "EINVAL", "start with '/'");
}

/* ---- a trial's life ------------------------------------------------------------ */

static void test_trial_lifecycle_through_the_api(void **state)
{
    fixture *f = *state;
    json_t *j = ok_json(f, "POST", "/api/v1/sweeps", sweep_body("life one", 3));
    json_int_t id = json_integer_value(json_object_get(j, "id"));
    assert_true(id > 0);
    assert_int_equal(json_integer_value(json_object_get(j, "added")), 3);
    json_decref(j);

    j = ok_json(f, "GET", "/api/v1/sweeps/life%20one", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "life one");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "pending")),
                     3);
    json_decref(j);

    j = ok_json(f, "POST", "/api/v1/agents",
                "{\"id\":\"h:1:a\",\"host\":\"h\",\"pid\":1,\"slots\":2,\"gpus_json\":null,"
                "\"version\":\"0.1.0\"}");
    json_decref(j);
    char *body = xasprintf("{\"agent_id\":\"h:1:a\",\"sweep_id\":%lld,\"max\":2}", (long long)id);
    j = ok_json(f, "POST", "/api/v1/claims", body);
    free(body);
    json_t *claims = json_object_get(j, "claims");
    assert_int_equal(json_array_size(claims), 2);
    json_int_t tid = json_integer_value(json_object_get(json_array_get(claims, 0), "trial_id"));
    json_int_t att = json_integer_value(json_object_get(json_array_get(claims, 0), "attempt"));
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(claims, 0), "params_json")), "{\"x\":1}");
    json_decref(j);
    assert_int_equal(atomic_load(&f->stats.claims), 2);

    body = xasprintf("{\"agent_id\":\"h:1:a\",\"leases\":[{\"trial_id\":%lld,\"attempt\":%lld}]}",
                     (long long)tid, (long long)att);
    j = ok_json(f, "POST", "/api/v1/heartbeats", body);
    free(body);
    json_t *l0 = json_array_get(json_object_get(j, "leases"), 0);
    assert_true(json_is_false(json_object_get(l0, "lost")));
    assert_true(json_is_false(json_object_get(l0, "cancel")));
    json_decref(j);

    char *target = xasprintf("/api/v1/trials/%lld/metrics", (long long)tid);
    body = xasprintf("{\"attempt\":%lld,\"rows\":\"[{\\\"step\\\":1,\\\"loss\\\":0.5}]\"}",
                     (long long)att);
    json_decref(ok_json(f, "POST", target, body));
    free(body);
    api_response res;
    call(f, &res, "GET", target, READ_TOKEN, NULL);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"loss\""));
    api_response_release(&res);
    free(target);

    target = xasprintf("/api/v1/trials/%lld/log", (long long)tid);
    body = xasprintf("{\"attempt\":%lld,\"text\":\"epoch 1\\nloss 0.5\\n\"}", (long long)att);
    call(f, &res, "PUT", target, WRITE_TOKEN, body);
    assert_int_equal(res.status, 200);
    api_response_release(&res);
    free(body);
    call(f, &res, "GET", target, READ_TOKEN, NULL);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "text/plain; charset=utf-8");
    assert_int_equal(res.len, strlen("epoch 1\nloss 0.5\n"));
    assert_memory_equal(res.body, "epoch 1\nloss 0.5\n", res.len);
    api_response_release(&res);
    free(target);

    target = xasprintf("/api/v1/trials/%lld/finish", (long long)tid);
    body = xasprintf("{\"attempt\":%lld,\"outcome\":\"succeeded\",\"exit_code\":0,"
                     "\"term_signal\":0,\"error\":null,\"metrics_json\":\"{\\\"loss\\\":0.5}\"}",
                     (long long)att);
    json_decref(ok_json(f, "POST", target, body));
    /* the same attempt again: the lease is no longer current */
    expect_error(f, "POST", target, body, 409, "ELEASE_LOST", "");
    free(body);
    free(target);

    j = ok_json(f, "GET", "/api/v1/sweeps/life%20one/trials/1", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "succeeded");
    assert_string_equal(json_string_value(json_object_get(j, "metrics_json")), "{\"loss\":0.5}");
    json_decref(j);
    j = ok_json(f, "GET",
                "/api/v1/sweeps/life%20one/trials?state=succeeded&sort=loss&desc=1&limit=5", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "trials")), 1);
    json_decref(j);
    j = ok_json(f, "GET", "/api/v1/sweeps?name=life%20one&name=other&tag=t1&runnable=1", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "sweeps")), 1);
    json_decref(j);

    j = ok_json(f, "POST", "/api/v1/sweeps/life%20one/cancel", "");
    assert_int_equal(json_integer_value(json_object_get(j, "cancelled")), 2);
    json_decref(j);
    j = ok_json(f, "POST", "/api/v1/sweeps/life%20one/retry", "{\"cancelled\":true}");
    assert_int_equal(json_integer_value(json_object_get(j, "retried")), 2);
    json_decref(j);
    j = ok_json(f, "GET", "/api/v1/agents", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "agents")), 1);
    json_decref(j);
    json_decref(ok_json(f, "DELETE", "/api/v1/agents/h%3A1%3Aa", NULL));
}

static void test_logs_carry_any_bytes(void **state)
{
    fixture *f = *state;
    json_decref(ok_json(f, "POST", "/api/v1/sweeps", sweep_body("logs", 1)));
    /* "a\0b\xff\n" in base64 */
    api_response res;
    call(f, &res, "PUT", "/api/v1/trials/1/log", WRITE_TOKEN,
         "{\"attempt\":1,\"text_base64\":\"YQBi/wo=\"}");
    assert_int_equal(res.status, 200);
    api_response_release(&res);
    call(f, &res, "GET", "/api/v1/trials/1/log?attempt=1", READ_TOKEN, NULL);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.len, 5);
    assert_memory_equal(res.body, "a\0b\xff\n", 5);
    api_response_release(&res);
    expect_error(f, "PUT", "/api/v1/trials/1/log",
                 "{\"attempt\":1,\"text\":\"a\",\"text_base64\":\"YQ==\"}", 400, "EINVAL",
                 "exactly one");
    expect_error(f, "PUT", "/api/v1/trials/1/log", "{\"attempt\":1,\"text_base64\":\"%%%\"}", 400,
                 "EINVAL", "base64");
    expect_error(f, "PUT", "/api/v1/trials/1/log", "{\"attempt\":0,\"text\":\"a\"}", 400, "EINVAL",
                 "'attempt'");
    expect_error(f, "GET", "/api/v1/trials/2/log", NULL, 404, "ENOTFOUND", "");
}

static void test_metrics_are_prometheus_text_with_escaped_labels(void **state)
{
    fixture *f = *state;
    json_decref(ok_json(f, "POST", "/api/v1/sweeps", sweep_body("q\\\\\\\"x", 2)));
    assert_int_equal(status_of(f, "GET", "/api/v1/sweeps", WRITE_TOKEN, NULL), 200);
    api_response res;
    call(f, &res, "GET", "/metrics", READ_TOKEN, NULL);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
    /* the sweep is named q\"x: both escaped in the label */
    if (!strstr(res.body, "sweepq_trials{sweep=\"q\\\\\\\"x\",state=\"pending\"} 2\n"))
        fail_msg("no escaped sweep label in:\n%s", res.body);
    assert_non_null(strstr(res.body, "sweepq_agents_alive 0\n"));
    assert_non_null(strstr(res.body, "sweepq_claims_total 0\n"));
    api_response_release(&res);
}

/* ---- counters -------------------------------------------------------------- */

static void test_stats_histogram_is_cumulative_and_labels_escaped(void **state)
{
    stats *s = xmalloc(sizeof *s);
    stats_init(s);
    stats_record(s, 1, 200, 0.0005); /* on a bound: counted in its bucket */
    stats_record(s, 1, 404, 0.002);
    stats_record(s, 1, 503, 30.0); /* past the last bound: only +Inf */
    const char *names[] = {"unused", "r"};
    strbuf sb = SB_INIT;
    assert_int_equal(stats_render(s, names, 2, &sb), 0);
    const char *t = sb_str(&sb);
    assert_non_null(strstr(t, "route=\"r\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(t, "route=\"r\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(t, "route=\"r\",le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(t, "route=\"r\",le=\"5\"} 2\n"));
    assert_non_null(strstr(t, "route=\"r\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(t, "sweepq_http_request_duration_seconds_count{route=\"r\"} 3\n"));
    assert_non_null(strstr(t, "{route=\"r\",code=\"2xx\"} 1\n"));
    assert_non_null(strstr(t, "{route=\"r\",code=\"4xx\"} 1\n"));
    assert_non_null(strstr(t, "{route=\"r\",code=\"5xx\"} 1\n"));
    assert_null(strstr(t, "unused")); /* routes never asked for print nothing */
    sb_reset(&sb);
    stats_add_label(&sb, "a\\b\"c\nd");
    assert_string_equal(sb_str(&sb), "a\\\\b\\\"c\\nd");
    sb_release(&sb);
    free(s);
}

/* ---- the server over sockets --------------------------------------------------- */

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    strbuf *sb = arg;
    sb_add(sb, p, size * n);
    return size * n;
}

/* One request with libcurl; returns the status (0: no answer). */
static long http(const char *url, const char *method, const char *token, const char *body,
                 size_t body_len, strbuf *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char *auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
    if (auth)
        h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(auth);
    return status;
}

static void test_server_serves_and_refuses_big_bodies(void **state)
{
    fixture *f = *state;
    server_config cfg = {.listen = "127.0.0.1:0",
                         .store_url = f->url,
                         .write_token = WRITE_TOKEN,
                         .read_token = READ_TOKEN,
                         .reap_every = 0.05,
                         .threads = 2};
    server *srv = NULL;
    assert_int_equal(server_start(&srv, &cfg), 0);
    assert_true(server_port(srv) > 0);
    char *base = xstrdup(server_url(srv));
    assert_int_equal(strncmp(base, "http://127.0.0.1:", 17), 0);

    strbuf out = SB_INIT;
    char *u = xasprintf("%sapi/v1/health", base);
    assert_int_equal(http(u, "GET", NULL, NULL, 0, &out), 200);
    assert_non_null(strstr(sb_str(&out), "\"ok\":true"));
    free(u);

    size_t big = API_BODY_MAX + 1;
    char *huge = xmalloc(big);
    memset(huge, ' ', big);
    u = xasprintf("%sapi/v1/reap", base);
    sb_reset(&out);
    assert_int_equal(http(u, "POST", WRITE_TOKEN, huge, big, &out), 413);
    assert_non_null(strstr(sb_str(&out), "ETOOBIG"));
    free(huge);
    sb_reset(&out);
    assert_int_equal(http(u, "POST", WRITE_TOKEN, "{}", 2, &out), 200);
    free(u);

    u = xasprintf("%smetrics", base);
    sb_reset(&out);
    assert_int_equal(http(u, "GET", READ_TOKEN, NULL, 0, &out), 200);
    assert_non_null(
        strstr(sb_str(&out), "sweepq_http_requests_total{route=\"reap\",code=\"2xx\"} 1"));
    assert_non_null(
        strstr(sb_str(&out), "sweepq_http_requests_total{route=\"other\",code=\"4xx\"} 1"));
    free(u);
    sb_release(&out);
    free(base);
    server_stop(srv);
}

static void test_server_start_refuses_bad_config(void **state)
{
    fixture *f = *state;
    server *srv = NULL;
    server_config cfg = {.listen = "127.0.0.1:99999", .store_url = f->url, .write_token = "w"};
    assert_int_equal(server_start(&srv, &cfg), SQ_EINVAL);
    assert_null(srv);
    cfg.listen = "nocolon";
    assert_int_equal(server_start(&srv, &cfg), SQ_EINVAL);
    cfg.listen = "127.0.0.1:0";
    cfg.tls_cert = "-----BEGIN CERTIFICATE-----\n";
    assert_int_equal(server_start(&srv, &cfg), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "--tls-key"));
    cfg.tls_key = "garbage";
    assert_int_equal(server_start(&srv, &cfg), SQ_EINVAL);
    assert_null(srv);
}

/* ---- conns.c: which connections are kept when full ---------------------- */

static int closed_fds[64];
static size_t nclosed;

static void record_close(int fd)
{
    if (nclosed < ARRAY_SIZE(closed_fds))
        closed_fds[nclosed++] = fd;
}

static void conns_setup(conn_table *t, size_t max, size_t pending_max, size_t per_addr)
{
    conn_limits lim = {max, pending_max, per_addr, 10.0};
    conns_init(t, &lim, record_close, NULL);
    nclosed = 0;
}

static const uint8_t ADDR_A[4] = {10, 0, 0, 1}, ADDR_B[4] = {10, 0, 0, 2};

/* An agent: connects, shows a good token, ends its request (now idle). */
static conn_slot *agent_conn(conn_table *t, int fd, double now)
{
    conn_slot *s = conns_open(t, fd, ADDR_B, 4, now);
    conns_request_begins(t, s);
    assert_true(conns_authenticated(t, s));
    conns_request_ends(t, s, now);
    return s;
}

static void test_conns_full_closes_least_recently_used_idle(void **state)
{
    conn_table t;
    conns_setup(&t, 3, 2, 2);
    conn_slot *a = agent_conn(&t, 1, 1.0), *b = agent_conn(&t, 2, 2.0), *c = agent_conn(&t, 3, 3.0);
    /* a is used again: b is now the least recently used */
    conns_request_begins(&t, a);
    assert_false(conns_authenticated(&t, a));
    conns_request_ends(&t, a, 4.0);
    conn_slot *d = conns_open(&t, 4, ADDR_B, 4, 5.0);
    assert_false(d->refused);
    assert_int_equal(nclosed, 1);
    assert_int_equal(closed_fds[0], 2);
    conns_close(&t, b); /* libmicrohttpd reports it gone */
    size_t open, pending;
    conn_counts n;
    conns_snapshot(&t, &open, &pending, &n);
    assert_int_equal(open, 3);
    assert_int_equal(pending, 1);
    assert_int_equal(n.closed_idle, 1);
    conns_close(&t, a);
    conns_close(&t, c);
    conns_close(&t, d);
    conns_destroy(&t);
}

static void test_conns_busy_requests_are_never_closed(void **state)
{
    conn_table t;
    conns_setup(&t, 2, 1, 1);
    conn_slot *a = conns_open(&t, 1, ADDR_B, 4, 1.0), *b = conns_open(&t, 2, ADDR_A, 4, 1.0);
    /* b was pending and the pending limit is 1: a, the oldest, made room */
    assert_int_equal(nclosed, 1);
    assert_int_equal(closed_fds[0], 1);
    conns_close(&t, a);
    assert_true(conns_authenticated(&t, b)); /* busy from now on */
    conn_slot *c = conns_open(&t, 3, ADDR_A, 4, 2.0);
    assert_true(conns_authenticated(&t, c));
    conn_slot *d = conns_open(&t, 4, ADDR_A, 4, 3.0);
    assert_true(d->refused); /* both others in a request: nothing to close */
    assert_int_equal(nclosed, 1);
    conns_close(&t, d);
    conns_close(&t, b);
    conns_close(&t, c);
    conns_destroy(&t);
}

static void test_conns_pending_limits_and_header_timeout(void **state)
{
    conn_table t;
    conns_setup(&t, 100, 4, 2);
    conn_slot *s[8];
    /* one address cycles through its own two pending places */
    s[0] = conns_open(&t, 10, ADDR_A, 4, 1.0);
    s[1] = conns_open(&t, 11, ADDR_A, 4, 1.1);
    s[2] = conns_open(&t, 12, ADDR_A, 4, 1.2);
    assert_int_equal(nclosed, 1);
    assert_int_equal(closed_fds[0], 10);
    /* another address's newcomers are not pushed out by it */
    s[3] = conns_open(&t, 20, ADDR_B, 4, 1.3);
    s[4] = conns_open(&t, 21, ADDR_B, 4, 1.4);
    assert_int_equal(nclosed, 1);
    /* four pending in all: the next one closes the oldest */
    s[5] = conns_open(&t, 30, (const uint8_t[4]){10, 0, 0, 3}, 4, 1.5);
    assert_int_equal(nclosed, 2);
    assert_int_equal(closed_fds[1], 11);
    /* past the header timeout, with the pending places full, every old
     * pending one goes */
    s[6] = conns_open(&t, 31, (const uint8_t[4]){10, 0, 0, 4}, 4, 20.0);
    assert_int_equal(nclosed, 6);
    size_t open, pending;
    conn_counts n;
    conns_snapshot(&t, &open, &pending, &n);
    assert_int_equal(open, 1);
    assert_int_equal(pending, 1);
    assert_int_equal(n.closed_pending, 6);
    for (size_t i = 0; i < 7; i++)
        conns_close(&t, s[i]);
    conns_destroy(&t);

    /* with room to spare, an old pending one stays (a loaded server that
     * has not read its headers yet): libmicrohttpd's silence timeout ends
     * it if it is idle */
    conns_setup(&t, 100, 50, 25);
    s[0] = conns_open(&t, 40, ADDR_A, 4, 1.0);
    s[1] = conns_open(&t, 41, ADDR_B, 4, 60.0);
    assert_int_equal(nclosed, 0);
    conns_close(&t, s[0]);
    conns_close(&t, s[1]);
    conns_destroy(&t);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_needs_no_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_are_checked_before_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorized_from_headers_alone, setup, teardown),
        cmocka_unit_test(test_conns_full_closes_least_recently_used_idle),
        cmocka_unit_test(test_conns_busy_requests_are_never_closed),
        cmocka_unit_test(test_conns_pending_limits_and_header_timeout),
        cmocka_unit_test_setup_teardown(test_token_files_are_made_once_with_mode_0600, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refusals_name_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_paths_and_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trial_lifecycle_through_the_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_carry_any_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_are_prometheus_text_with_escaped_labels, setup,
                                        teardown),
        cmocka_unit_test(test_stats_histogram_is_cumulative_and_labels_escaped),
        cmocka_unit_test_setup_teardown(test_server_serves_and_refuses_big_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_start_refuses_bad_config, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
