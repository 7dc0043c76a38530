/*
 * test_store_http.c - the http(s):// store backend against the real
 * `sweepq serve` binary on 127.0.0.1: the backend-independent conformance
 * suite (store_conformance.c) through HTTP, each test on a fresh server
 * over a fresh SQLite store, then what is particular to the http backend
 * (tokens, an unreachable server, hidden credentials, a server restarted
 * under a live handle).
 *
 * The binary is $SWEEPQ, else the `sweepq` next to this test executable.
 * Each server runs in its own temporary project directory, binds port 0 and
 * prints its URL in the first line of its stdout (a file here, polled with
 * a deadline); the test finds the write token in .sweepq/server.token and
 * names it with SWEEPQ_TOKEN_FILE, as `--token-file` does.
 *
 * The conformance suite's concurrency test writes its children's claims to
 * files named after the store URL ("http://127.0.0.1:PORT/.claims.N");
 * main() therefore runs in a work directory where each server's
 * "http:/127.0.0.1:PORT" directory is made.
 */
#include "store_conformance.c"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>

/* ---- a server per test ----------------------------------------------------- */

typedef struct served {
    char *dir;  /* the project directory (holds .sweepq/) */
    char *url;  /* what the server printed */
    char *port; /* its port, for a restart on the same one */
    pid_t pid;
} served;

static served current; /* the server of the running test */

/* The URL in serve's first line, "sweepq: serving URL (store STORE)";
 * caller frees. */
static char *url_of_line(const char *line)
{
    const char *u = strstr(line, "http");
    if (!u || u > line + strcspn(line, "\n"))
        SQ_BUG("no URL in serve's first line: %s", line);
    return xstrndup(u, strcspn(u, " \n"));
}

