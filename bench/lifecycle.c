/*
 * lifecycle.c - the cost of the store's trial lifecycle, beside the floor
 * SQLite itself sets, measured in one run on one machine.
 *
 *   bench_lifecycle [-n TRIALS] [-r ROUNDS] [-c CREATE] [-k]
 *
 * For P = 1 and P = 4 agent processes, each loop claims one trial and
 * finishes it as succeeded until none is left:
 *   store       store_claim(max 1) + store_finish(succeeded) on a store made
 *               by store_create_sweep (reap check, attempts rows, counters,
 *               fencing: everything the agent gets);
 *   raw         the same shape in hand-written SQL on a bare table: BEGIN
 *               IMMEDIATE; UPDATE one pending row to running; COMMIT; BEGIN
 *               IMMEDIATE; UPDATE it to succeeded; COMMIT. Same pragmas
 *               (WAL, synchronous=NORMAL) and the same kind of busy handler
 *               (short random sleeps), so the ratio is the store's overhead;
 *   raw+timeout the raw loop with SQLite's sqlite3_busy_timeout() instead,
 *               to show what the default busy handler costs under contention.
 * Children open their database before a common start; the clock runs from
 * the start to the last child's exit. Every trial is checked done at the end.
 * Then one sweep of CREATE trials is created through the store (one
 * transaction) and timed.
 *
 * The machine may be shared: each configuration runs ROUNDS times, the modes
 * interleaved, and the best rate of each is printed (the run least disturbed
 * by others), with the store/raw ratio of those, and the longest single
 * claim or finish seen in any round (what a stalled writer looks like).
 * -k keeps the temporary directory.
 */
#include "util/common.h"

#include "store/store.h"
#include "util/timeutil.h"
#include "bench_sweep.h"

#include <dirent.h>
#include <getopt.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef enum { MODE_STORE, MODE_RAW, MODE_RAW_TIMEOUT } bench_mode;

static const char *const mode_names[] = {"store", "raw SQL", "raw SQL, busy_timeout"};

/* The longest single transaction (claim or finish) a child saw: each child
 * writes its own slot of a page shared with the parent. */
#define MAX_PROCS 64
static double *child_max_wait;

static void note_wait(double started)
{
    double took = time_mono() - started;
    if (took > *child_max_wait)
        *child_max_wait = took;
}

/* ---- the raw loop ---------------------------------------------------------- */

static uint64_t raw_rng;

/* The store's strategy, written out again: sleep 50us..2ms at random. */
static int raw_busy(void *arg, int count)
{
    raw_rng ^= raw_rng << 13;
    raw_rng ^= raw_rng >> 7;
    raw_rng ^= raw_rng << 17;
    long span = count < 19 ? 100L * (count + 1) : 2000L;
    struct timespec ts = {0, (50 + (long)(raw_rng % (uint64_t)span)) * 1000};
    nanosleep(&ts, NULL);
    return count < 100000;
}

static sqlite3 *raw_open(const char *path, bench_mode mode)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        SQ_BUG("open %s: %s", path, sqlite3_errmsg(db));
    raw_rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL | 1;
    if (mode == MODE_RAW_TIMEOUT)
        sqlite3_busy_timeout(db, 10000);
    else
        sqlite3_busy_handler(db, raw_busy, NULL);
    if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL,
                     NULL) != SQLITE_OK)
        SQ_BUG("pragmas: %s", sqlite3_errmsg(db));
    return db;
}

static void raw_exec(sqlite3 *db, sqlite3_stmt *q)
{
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE)
        SQ_BUG("step: %s", sqlite3_errmsg(db));
    sqlite3_reset(q);
}

static void raw_setup(const char *path, int n)
{
    sqlite3 *db = raw_open(path, MODE_RAW);
    char *sql = xasprintf("CREATE TABLE t(id INTEGER PRIMARY KEY, state INTEGER NOT NULL, "
                          "owner INTEGER);"
                          "CREATE INDEX t_pending ON t(id) WHERE state = 0;"
                          "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
                          "WHERE i < %d) INSERT INTO t SELECT i, 0, NULL FROM c;",
                          n);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        SQ_BUG("setup: %s", sqlite3_errmsg(db));
    free(sql);
    sqlite3_close(db);
}

