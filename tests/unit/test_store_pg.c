/*
 * test_store_pg.c - the store against a real PostgreSQL 15 that this test
 * starts itself (tests/pg-up.sh: initdb into /tmp, 127.0.0.1, a free port)
 * and stops at the end (tests/pg-down.sh). A server that cannot be started
 * is a failure, not a skip.
 *
 * First the backend-independent conformance suite (store_conformance.c),
 * each test in a database of its own (CREATE DATABASE per test, dropped
 * after); then what is particular to postgresql: the keyword conninfo form,
 * racing schema creation, migrating a first-schema database, times from the database's clock, a
 * killed connection and a restarted server.
 *
 * The conformance suite's concurrency test writes its children's claims to
 * files named after the store URL ("postgresql://postgres@127.0.0.1:PORT/
 * DB.claims.N"); main() therefore runs in a work directory holding the
 * directories "postgresql:/postgres@127.0.0.1:PORT" so those relative paths
 * exist.
 */
#include "store_conformance.c"

#include "store/schema_postgres.h"

#include <errno.h>
#include <libpq-fe.h>
#include <sys/stat.h>

static char *pg_dir;  /* the server's directory (pg-up.sh) */
static char *pg_base; /* postgresql://postgres@127.0.0.1:PORT */
static char *pg_admin_url;
static int pg_seq;

/* Runs one statement on the admin database; returns its first value or NULL. */
static char *admin_sql(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    char *v = NULL;
    if (PQstatus(c) != CONNECTION_OK)
        SQ_BUG("cannot connect to '%s': %s", url, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        SQ_BUG("'%s' failed: %s", sql, PQerrorMessage(c));
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0)
        v = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

static char *pg_new_url(void *ctx)
{
    char *db = xasprintf("sqt_%d_%d", (int)getpid(), ++pg_seq);
    char *sql = xasprintf("CREATE DATABASE %s", db);
    free(admin_sql(pg_admin_url, sql));
    char *url = xasprintf("%s/%s", pg_base, db);
    free(sql);
    free(db);
    return url;
}

static void pg_drop_url(const char *url, void *ctx)
{
    const char *db = strrchr(url, '/') + 1;
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    free(admin_sql(pg_admin_url, sql));
    free(sql);
}

static const store_conformance_env pg_env = {pg_new_url, pg_drop_url, NULL};

/* Runs a shell command and returns the last line of its stdout, or NULL. */
static char *run_last_line(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    char line[4096], *last = NULL;
    if (!p)
        return NULL;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        free(last);
        last = xstrdup(line);
    }
    if (pclose(p) != 0) {
        free(last);
        return NULL;
    }
    return last;
}

static char *script(const char *name)
{
    const char *src = getenv("SQ_SOURCE_DIR");
    return xasprintf("%s/tests/%s", src && *src ? src : SQ_SOURCE_DIR, name);
}

/* ---- postgresql-specific tests ------------------------------------------- */

static void test_keyword_conninfo_form_opens_the_same_store(void **state)
{
    char *url = pg_new_url(NULL);
    const char *port = strrchr(pg_base, ':') + 1;
    char *kw = xasprintf("postgresql:host=127.0.0.1 port=%s user=postgres dbname=%s", port,
                         strrchr(url, '/') + 1);
    store *a = NULL, *b = NULL;
    assert_ok(store_open(&a, url));
    conf_create(a, "kw", 3, 3, 600);
    assert_ok(store_open(&b, kw));
    assert_counts(b, "kw", 3, 0, 0, 0, 0);
    store_close(a);
    store_close(b);
    pg_drop_url(url, NULL);
    free(kw);
    free(url);
}

static int child_open(const char *url, int arg, int gate)
{
    conf_gate_wait(gate);
    store *st = NULL;
    int rc = store_open(&st, url);
    store_close(st);
    return rc < 0 ? 1 : 0;
}

static void test_racing_opens_of_a_new_database_make_one_schema(void **state)
{
    char *url = pg_new_url(NULL);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[6];
    for (int i = 0; i < 6; i++)
        pids[i] = conf_fork(child_open, url, 0, fds);
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < 6; i++)
        assert_int_equal(conf_wait(pids[i]), 0);
    char *kw = xasprintf("%s", url);
    char *v = admin_sql(kw, "SELECT count(*) || '/' || max(version) FROM sweepq_schema");
    char *want = xasprintf("1/%zu", ARRAY_SIZE(schema_postgres_migrations));
    assert_string_equal(v, want);
    free(want);
    free(v);
    free(kw);
    pg_drop_url(url, NULL);
    free(url);
}

