/*
 * lifecycle_pg.c - the store's trial lifecycle on PostgreSQL beside SQLite,
 * measured in one run on one machine, and the PostgreSQL rate over a long
 * sweep, interval by interval (does it stay flat as dead rows pile up?).
 *
 *   bench_lifecycle_pg -u POSTGRES_URL [-n TRIALS] [-L LONG_TRIALS] [-i SECONDS]
 *
 * POSTGRES_URL names a server where the bench may create databases
 * (postgresql://USER@HOST:PORT; bench/lifecycle_pg.sh starts one). For
 * P = 1, 4 and 16 agent processes and each store (a new SQLite file; a new
 * PostgreSQL database), each process loops store_claim(max 1) +
 * store_heartbeat(that lease) + store_finish(succeeded) until nothing is
 * left: everything an agent's store calls cost for a short trial (reaping,
 * renewing, fencing, settling the sweep). Processes open
 * their store before a common start; the clock runs from the start to the
 * last process's exit; every trial is checked succeeded at the end.
 *
 * Then the long run: 4 processes through LONG_TRIALS trials on PostgreSQL,
 * with the rate printed every SECONDS, and the table's update statistics
 * at the end (the share of HOT updates, dead rows left, autovacuum runs).
 */
#include "util/common.h"

#include "store/store.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 64

static char *pg_base;
static int db_seq;
static uint64_t *done_by; /* shared: trials finished per process */

static void admin(const char *sql)
{
    char *url = xasprintf("%s/postgres", pg_base);
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        SQ_BUG("cannot connect to '%s': %s", url, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        SQ_BUG("'%s': %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    free(url);
}

/* A new, empty store of the kind: "postgresql" or "sqlite". */
static char *new_store(const char *kind, char **dir)
{
    *dir = NULL;
    if (strcmp(kind, "postgresql") == 0) {
        char *sql = xasprintf("CREATE DATABASE sqbench_%d_%d", (int)getpid(), ++db_seq);
        admin(sql);
        free(sql);
        return xasprintf("%s/sqbench_%d_%d", pg_base, (int)getpid(), db_seq);
    }
    *dir = xstrdup("/tmp/sq-bench-pg.XXXXXX");
    if (!mkdtemp(*dir))
        SQ_BUG("mkdtemp failed");
    return xasprintf("sqlite:%s/store.db", *dir);
}

static void drop_store(const char *url, char *dir)
{
    if (dir) {
        char *cmd = xasprintf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove '%s'\n", dir);
        free(cmd);
        free(dir);
        return;
    }
    char *sql = xasprintf("DROP DATABASE %s WITH (FORCE)", strrchr(url, '/') + 1);
    admin(sql);
    free(sql);
}

static int64_t create(const char *url, uint64_t n, double *secs)
{
    store *st = NULL;
    if (store_open(&st, url) < 0)
        SQ_BUG("open %s: %s", url, sq_error_msg());
    store_trial_def *t = xcalloc(n, sizeof *t);
    char **strs = xcalloc(2 * n, sizeof *strs);
    for (uint64_t i = 0; i < n; i++) {
        strs[2 * i] = xasprintf("k%llu", (unsigned long long)i + 1);
        strs[2 * i + 1] = xasprintf("{\"i\":%llu}", (unsigned long long)i + 1);
        t[i] = (store_trial_def){i + 1, strs[2 * i], strs[2 * i + 1]};
    }
    store_sweep_def def = {.name = "bench",
                           .spec_json = "{}",
                           .command_json = "[\"true\"]",
                           .max_attempts = 3,
                           .lease_ttl = 600,
                           .cpus = 1,
                           .total = n,
                           .trials = t,
                           .ntrials = n};
    int64_t id = 0;
    uint64_t added = 0;
    double t0 = time_mono();
    if (store_create_sweep(st, &def, &id, &added) < 0 || added != n)
        SQ_BUG("create: %s", sq_error_msg());
    *secs = time_mono() - t0;
    for (uint64_t i = 0; i < 2 * n; i++)
        free(strs[i]);
    free(strs);
    free(t);
    store_close(st);
    return id;
}

/* One agent process: claim one, renew its lease, finish it, until nothing is left. */
static int child(const char *url, int64_t id, int slot, int gate)
{
    store *st = NULL;
    char agent[32], c;
    snprintf(agent, sizeof agent, "bench-%d", slot);
    if (store_open(&st, url) < 0)
        return 10;
    while (read(gate, &c, 1) < 0)
        ;
    for (;;) {
        store_claimed *cl = NULL;
        size_t n = 0;
        int rc = store_claim(st, agent, id, 1, &cl, &n);
        if (rc < 0 && sq_error_is_transient(rc))
            continue;
        if (rc < 0)
            return 11;
        if (n == 0)
            break;
        /* one renewal per trial, as an agent's heartbeat would do */
        store_lease l = {.trial_id = cl[0].trial_id, .attempt = cl[0].attempt};
        while ((rc = store_heartbeat(st, agent, &l, 1)) < 0 && sq_error_is_transient(rc))
            ;
        if (rc < 0 || l.lost)
            return 13;
        store_result r = {.outcome = OUTCOME_SUCCEEDED, .exit_code = 0};
        while ((rc = store_finish(st, cl[0].trial_id, cl[0].attempt, &r)) < 0 &&
               sq_error_is_transient(rc))
            ;
        store_claims_free(cl, n);
        if (rc < 0)
            return 12;
        done_by[slot]++;
    }
    store_close(st);
    return 0;
}

static uint64_t done_total(int procs)
{
    uint64_t s = 0;
    for (int i = 0; i < procs; i++)
        s += __atomic_load_n(&done_by[i], __ATOMIC_RELAXED);
    return s;
}

/* Runs procs processes over a new sweep of n trials; returns trials/s.
 * With interval > 0 prints the rate of each interval. */
static double run(const char *url, int procs, uint64_t n, double interval)
{
    double create_secs;
    int64_t id = create(url, n, &create_secs);
    memset(done_by, 0, MAX_PROCS * sizeof *done_by);
    int gate[2];
    if (pipe(gate) != 0)
        SQ_BUG("pipe failed");
    pid_t pids[MAX_PROCS];
    for (int i = 0; i < procs; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(gate[1]);
            _exit(child(url, id, i, gate[0]));
        }
    }
    close(gate[0]);
    time_sleep(0.3 + 0.02 * procs); /* let every process connect */
    double t0 = time_mono();
    close(gate[1]);
    if (interval > 0) {
        double last_t = t0;
        uint64_t last_n = 0;
        int k = 0;
        printf("    interval  trials/s\n");
        while (done_total(procs) < n) {
            time_sleep(interval);
            double now = time_mono();
            uint64_t d = done_total(procs);
            printf("    %3d-%-3ds  %8.0f%s\n", (int)(k * interval), (int)((k + 1) * interval),
                   (double)(d - last_n) / (now - last_t),
                   d == n ? "  (the sweep ended in this interval)" : "");
            fflush(stdout);
            k++;
            last_t = now;
            last_n = d;
        }
    }
    int failed = 0;
    for (int i = 0; i < procs; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
    }
    double secs = time_mono() - t0;
    store *st = NULL;
    store_sweep *s = NULL;
    if (failed || store_open(&st, url) < 0 || store_get_sweep(st, "bench", &s) < 0 ||
        s->counts.succeeded != n || s->state != SWEEP_FINISHED)
        SQ_BUG("run on %s: %d processes failed, %llu of %llu trials succeeded", url, failed,
               s ? (unsigned long long)s->counts.succeeded : 0ULL, (unsigned long long)n);
    store_sweep_free(s);
    store_close(st);
    return (double)n / secs;
}

static void print_table_stats(const char *url)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, "SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup, autovacuum_count, "
                            "pg_size_pretty(pg_total_relation_size('trials')) "
                            "FROM pg_stat_user_tables WHERE relname = 'trials'");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        printf("    trials table: %s updates, %s HOT, %s dead rows left, %s autovacuum runs, "
               "%s with indexes\n",
               PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
               PQgetvalue(r, 0, 4));
    PQclear(r);
    PQfinish(c);
}