static char *sweepq_binary(void)
{
    const char *env = getenv("SWEEPQ");
    if (env && *env)
        return xstrdup(env);
    char *self = realpath("/proc/self/exe", NULL);
    if (!self)
        SQ_BUG("cannot resolve /proc/self/exe: %s", strerror(errno));
    *strrchr(self, '/') = '\0';
    char *bin = xasprintf("%s/sweepq", self);
    free(self);
    return bin;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/*
 * Starts `sweepq serve` in srv->dir on listen ("127.0.0.1:0" or a port to
 * take again) and waits up to 20 s for its URL. Returns 0 or -1 (the
 * server's stderr is printed).
 */
static int serve_start(served *srv, const char *listen)
{
    char *bin = sweepq_binary();
    char *out = xasprintf("%s/serve.out", srv->dir);
    char *err = xasprintf("%s/serve.err", srv->dir);
    char *store_url = xasprintf("sqlite:%s/.sweepq/sweepq.db", srv->dir);
    unlink(out);
    pid_t pid = fork();
    if (pid < 0)
        SQ_BUG("fork: %s", strerror(errno));
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (o < 0 || e < 0 || chdir(srv->dir) < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execl(bin, bin, "serve", "--listen", listen, "--store", store_url, (char *)NULL);
        _exit(127);
    }
    srv->pid = pid;
    free(srv->url);
    srv->url = NULL;
    double deadline = time_mono() + 20;
    while (!srv->url && time_mono() < deadline) {
        strbuf sb = SB_INIT;
        if (sb_read_file(&sb, out) == 0 && strchr(sb_str(&sb), '\n')) {
            srv->url = url_of_line(sb_str(&sb));
        }
        sb_release(&sb);
        int status;
        if (!srv->url && waitpid(pid, &status, WNOHANG) == pid) {
            srv->pid = 0;
            break;
        }
        if (!srv->url)
            time_sleep(0.01);
    }
    if (!srv->url) {
        strbuf sb = SB_INIT;
        sb_read_file(&sb, err);
        fprintf(stderr, "sweepq serve did not start: %s\n", sb_str(&sb));
        sb_release(&sb);
    } else {
        const char *colon = strrchr(srv->url, ':');
        free(srv->port);
        srv->port = xstrndup(colon + 1, strspn(colon + 1, "0123456789"));
    }
    free(bin);
    free(out);
    free(err);
    free(store_url);
    return srv->url ? 0 : -1;
}

/* Stops the server: sig, then SIGKILL after 10 s. */
static void serve_stop(served *srv, int sig)
{
    if (srv->pid <= 0)
        return;
    kill(srv->pid, sig);
    double deadline = time_mono() + 10;
    int status;
    while (waitpid(srv->pid, &status, WNOHANG) == 0) {
        if (time_mono() > deadline) {
            kill(srv->pid, SIGKILL);
            waitpid(srv->pid, &status, 0);
            break;
        }
        time_sleep(0.01);
    }
    srv->pid = 0;
}

static char *http_new_url(void *ctx)
{
    current.dir = xstrdup("/tmp/sq-http-test.XXXXXX");
    if (!mkdtemp(current.dir))
        SQ_BUG("mkdtemp: %s", strerror(errno));
    char *dot = xasprintf("%s/.sweepq", current.dir);
    mkdir(dot, 0700);
    free(dot);
    if (serve_start(&current, "127.0.0.1:0") < 0)
        return xstrdup("http://127.0.0.1:1"); /* the suite's store_open then fails loudly */
    /* The directory of the concurrency test's URL + ".claims.N" files. */
    char *claims_dir = xasprintf("http:/127.0.0.1:%s", current.port);
    mkdir("http:", 0700);
    mkdir(claims_dir, 0700);
    free(claims_dir);
    char *token = xasprintf("%s/.sweepq/server.token", current.dir);
    setenv("SWEEPQ_TOKEN_FILE", token, 1);
    free(token);
    return xstrdup(current.url);
}

static void http_drop_url(const char *url, void *ctx)
{
    serve_stop(&current, SIGTERM);
    nftw(current.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(current.dir);
    free(current.url);
    free(current.port);
    memset(&current, 0, sizeof current);
    unsetenv("SWEEPQ_TOKEN_FILE");
}

static const store_conformance_env http_env = {http_new_url, http_drop_url, NULL};

/* ---- http-specific tests ----------------------------------------------------- */

static int http_setup(void **state)
{
    char *url = http_new_url(NULL);
    int ok = current.pid > 0;
    free(url);
    return ok ? 0 : -1;
}

static int http_teardown(void **state)
{
    http_drop_url(NULL, NULL);
    return 0;
}

static void test_missing_or_wrong_token_is_refused_with_the_servers_message(void **state)
{
    store *st = NULL;
    store_sweep *s = NULL;
    size_t n = 0;
    unsetenv("SWEEPQ_TOKEN_FILE");
    char *empty = xstrdup("/tmp/sq-http-noproject.XXXXXX"); /* no .sweepq/ above it */
    assert_non_null(mkdtemp(empty));
    char *cwd = getcwd(NULL, 0);
    assert_int_equal(chdir(empty), 0);
    assert_ok(store_open(&st, current.url));
    assert_int_equal(store_list_sweeps(st, NULL, &s, &n), SQ_EACCES); /* 401, not retried */
    store_close(st);

    setenv("SWEEPQ_TOKEN", "not-the-token", 1);
    assert_ok(store_open(&st, current.url));
    assert_int_equal(store_list_sweeps(st, NULL, &s, &n), SQ_EACCES);
    store_close(st);
    unsetenv("SWEEPQ_TOKEN");

    /* the project's token is found by walking up from the working directory */
    char *deep = xasprintf("%s/a", current.dir);
    mkdir(deep, 0700);
    assert_int_equal(chdir(deep), 0);
    assert_ok(store_open(&st, current.url));
    assert_ok(store_list_sweeps(st, NULL, &s, &n));
    assert_int_equal(n, 0);
    store_close(st);

    /* a token file that does not exist fails at open, naming it */
    setenv("SWEEPQ_TOKEN_FILE", "/nonexistent/token", 1);
    assert_true(store_open(&st, current.url) < 0);
    assert_non_null(strstr(sq_error_msg(), "/nonexistent/token"));
    assert_null(st);

    assert_int_equal(chdir(cwd), 0);
    rmdir(empty);
    free(cwd);
    free(deep);
    free(empty);
}

static void test_unreachable_server_is_transient_and_hides_credentials(void **state)
{
    store *st = NULL;
    store_sweep *s = NULL;
    size_t n = 0;
    /* the port of a server just stopped: nothing listens there */
    serve_stop(&current, SIGTERM);
    char *url = xasprintf("http://alice:s3cret@127.0.0.1:%s", current.port);
    assert_ok(store_open(&st, url));
    assert_int_equal(store_list_sweeps(st, NULL, &s, &n), SQ_EIO);
    assert_true(sq_error_is_transient(sq_error_code()));
    assert_null(strstr(sq_error_msg(), "s3cret"));
    assert_non_null(strstr(sq_error_msg(), "***@127.0.0.1"));
    /* store_now falls back to the local clock */
    double now = store_now(st);
    assert_true(now > time_now() - 5 && now < time_now() + 5);
    store_close(st);
    free(url);
}

static void test_handle_survives_a_server_restart_on_the_same_port(void **state)
{
    store *st = NULL;
    assert_ok(store_open(&st, current.url));
    int64_t id = conf_create(st, "restart", 3, 3, 600);
    store_claimed *c = conf_claim1(st, "agent-1", id);

    /* kill -9, then a new server on the same port and store */
    serve_stop(&current, SIGKILL);
    store_lease l = {c->trial_id, c->attempt, false, false};
    assert_int_equal(store_heartbeat(st, "agent-1", &l, 1), SQ_EIO);
    char *listen = xasprintf("127.0.0.1:%s", current.port);
    int started = -1;
    for (int i = 0; i < 50 && started < 0; i++) { /* the port may linger a moment */
        started = serve_start(&current, listen);
        if (started < 0)
            time_sleep(0.1);
    }
    assert_int_equal(started, 0);
    free(listen);

    /* the same handle carries on: the lease held, the finish is accepted */
    assert_ok(store_heartbeat(st, "agent-1", &l, 1));
    assert_false(l.lost);
    assert_ok(
        conf_finish(st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, "{\"val\":{\"loss\":1}}"));
    assert_counts(st, "restart", 2, 0, 1, 0, 0);
    /* a stale attempt is refused with the server's fencing code and message */
    assert_int_equal(conf_finish(st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL),
                     SQ_ELEASE_LOST);
    assert_non_null(strstr(sq_error_msg(), "trial"));
    store_claims_free(c, 1);
    store_close(st);
}

static void test_names_that_need_percent_encoding_round_trip(void **state)
{
    store *st = NULL;
    assert_ok(store_open(&st, current.url));
    const char *name = "lr sweep é?&#%+";
    conf_create(st, name, 2, 3, 600);
    store_sweep *s = conf_get(st, name);
    assert_string_equal(s->name, name);
    store_sweep_free(s);
    store_trial *t = conf_trial(st, name, 2);
    assert_string_equal(t->sweep_name, name);
    store_trial_free(t);
    uint64_t n = 0;
    assert_ok(store_cancel(st, name, &n));
    assert_int_equal(n, 2);
    store_close(st);
}

/* Trials whose JSON passes the server's 8 MiB body limit: the client sends
 * them in several requests. */
static void test_a_sweep_bigger_than_one_request_is_created_whole(void **state)
{
    enum { N = 24000 };
    store *st = NULL;
    assert_ok(store_open(&st, current.url));
    conf_sweep cs;
    conf_sweep_init(&cs, "big", N);
    char *pad = xmalloc(801);
    memset(pad, 'p', 800);
    pad[800] = '\0';
    for (size_t i = 0; i < N; i++) {
        cs.strings = xrealloc(cs.strings, (cs.nstrings + 1) * sizeof *cs.strings);
        cs.strings[cs.nstrings++] = xasprintf("{\"x\":%zu,\"pad\":\"%s\"}", i + 1, pad);
        cs.trials[i].params_json = cs.strings[cs.nstrings - 1];
    }
    int64_t id = 0;
    uint64_t added = 0;
    cs.def.ntrials = N / 2;
    cs.def.total = N;
    assert_ok(store_create_sweep(st, &cs.def, &id, &added));
    assert_int_equal(added, N / 2);
    assert_ok(store_add_trials(st, id, cs.trials + N / 2, N / 2, &added));
    assert_int_equal(added, N / 2);
    assert_ok(store_add_trials(st, id, NULL, 0, &added)); /* nothing to add */
    assert_int_equal(added, 0);
    assert_int_equal(store_add_trials(st, 987654, NULL, 0, &added), SQ_ENOTFOUND);
    assert_counts(st, "big", N, 0, 0, 0, 0);
    store_trial *t = conf_trial(st, "big", N);
    assert_string_equal(t->params_json, cs.trials[N - 1].params_json);
    store_trial_free(t);
    free(pad);
    conf_sweep_release(&cs);
    store_close(st);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* A work directory for the conformance suite's claims files, which are
     * named after the store URL ("http://127.0.0.1:PORT/.claims.N"). */
    char *work = xstrdup("/tmp/sq-http-work.XXXXXX");
    if (!mkdtemp(work) || chdir(work) != 0)
        SQ_BUG("cannot make a work directory: %s", strerror(errno));
    int failed = store_conformance_run("http", &http_env);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_missing_or_wrong_token_is_refused_with_the_servers_message, http_setup,
            http_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_server_is_transient_and_hides_credentials,
                                        http_setup, http_teardown),
        cmocka_unit_test_setup_teardown(test_handle_survives_a_server_restart_on_the_same_port,
                                        http_setup, http_teardown),
        cmocka_unit_test_setup_teardown(test_names_that_need_percent_encoding_round_trip,
                                        http_setup, http_teardown),
        cmocka_unit_test_setup_teardown(test_a_sweep_bigger_than_one_request_is_created_whole,
                                        http_setup, http_teardown),
    };
    failed += cmocka_run_group_tests_name("http store", tests, NULL, NULL);
    if (chdir("/") == 0)
        nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(work);
    return failed;
}
