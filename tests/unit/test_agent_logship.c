/*
 * test_agent_logship.c - logship.c against real log files and a real SQLite
 * store: which stores get logs by default, what a shipped tail holds (the
 * cap, a cut UTF-8 character), and the queue of final tails (stored, given
 * up with a warning, kept untried while the store is away, the oldest
 * dropped when full). The store that is away is an http one on a loopback
 * port nothing listens on.
 */
#include "project_fixture.h"

#include "agent/logship.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct fixture {
    test_project p;
    int64_t trial_id;
    char *log; /* path of a log file in the project */
    size_t nwarned;
    char last_warning[512];
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    test_project_open(&f->p, "sq-logship");
    test_project_register_yaml(&f->p, "name: ship\nmethod: grid\ncommand: [echo]\n"
                                      "parameters:\n  x: {values: [1]}\n");
    store_trial *t = NULL;
    if (store_get_trial(f->p.st, "ship", 1, &t))
        fail_msg("get trial: %s", sq_error_msg());
    f->trial_id = t->id;
    store_trial_free(t);
    f->log = xasprintf("%s/attempt-1.log", f->p.dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_project_close(&f->p);
    free(f->log);
    free(f);
    return 0;
}

static void write_log(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void on_warning(const char *msg, void *ud)
{
    fixture *f = ud;
    f->nwarned++;
    snprintf(f->last_warning, sizeof f->last_warning, "%s", msg);
}

/* The stored tail of attempt 1; caller frees. */
static char *stored(fixture *f, size_t *len)
{
    char *text = NULL;
    if (store_get_log(f->p.st, f->trial_id, 1, &text, len))
        fail_msg("get log: %s", sq_error_msg());
    return text;
}

static void test_auto_ships_to_every_store_but_a_sqlite_file(void **state)
{
    assert_false(logship_wanted(AGENT_SHIP_AUTO, "sqlite:/x/.sweepq/sweepq.db"));
    assert_false(logship_wanted(AGENT_SHIP_AUTO, "SQLite:x.db"));
    assert_false(logship_wanted(AGENT_SHIP_AUTO, "/x/.sweepq/sweepq.db"));
    assert_false(logship_wanted(AGENT_SHIP_AUTO, "./odd:name.db")); /* a path, no scheme */
    assert_true(logship_wanted(AGENT_SHIP_AUTO, "postgresql://db/sweeps"));
    assert_true(logship_wanted(AGENT_SHIP_AUTO, "http://127.0.0.1:8080"));
    assert_true(logship_wanted(AGENT_SHIP_AUTO, "https://host"));
    assert_true(logship_wanted(AGENT_SHIP_ALWAYS, "sqlite:x.db"));
    assert_false(logship_wanted(AGENT_SHIP_NEVER, "http://127.0.0.1:8080"));
    agent_ship_logs m = AGENT_SHIP_NEVER;
    assert_int_equal(logship_mode_parse("auto", &m), 0);
    assert_int_equal(m, AGENT_SHIP_AUTO);
    assert_int_equal(logship_mode_parse("always", &m), 0);
    assert_int_equal(m, AGENT_SHIP_ALWAYS);
    assert_int_equal(logship_mode_parse("never", &m), 0);
    assert_int_equal(m, AGENT_SHIP_NEVER);
    assert_int_equal(logship_mode_parse("Always", &m), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "'Always'"));
}

static void test_send_stores_the_whole_log_and_its_size(void **state)
{
    fixture *f = *state;
    write_log(f->log, "epoch 1\nepoch 2\n", 16);
    int fd = open(f->log, O_RDONLY | O_CLOEXEC);
    off_t size = 0;
    assert_int_equal(logship_send(f->p.st, f->trial_id, 1, fd, &size), 0);
    assert_int_equal(size, 16);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0); /* pread: the offset did not move */
    close(fd);
    size_t len = 0;
    char *text = stored(f, &len);
    assert_int_equal(len, 16);
    assert_string_equal(text, "epoch 1\nepoch 2\n");
    free(text);
}

static void test_send_of_a_long_log_keeps_its_last_bytes_from_a_character(void **state)
{
    fixture *f = *state;
    /* "é" (2 bytes) repeated, then 3 ASCII bytes: the cap cuts the first
     * character it keeps in half, and its second byte is dropped */
    size_t n = STORE_LOG_MAX + 101; /* even bytes of é, + "end" */
    char *big = xmalloc(n);
    for (size_t i = 0; i + 3 < n; i += 2) {
        big[i] = (char)0xc3;
        big[i + 1] = (char)0xa9;
    }
    memcpy(big + n - 3, "end", 3);
    write_log(f->log, big, n);
    int fd = open(f->log, O_RDONLY | O_CLOEXEC);
    off_t size = 0;
    assert_int_equal(logship_send(f->p.st, f->trial_id, 1, fd, &size), 0);
    close(fd);
    assert_int_equal(size, (off_t)n);
    size_t len = 0;
    char *text = stored(f, &len);
    assert_int_equal(len, STORE_LOG_MAX - 1);
    assert_int_equal((unsigned char)text[0], 0xc3);
    assert_memory_equal(text, big + n - len, len);
    free(text);
    free(big);
}