static int raw_child(const char *path, bench_mode mode, int gate)
{
    sqlite3 *db = raw_open(path, mode);
    sqlite3_stmt *begin, *commit, *claim, *finish;
    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL);
    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL);
    sqlite3_prepare_v2(db,
                       "UPDATE t SET state = 1, owner = ?1 WHERE id = (SELECT id FROM t WHERE "
                       "state = 0 ORDER BY id LIMIT 1) RETURNING id",
                       -1, &claim, NULL);
    sqlite3_prepare_v2(db, "UPDATE t SET state = 2 WHERE id = ?1 AND state = 1", -1, &finish, NULL);
    sqlite3_bind_int(claim, 1, getpid());
    char c;
    if (read(gate, &c, 1) < 0)
        return 1;
    for (;;) {
        double t0 = time_mono();
        raw_exec(db, begin);
        int64_t id = 0;
        if (sqlite3_step(claim) == SQLITE_ROW)
            id = sqlite3_column_int64(claim, 0);
        raw_exec(db, claim);
        raw_exec(db, commit);
        note_wait(t0);
        if (id == 0)
            break;
        t0 = time_mono();
        raw_exec(db, begin);
        sqlite3_bind_int64(finish, 1, id);
        raw_exec(db, finish);
        raw_exec(db, commit);
        note_wait(t0);
    }
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_finalize(claim);
    sqlite3_finalize(finish);
    sqlite3_close(db);
    return 0;
}

static int64_t raw_done(const char *path)
{
    sqlite3 *db = raw_open(path, MODE_RAW);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE state = 2", -1, &q, NULL);
    int64_t n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* ---- the store loop ------------------------------------------------------ */

static int store_child(const char *url, int gate)
{
    store *st = NULL;
    store_sweep *s = NULL;
    if (store_open(&st, url) < 0 || store_get_sweep(st, "bench", &s) < 0) {
        fprintf(stderr, "bench_lifecycle: %s\n", sq_error_msg());
        return 1;
    }
    int64_t sweep_id = s->id;
    store_sweep_free(s);
    char agent[64];
    snprintf(agent, sizeof agent, "bench:%d", (int)getpid());
    store_result ok = {.outcome = OUTCOME_SUCCEEDED, .exit_code = 0};
    char c;
    if (read(gate, &c, 1) < 0)
        return 1;
    int rc = 0;
    for (;;) {
        store_claimed *cl = NULL;
        size_t n = 0;
        double t0 = time_mono();
        if ((rc = store_claim(st, agent, sweep_id, 1, &cl, &n)) < 0 || n == 0)
            break;
        note_wait(t0);
        t0 = time_mono();
        rc = store_finish(st, cl[0].trial_id, cl[0].attempt, &ok);
        note_wait(t0);
        store_claims_free(cl, n);
        if (rc < 0)
            break;
    }
    if (rc < 0)
        fprintf(stderr, "bench_lifecycle: %s\n", sq_error_msg());
    store_close(st);
    return rc < 0 ? 1 : 0;
}

/* ---- running ------------------------------------------------------------- */

typedef struct bench_result {
    double rate;     /* trials per second */
    double max_wait; /* longest single claim or finish of any child, seconds */
} bench_result;

static void unlink_db(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        char *p = xasprintf("%s%s", path, suffixes[i]);
        unlink(p);
        free(p);
    }
}

