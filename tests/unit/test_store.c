/*
 * test_store.c - the store against real SQLite files in temporary
 * directories: the backend-independent conformance suite
 * (store_conformance.c), then what is particular to the sqlite backend
 * (URLs, WAL and schema versions, migrating a first-schema file, foreign
 * files, a held write lock, a big sweep).
 */
#include "store_conformance.c"

#include "store/schema_sqlite.h"

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>

/* ---- temporary stores --------------------------------------------------- */

static char *make_temp_dir(void)
{
    char *dir = xstrdup("/tmp/sq-store-test.XXXXXX");
    if (!mkdtemp(dir))
        SQ_BUG("mkdtemp: %s", strerror(errno));
    return dir;
}

/* Removes dir and the plain files in it (all a test makes). */
static void remove_temp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static char *sqlite_new_url(void *ctx)
{
    char *dir = make_temp_dir();
    char *url = xasprintf("sqlite:%s/store.db", dir);
    free(dir);
    return url;
}

static void sqlite_drop_url(const char *url, void *ctx)
{
    char *dir = xstrdup(url + strlen("sqlite:"));
    *strrchr(dir, '/') = '\0';
    remove_temp_dir(dir);
    free(dir);
}

static const store_conformance_env sqlite_env = {sqlite_new_url, sqlite_drop_url, NULL};

/* Runs one SQL statement on the file directly; returns its first column. */
static int64_t raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    int rc = sqlite3_step(q);
    assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_type(q, 0) == SQLITE_TEXT
                ? (strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0 ? 1 : 0)
                : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* ---- sqlite-specific tests --------------------------------------------------- */

static void test_open_makes_a_wal_database_with_a_schema_version(void **state)
{
    char *dir = make_temp_dir();
    char *path = xasprintf("%s/new.db", dir);
    store *st = NULL;
    assert_ok(store_open(&st, path)); /* a bare path is a SQLite file */
    assert_string_equal(store_url(st), path);
    double now = store_now(st);
    assert_true(now > 1.7e9);
    store_close(st);
    assert_int_equal(raw_sql(path, "PRAGMA journal_mode"), 1);
    assert_true(raw_sql(path, "PRAGMA user_version") >= 1);
    assert_int_equal(raw_sql(path, "PRAGMA application_id"), 0x53575051);
    /* reopening an up-to-date store changes nothing */
    assert_ok(store_open(&st, path));
    store_close(st);
    free(path);
    remove_temp_dir(dir);
    free(dir);
}

static void test_bare_path_and_sqlite_urls_name_the_same_store(void **state)
{
    char *dir = make_temp_dir();
    char *path = xasprintf("%s/same.db", dir);
    char *url1 = xasprintf("sqlite:%s", path);
    char *url2 = xasprintf("sqlite://%s", path); /* sqlite:///tmp/... */
    store *a = NULL, *b = NULL, *c = NULL;
    assert_ok(store_open(&a, path));
    assert_ok(store_open(&b, url1));
    assert_ok(store_open(&c, url2));
    conf_create(a, "shared", 3, 3, 600);
    store_sweep *s = conf_get(b, "shared");
    store_sweep_free(s);
    s = conf_get(c, "shared");
    assert_int_equal(s->counts.pending, 3);
    store_sweep_free(s);
    store_close(a);
    store_close(b);
    store_close(c);
    store_close(NULL);
    free(url1);
    free(url2);
    free(path);
    remove_temp_dir(dir);
    free(dir);
}

static void test_open_in_a_missing_directory_is_an_io_error(void **state)
{
    store *st = (store *)1;
    int rc = store_open(&st, "sqlite:/nonexistent-sq-dir/sub/store.db");
    assert_int_equal(rc, SQ_EIO);
    assert_null(st);
    assert_non_null(strstr(sq_error_msg(), "'/nonexistent-sq-dir/sub' does not exist"));
    assert_true(sq_error_is_transient(rc));
}

static void test_open_with_another_scheme_says_what_is_supported(void **state)
{
    store *st = NULL;
    assert_int_equal(store_open(&st, "mysql://db/x"), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "unknown scheme 'mysql'"));
    assert_non_null(strstr(sq_error_msg(), "sqlite:PATH"));
    assert_non_null(strstr(sq_error_msg(), "postgresql://"));
    assert_non_null(strstr(sq_error_msg(), "http(s)://"));
    assert_int_equal(store_open(&st, "https:host"), SQ_EINVAL); /* http needs //HOST */
    assert_non_null(strstr(sq_error_msg(), "expected http://HOST:PORT"));
    assert_int_equal(store_open(&st, ""), SQ_EINVAL);
    assert_int_equal(store_open(&st, "sqlite:"), SQ_EINVAL);
    assert_null(st);
}

static void test_a_first_schema_store_migrates_and_keeps_its_trials(void **state)
{
    char *dir = make_temp_dir();
    char *path = xasprintf("%s/v1.db", dir);
    /* the file as a sweepq with only the first migration left it */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_sqlite_migrations[0], NULL, NULL, NULL), SQLITE_OK);
    char *old = xasprintf("PRAGMA user_version = 1; PRAGMA application_id = %d;"
                          "INSERT INTO sweeps(name, spec_json, command_json, max_attempts, "
                          "lease_ttl, created_at, updated_at) VALUES "
                          "('old', '{}', '[]', 3, 600, 1, 1);"
                          "INSERT INTO trials(sweep_id, number, key, params_json, created_at) "
                          "SELECT id, 1, 'k1', '{}', 1 FROM sweeps;",
                          SCHEMA_SQLITE_APPLICATION_ID);
    assert_int_equal(sqlite3_exec(db, old, NULL, NULL, NULL), SQLITE_OK);
    free(old);
    sqlite3_close(db);
    store *st = NULL;
    assert_ok(store_open(&st, path));
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
    assert_int_equal(raw_sql(path, "PRAGMA user_version"),
                     (int64_t)ARRAY_SIZE(schema_sqlite_migrations));
    free(path);
    remove_temp_dir(dir);
    free(dir);
}