static void test_queue_stores_what_it_can_and_warns_about_the_rest(void **state)
{
    fixture *f = *state;
    logship_queue q = LOGSHIP_QUEUE_INIT;
    write_log(f->log, "final words\n", 12);
    char *missing = xasprintf("%s/no-such.log", f->p.dir);
    logship_queue_add(&q, f->trial_id, 1, f->log, "trial 1 of sweep 'ship'", on_warning, f);
    logship_queue_add(&q, f->trial_id, 2, missing, "trial 1 of sweep 'ship'", on_warning, f);
    logship_queue_add(&q, 987654, 1, f->log, "trial 9 of sweep 'gone'", on_warning, f);
    assert_int_equal(q.n, 3);
    assert_int_equal(logship_queue_retry(&q, f->p.st, on_warning, f), 0);
    assert_int_equal(q.n, 0);
    assert_int_equal(f->nwarned, 2); /* the missing file, the unknown trial */
    assert_non_null(strstr(f->last_warning, "trial 9 of sweep 'gone' attempt 1 is not stored"));
    size_t len = 0;
    char *text = stored(f, &len);
    assert_string_equal(text, "final words\n");
    free(text);
    free(missing);
    logship_queue_release(&q);
}

/* An http store on a port nothing listens on: every call is SQ_EIO at once. */
static store *unreachable_store(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd); /* the port is free again, and refuses connections */
    char *url = xasprintf("http://127.0.0.1:%d", ntohs(sa.sin_port));
    setenv("SWEEPQ_TOKEN", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1);
    store *st = NULL;
    if (store_open(&st, url))
        fail_msg("open '%s': %s", url, sq_error_msg());
    free(url);
    return st;
}

static void test_queue_stops_at_a_store_that_is_away_and_keeps_the_rest(void **state)
{
    fixture *f = *state;
    logship_queue q = LOGSHIP_QUEUE_INIT;
    write_log(f->log, "final words\n", 12);
    char *missing = xasprintf("%s/no-such.log", f->p.dir);
    logship_queue_add(&q, f->trial_id, 1, f->log, "trial 1 of sweep 'ship'", on_warning, f);
    logship_queue_add(&q, f->trial_id, 2, missing, "trial 1 of sweep 'ship'", on_warning, f);
    store *away = unreachable_store();
    /* the first fails with SQ_EIO: the second (a missing file, which would
     * be warned about) is not tried, and both stay, in order */
    assert_int_equal(logship_queue_retry(&q, away, on_warning, f), 2);
    assert_int_equal(f->nwarned, 0);
    assert_int_equal(q.items[0].attempt, 1);
    assert_int_equal(q.items[1].attempt, 2);
    store_close(away);
    /* the store is back */
    assert_int_equal(logship_queue_retry(&q, f->p.st, on_warning, f), 0);
    assert_int_equal(f->nwarned, 1);
    size_t len = 0;
    char *text = stored(f, &len);
    assert_string_equal(text, "final words\n");
    free(text);
    free(missing);
    logship_queue_release(&q);
}

static void test_full_queue_drops_its_oldest_tail_with_a_warning(void **state)
{
    fixture *f = *state;
    logship_queue q = LOGSHIP_QUEUE_INIT;
    for (int i = 1; i <= LOGSHIP_QUEUE_MAX + 1; i++)
        logship_queue_add(&q, f->trial_id, i, f->log, "trial 1 of sweep 'ship'", on_warning, f);
    assert_int_equal(q.n, LOGSHIP_QUEUE_MAX);
    assert_int_equal(f->nwarned, 1);
    assert_non_null(strstr(f->last_warning, "attempt 1 is not stored"));
    assert_int_equal(q.items[0].attempt, 2);
    assert_int_equal(q.items[q.n - 1].attempt, LOGSHIP_QUEUE_MAX + 1);
    logship_queue_release(&q);
    assert_int_equal(q.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_ships_to_every_store_but_a_sqlite_file),
        cmocka_unit_test_setup_teardown(test_send_stores_the_whole_log_and_its_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_send_of_a_long_log_keeps_its_last_bytes_from_a_character, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_stores_what_it_can_and_warns_about_the_rest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_stops_at_a_store_that_is_away_and_keeps_the_rest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_drops_its_oldest_tail_with_a_warning, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("agent log shipping", tests, NULL, NULL);
}