static void test_a_first_schema_database_migrates_and_keeps_its_trials(void **state)
{
    char *url = pg_new_url(NULL);
    /* the database as a sweepq with only the first migration left it */
    free(admin_sql(url, "CREATE TABLE sweepq_schema (version int NOT NULL)"));
    free(admin_sql(url, schema_postgres_migrations[0]));
    free(admin_sql(url, "INSERT INTO sweepq_schema(version) VALUES (1)"));
    free(admin_sql(url, "INSERT INTO sweeps(name, spec_json, command_json, max_attempts, "
                        "lease_ttl, created_at, updated_at) VALUES ('old', '{}', '[]', 3, 600, "
                        "1, 1)"));
    free(admin_sql(url, "INSERT INTO trials(sweep_id, number, key, params_json, created_at) "
                        "SELECT id, 1, 'k1', '{}', 1 FROM sweeps"));
    store *st = NULL;
    assert_ok(store_open(&st, url));
    store_trial *t = conf_trial(st, "old", 1);
    assert_ok(store_put_log(st, t->id, 1, "kept\n", 5));
    char *text = NULL;
    size_t len = 0;
    assert_ok(store_get_log(st, t->id, 0, &text, &len));
    assert_int_equal(len, 5);
    assert_string_equal(text, "kept\n");
    free(text);
    store_trial_free(t);
    store_close(st);
    char *v = admin_sql(url, "SELECT count(*) || '/' || max(version) FROM sweepq_schema");
    char *want = xasprintf("1/%zu", ARRAY_SIZE(schema_postgres_migrations));
    assert_string_equal(v, want);
    free(want);
    free(v);
    pg_drop_url(url, NULL);
    free(url);
}

static void test_lease_times_come_from_the_database_clock(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "clock", 1, 3, 600);
    char *db_now = admin_sql(f->url, "SELECT extract(epoch from clock_timestamp())::float8");
    double before = strtod(db_now, NULL);
    free(db_now);
    store_claimed *c = conf_claim1(f->st, "a", id);
    double now = store_now(f->st);
    assert_true(now >= before && now < before + 60);
    store_trial *t = conf_trial(f->st, "clock", 1);
    assert_true(t->started_at >= before && t->started_at <= now);
    assert_true(t->lease_expires - t->started_at > 599.9 &&
                t->lease_expires - t->started_at < 600.1);
    assert_true(c->lease_expires == t->lease_expires);
    store_trial_free(t);
    store_claims_free(c, 1);
}

static void test_a_killed_connection_is_transient_and_the_next_call_reconnects(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "conn", 2, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    char *killed = admin_sql(f->url, "SELECT count(pg_terminate_backend(pid)) FROM "
                                     "pg_stat_activity WHERE datname = current_database() "
                                     "AND pid <> pg_backend_pid()");
    assert_string_equal(killed, "1");
    free(killed);
    store_lease l = {.trial_id = c->trial_id, .attempt = c->attempt};
    int rc = store_heartbeat(f->st, "a", &l, 1);
    assert_int_equal(rc, SQ_EIO);
    assert_true(sq_error_is_transient(rc));
    int tries = 0;
    while ((rc = store_heartbeat(f->st, "a", &l, 1)) == SQ_EIO && ++tries < 20)
        ;
    assert_ok(rc);
    assert_false(l.lost);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    assert_counts(f->st, "conn", 1, 0, 1, 0, 0);
    store_claims_free(c, 1);
}

static void test_a_restarted_server_is_transient_and_nothing_is_lost(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "restart", 2, 3, 600);
    store_claimed *c = conf_claim1(f->st, "a", id);
    char *down = script("pg-down.sh"), *up = script("pg-up.sh");
    char *cmd = xasprintf("%s %s && %s %s >/dev/null", down, pg_dir, up, pg_dir);
    assert_int_equal(system(cmd), 0);
    store_lease l = {.trial_id = c->trial_id, .attempt = c->attempt};
    int rc, tries = 0;
    while ((rc = store_heartbeat(f->st, "a", &l, 1)) == SQ_EIO && ++tries < 50)
        ;
    assert_ok(rc);
    assert_false(l.lost);
    assert_ok(conf_finish(f->st, c->trial_id, c->attempt, OUTCOME_SUCCEEDED, NULL));
    assert_counts(f->st, "restart", 1, 0, 1, 0, 0);
    free(cmd);
    free(down);
    free(up);
    store_claims_free(c, 1);
}

/* Claims start past what their connection claimed before (postgres.c):
 * a trial that another connection puts back to pending below that point
 * is still the next one claimed, lowest number first. */