/* Runs procs children of mode on a new database in dir. */
static bench_result run(bench_mode mode, const char *dir, int n, int procs)
{
    char *path = xasprintf("%s/%s.db", dir, mode == MODE_STORE ? "store" : "raw");
    unlink_db(path);
    if (mode == MODE_STORE) {
        store *st = NULL;
        double secs;
        if (store_open(&st, path) < 0 || bench_sweep_create(st, "bench", (size_t)n, &secs) < 0)
            SQ_BUG("setup: %s", sq_error_msg());
        store_close(st);
    } else {
        raw_setup(path, n);
    }
    int gate[2];
    if (pipe(gate) != 0)
        SQ_BUG("pipe");
    pid_t *pids = xcalloc((size_t)procs, sizeof *pids);
    double *waits = child_max_wait;
    for (int i = 0; i < procs; i++) {
        waits[i] = 0;
        pids[i] = fork();
        if (pids[i] < 0)
            SQ_BUG("fork");
        if (pids[i] == 0) {
            close(gate[1]);
            child_max_wait = &waits[i];
            _exit(mode == MODE_STORE ? store_child(path, gate[0]) : raw_child(path, mode, gate[0]));
        }
    }
    close(gate[0]);
    time_sleep(0.2); /* let every child open its database */
    double t0 = time_mono();
    close(gate[1]);
    int failed = 0;
    for (int i = 0; i < procs; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0)
            ;
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    bench_result res = {n / (time_mono() - t0), 0};
    for (int i = 0; i < procs; i++)
        res.max_wait = waits[i] > res.max_wait ? waits[i] : res.max_wait;
    free(pids);

    int64_t done = -1;
    if (mode == MODE_STORE) {
        store *st = NULL;
        store_sweep *s = NULL;
        if (store_open(&st, path) == 0 && store_get_sweep(st, "bench", &s) == 0)
            done = (int64_t)s->counts.succeeded;
        store_sweep_free(s);
        store_close(st);
    } else {
        done = raw_done(path);
    }
    if (failed || done != n) {
        fprintf(stderr, "bench_lifecycle: %s with %d processes finished %lld of %d trials\n",
                mode_names[mode], procs, (long long)done, n);
        exit(1);
    }
    unlink_db(path);
    free(path);
    return res;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    int n = 5000, create = 1000000, rounds = 3, keep = 0, opt;
    while ((opt = getopt(argc, argv, "n:c:r:k")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 'c': create = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'k': keep = 1; break;
        default:
            fprintf(stderr, "usage: bench_lifecycle [-n TRIALS] [-r ROUNDS] [-c CREATE] [-k]\n");
            return 2;
        }
    }
    if (n < 1 || rounds < 1)
        return 2;
    char dir[] = "/tmp/sq-lifecycle.XXXXXX";
    if (!mkdtemp(dir))
        SQ_BUG("mkdtemp");
    child_max_wait = mmap(NULL, MAX_PROCS * sizeof(double), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (child_max_wait == MAP_FAILED)
        SQ_BUG("mmap");

    printf("lifecycle: claim + finish of %d trials, best of %d interleaved rounds, sqlite %s, "
           "%ld cores\n",
           n, rounds, sqlite3_libversion(), sysconf(_SC_NPROCESSORS_ONLN));
    const int procs[] = {1, 4};
    const bench_mode modes[] = {MODE_RAW, MODE_RAW_TIMEOUT, MODE_STORE};
    for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
        bench_result best[3] = {{0, 0}};
        double worst_wait[3] = {0};
        for (int r = 0; r < rounds; r++) {
            for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
                bench_result res = run(modes[m], dir, n, procs[i]);
                if (res.rate > best[m].rate)
                    best[m] = res;
                if (res.max_wait > worst_wait[m])
                    worst_wait[m] = res.max_wait;
            }
        }
        printf("  %d process%s%*s trials/s   longest claim or finish\n", procs[i],
               procs[i] == 1 ? " " : "es", 17, "");
        for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
            printf("    %-24s %8.0f   %7.1f ms", mode_names[modes[m]], best[m].rate,
                   worst_wait[m] * 1e3);
            if (modes[m] == MODE_STORE)
                printf("   store/raw = %.2f", best[m].rate / best[0].rate);
            printf("\n");
        }
        fflush(stdout);
    }

    if (create > 0) {
        char *path = xasprintf("%s/create.db", dir);
        store *st = NULL;
        double secs = 0;
        if (store_open(&st, path) < 0 || bench_sweep_create(st, "big", (size_t)create, &secs) < 0)
            return 1;
        store_close(st);
        printf("  create one sweep of %d trials through the store: %.2f s (%.0f trials/s)\n",
               create, secs, create / secs);
        free(path);
    }
    if (keep)
        printf("  kept %s\n", dir);
    else
        remove_dir(dir);
    return 0;
}