static void test_open_refuses_a_store_from_a_newer_sweepq(void **state)
{
    char *dir = make_temp_dir();
    char *path = xasprintf("%s/new.db", dir);
    store *st = NULL;
    assert_ok(store_open(&st, path));
    store_close(st);
    raw_sql(path, "PRAGMA user_version = 99");
    assert_int_equal(store_open(&st, path), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "newer"));
    free(path);
    remove_temp_dir(dir);
    free(dir);
}

static void test_open_refuses_another_programs_database_and_non_databases(void **state)
{
    char *dir = make_temp_dir();
    char *path = xasprintf("%s/other.db", dir);
    raw_sql(path, "CREATE TABLE notes(x)");
    store *st = NULL;
    assert_int_equal(store_open(&st, path), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "another program"));
    assert_int_equal(raw_sql(path, "SELECT count(*) FROM sqlite_master"), 1); /* untouched */

    char *junk = xasprintf("%s/junk.db", dir);
    FILE *fp = fopen(junk, "w");
    assert_non_null(fp);
    for (int i = 0; i < 64; i++)
        fputs("this is not a database at all\n", fp);
    fclose(fp);
    int rc = store_open(&st, junk);
    assert_true(rc == SQ_EIO || rc == SQ_EINVAL);
    assert_null(st);
    free(junk);
    free(path);
    remove_temp_dir(dir);
    free(dir);
}

/* Holds the write lock of path for hold seconds, after a byte on ready. */
static int child_hold_lock(const char *path, int hold_ms, int ready)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return 10;
    if (write(ready, "x", 1) != 1)
        return 11;
    time_sleep(hold_ms / 1000.0);
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : 12;
    sqlite3_close(db);
    return rc;
}

static void test_writer_waits_out_a_held_write_lock(void **state)
{
    char *dir = make_temp_dir();
    char *path = xasprintf("%s/lock.db", dir);
    store *st = NULL;
    assert_ok(store_open(&st, path));
    int64_t id = conf_create(st, "lock", 2, 3, 600);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(child_hold_lock(path, 300, fds[1]));
    }
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    /* The lock is held now: the claim waits in the busy handler, then runs. */
    store_claimed *cl = NULL;
    size_t n = 0;
    assert_ok(store_claim(st, "a", id, 2, &cl, &n));
    assert_int_equal(n, 2);
    store_claims_free(cl, n);
    assert_int_equal(conf_wait(pid), 0);
    store_close(st);
    free(path);
    remove_temp_dir(dir);
    free(dir);
}

static void test_big_sweep_is_created_and_extended_in_one_transaction(void **state)
{
    char *dir = make_temp_dir();
    char *path = xasprintf("%s/big.db", dir);
    store *st = NULL;
    assert_ok(store_open(&st, path));
    const size_t n = 20000;
    conf_sweep cs;
    conf_sweep_init(&cs, "big", n);
    int64_t id = 0;
    uint64_t added = 0;
    assert_ok(store_create_sweep(st, &cs.def, &id, &added));
    assert_int_equal(added, n);
    conf_sweep_release(&cs);
    conf_sweep_init(&cs, "big", n + 1);
    cs.def.spec_json = "{\"grid\":\"bigger\"}";
    assert_ok(store_create_sweep(st, &cs.def, &id, &added));
    assert_int_equal(added, 1);
    conf_sweep_release(&cs);
    store_sweep *s = conf_get(st, "big");
    assert_int_equal(s->counts.pending, n + 1);
    assert_int_equal(s->next_number, n + 2);
    store_sweep_free(s);
    store_claimed *c = conf_claim1(st, "a", id);
    assert_int_equal(c->number, 1);
    store_claims_free(c, 1);
    store_close(st);
    assert_int_equal(raw_sql(path, "SELECT count(*) FROM trials"), (int64_t)n + 1);
    free(path);
    remove_temp_dir(dir);
    free(dir);
}

int main(void)
{
    int failed = store_conformance_run("sqlite", &sqlite_env);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_makes_a_wal_database_with_a_schema_version),
        cmocka_unit_test(test_bare_path_and_sqlite_urls_name_the_same_store),
        cmocka_unit_test(test_open_in_a_missing_directory_is_an_io_error),
        cmocka_unit_test(test_open_with_another_scheme_says_what_is_supported),
        cmocka_unit_test(test_a_first_schema_store_migrates_and_keeps_its_trials),
        cmocka_unit_test(test_open_refuses_a_store_from_a_newer_sweepq),
        cmocka_unit_test(test_open_refuses_another_programs_database_and_non_databases),
        cmocka_unit_test(test_writer_waits_out_a_held_write_lock),
        cmocka_unit_test(test_big_sweep_is_created_and_extended_in_one_transaction),
    };
    failed += cmocka_run_group_tests_name("store (sqlite)", tests, NULL, NULL);
    return failed ? 1 : 0;
}