static void test_a_trial_back_to_pending_below_a_claims_hint_is_claimed_first(void **state)
{
    conf_fixture *f = *state;
    int64_t id = conf_create(f->st, "hint", 6, 3, 600);
    store_claimed *c1 = conf_claim1(f->st, "a", id), *c2 = conf_claim1(f->st, "a", id);
    assert_int_equal(c2->number, 2);
    store *other = NULL;
    assert_ok(store_open(&other, f->url));
    assert_ok(conf_finish(other, c1->trial_id, c1->attempt, OUTCOME_PREEMPTED, NULL));
    store_claimed *c = conf_claim1(f->st, "a", id);
    assert_int_equal(c->number, 1);
    store_claims_free(c, 1);
    c = conf_claim1(f->st, "a", id);
    assert_int_equal(c->number, 3);
    /* and one put back by a retry from the other connection */
    assert_ok(conf_finish(f->st, c2->trial_id, c2->attempt, OUTCOME_FAILED, NULL));
    store_claimed *again = conf_claim1(other, "b", id);
    assert_int_equal(again->number, 2);
    assert_ok(conf_finish(other, again->trial_id, again->attempt, OUTCOME_FAILED, NULL));
    store_claims_free(again, 1);
    again = conf_claim1(other, "b", id);
    assert_ok(conf_finish(other, again->trial_id, again->attempt, OUTCOME_FAILED, NULL));
    store_claims_free(again, 1);
    uint64_t n = 0;
    assert_ok(store_retry(other, "hint", true, false, &n));
    assert_int_equal(n, 1);
    store_claims_free(c, 1);
    c = conf_claim1(f->st, "a", id);
    assert_int_equal(c->number, 2);
    store_claims_free(c, 1);
    store_claims_free(c1, 1);
    store_claims_free(c2, 1);
    store_close(other);
}

static void test_an_unreachable_server_fails_to_open_with_a_transient_error(void **state)
{
    store *st = NULL;
    /* port 1 on loopback: nothing listens there */
    int rc = store_open(&st, "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2");
    assert_int_equal(rc, SQ_EIO);
    assert_null(st);
    assert_non_null(strstr(sq_error_msg(), "127.0.0.1:1"));
}

static void test_a_password_in_the_url_is_not_shown_in_messages(void **state)
{
    store *st = NULL;
    int rc = store_open(&st, "postgresql://bob:s3cret@127.0.0.1:1/none?connect_timeout=2");
    assert_int_equal(rc, SQ_EIO);
    assert_null(strstr(sq_error_msg(), "s3cret"));
}

int main(void)
{
    char *up = script("pg-up.sh");
    char *owner = xasprintf("%d", (int)getpid());
    setenv("SQ_PG_OWNER", owner, 1); /* stopped even if this test crashes */
    free(owner);
    pg_dir = run_last_line(up); /* its messages go to stderr */
    unsetenv("SQ_PG_OWNER");
    free(up);
    if (!pg_dir || !*pg_dir) {
        fprintf(stderr, "FAIL: cannot start PostgreSQL with tests/pg-up.sh (see above): the "
                        "postgresql store is untested\n");
        return 1;
    }
    char *urlfile = xasprintf("%s/url", pg_dir);
    strbuf sb = SB_INIT;
    if (sb_read_file(&sb, urlfile) < 0) {
        fprintf(stderr, "FAIL: no URL in '%s'\n", urlfile);
        return 1;
    }
    char *url = sb_detach(&sb);
    url[strcspn(url, "\n")] = '\0';
    *strrchr(url, '/') = '\0'; /* postgresql://postgres@127.0.0.1:PORT */
    pg_base = url;
    pg_admin_url = xasprintf("%s/postgres", pg_base);

    /* The work directory for the claims files (see the file comment). */
    char *work = xasprintf("%s/work", pg_dir);
    char *claims = xasprintf("%s/postgresql:/%s", work, pg_base + strlen("postgresql://"));
    char *mk = xasprintf("mkdir -p '%s'", claims);
    if (system(mk) != 0 || chdir(work) != 0) {
        fprintf(stderr, "FAIL: cannot make '%s': %s\n", claims, strerror(errno));
        return 1;
    }

    int failed = store_conformance_run("postgresql", &pg_env);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyword_conninfo_form_opens_the_same_store),
        cmocka_unit_test(test_racing_opens_of_a_new_database_make_one_schema),
        cmocka_unit_test(test_a_first_schema_database_migrates_and_keeps_its_trials),
        CONF_TEST(test_lease_times_come_from_the_database_clock),
        CONF_TEST(test_a_killed_connection_is_transient_and_the_next_call_reconnects),
        CONF_TEST(test_a_restarted_server_is_transient_and_nothing_is_lost),
        CONF_TEST(test_a_trial_back_to_pending_below_a_claims_hint_is_claimed_first),
        cmocka_unit_test(test_an_unreachable_server_fails_to_open_with_a_transient_error),
        cmocka_unit_test(test_a_password_in_the_url_is_not_shown_in_messages),
    };
    failed += cmocka_run_group_tests_name("store (postgresql)", tests, NULL, NULL);

    if (chdir("/") != 0)
        failed++;
    char *down = script("pg-down.sh");
    char *stop = xasprintf("%s '%s' --rm", down, pg_dir);
    if (system(stop) != 0)
        failed++;
    free(stop);
    free(down);
    free(mk);
    free(claims);
    free(work);
    free(urlfile);
    free(pg_admin_url);
    free(pg_base);
    free(pg_dir);
    return failed ? 1 : 0;
}
