/*
 * fuzz_api.c - libFuzzer harness for the HTTP API's request handling: any
 * bytes become one request that goes through api_handle (target parsing,
 * percent-decoding, auth, routing, JSON decoding with wire.h, the store
 * call, the reply) against a real SQLite store in a temporary directory.
 * No sockets: libmicrohttpd's own parsing is not ours to fuzz.
 *
 * Input: byte 0 picks the token (0 write, 1 read, 2 none, 3 a wrong one);
 * then "METHOD TARGET\n"; the rest is the body.
 *
 * Invariants checked: no crash, leak or undefined behaviour (ASan/UBSan);
 * every response has a status from 200 to 599 and a body of its stated
 * length; every non-200 is a JSON error object with a code and a message.
 */
#include "util/common.h"

#include "server/api.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define WRITE_TOKEN "fuzz-write-token"
#define READ_TOKEN "fuzz-read-token"

static char dir[] = "/tmp/sq-fuzz-api.XXXXXX";
static store *st;
static stats counters;
static api the_api;

static void cleanup(void)
{
    store_close(st);
    const char *names[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *p = xasprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!mkdtemp(dir))
        SQ_BUG("mkdtemp: %s", strerror(errno));
    char *url = xasprintf("sqlite:%s/store.db", dir);
    if (store_open(&st, url) != 0)
        SQ_BUG("store_open: %s", sq_error_msg());
    free(url);
    atexit(cleanup);
    stats_init(&counters);
    api_init(&the_api, WRITE_TOKEN, READ_TOKEN, &counters, NULL);
    /* one sweep with trials, so claims, heartbeats and finishes reach the
     * store's fenced paths rather than stopping at "no such sweep" */
    static const store_trial_def trials[] = {
        {1, "k1", "{\"x\":1}"}, {2, "k2", "{\"x\":2}"}, {3, "k3", "{\"x\":3}"}};
    store_sweep_def def = {.name = "s",
                           .spec_json = "{}",
                           .command_json = "[\"true\"]",
                           .max_attempts = 3,
                           .lease_ttl = 60,
                           .total = 3,
                           .trials = trials,
                           .ntrials = 3};
    int64_t id = 0;
    if (store_create_sweep(st, &def, &id, NULL) != 0)
        SQ_BUG("store_create_sweep: %s", sq_error_msg());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char *const tokens[] = {"Bearer " WRITE_TOKEN, "Bearer " READ_TOKEN, NULL,
                                         "Bearer nope"};
    const char *auth = tokens[data[0] % 4];
    const char *line = (const char *)data + 1;
    size_t rest = size - 1;
    const char *nl = memchr(line, '\n', rest);
    size_t line_len = nl ? (size_t)(nl - line) : rest;
    char *text = xstrndup(line, line_len); /* stops at a NUL, as a header would */
    char *sp = strchr(text, ' ');
    const char *method = text, *target = "/";
    if (sp) {
        *sp = '\0';
        target = sp + 1;
    }
    size_t body_len = nl ? rest - line_len - 1 : 0;
    char *body = xmalloc(body_len + 1); /* a copy, so ASan sees reads past its end */
    if (body_len)
        memcpy(body, nl + 1, body_len);
    api_request req = {method, target, auth, body, body_len};
    api_response res;
    api_handle(&the_api, st, &req, &res);
    if (res.status < 200 || res.status > 599)
        SQ_BUG("status %d", res.status);
    if (res.len && !res.body)
        SQ_BUG("a body of %zu bytes without data", res.len);
    if (res.status != 200) {
        json_t *j = json_loadb(res.body, res.len, 0, NULL);
        json_t *e = json_object_get(j, "error");
        if (!json_is_string(json_object_get(e, "code")) ||
            !json_is_string(json_object_get(e, "message")))
            SQ_BUG("status %d without an error object: %.*s", res.status, (int)res.len, res.body);
        json_decref(j);
    }
    api_response_release(&res);
    free(body);
    free(text);
    return 0;
}