int main(int argc, char **argv)
{
    uint64_t n = 3000, long_n = 60000;
    double interval = 2;
    int opt;
    while ((opt = getopt(argc, argv, "u:n:L:i:")) != -1) {
        switch (opt) {
        case 'u': pg_base = optarg; break;
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'L': long_n = strtoull(optarg, NULL, 10); break;
        case 'i': interval = strtod(optarg, NULL); break;
        default:
            fprintf(stderr, "usage: bench_lifecycle_pg -u POSTGRES_URL [-n TRIALS] "
                            "[-L LONG_TRIALS] [-i SECONDS]\n");
            return 2;
        }
    }
    if (!pg_base) {
        fprintf(stderr, "bench_lifecycle_pg: -u POSTGRES_URL is required\n");
        return 2;
    }
    done_by = mmap(NULL, MAX_PROCS * sizeof *done_by, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (done_by == MAP_FAILED)
        SQ_BUG("mmap failed");

    static const int procs[] = {1, 4, 16};
    static const char *const kinds[] = {"sqlite", "postgresql"};
    double rate[2][3];
    printf("claim + heartbeat + finish of %llu trials through the store (trials/s)\n",
           (unsigned long long)n);
    printf("  agents    sqlite  postgresql  postgresql/sqlite\n");
    for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
            char *dir;
            char *url = new_store(kinds[k], &dir);
            rate[k][p] = run(url, procs[p], n, 0);
            drop_store(url, dir);
            free(url);
        }
        printf("  %6d  %8.0f  %10.0f  %17.2f\n", procs[p], rate[0][p], rate[1][p],
               rate[1][p] / rate[0][p]);
        fflush(stdout);
    }

    printf("long sweep on postgresql: 4 agents, %llu trials, rate per %.0f s interval\n",
           (unsigned long long)long_n, interval);
    char *dir;
    char *url = new_store("postgresql", &dir);
    double long_rate = run(url, 4, long_n, interval);
    printf("    overall %.0f trials/s\n", long_rate);
    print_table_stats(url);
    drop_store(url, dir);
    free(url);
    munmap(done_by, MAX_PROCS * sizeof *done_by);
    return 0;
}
