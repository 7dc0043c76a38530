/*
 * lifecycle_http.c - the trial lifecycle through `sweepq serve`, beside the
 * same work done directly on SQLite, measured in one run on one machine.
 *
 *   bench_lifecycle_http -s SWEEPQ [-n TRIALS] [-p PROCS] [-r ROUNDS] [-k]
 *
 * PROCS agent processes (default 16) each loop store_claim(max 1) +
 * store_finish(succeeded) until no trial is left:
 *   direct   on a SQLite store file that every process opens itself (what
 *            agents on one machine or a shared file system do);
 *   http     through one `sweepq serve` on 127.0.0.1 over that kind of file,
 *            each process with its own http store handle (one keep-alive
 *            connection), as remote agents do.
 * The sweep is created directly on the file before each run; children open
 * their handle before a common start; the clock runs from the start to the
 * last child's exit; every trial is checked succeeded at the end. Each mode
 * runs ROUNDS times, interleaved, and the best rate of each is printed (the
 * run least disturbed by a shared machine), with http/direct.
 * -k keeps the temporary directory.
 */
#include "util/common.h"

#include "store/store.h"
#include "util/timeutil.h"
#include "bench_sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A sweep `name` of n trials in the store at url. */
static void make_sweep(const char *url, const char *name, size_t n)
{
    store *st = NULL;
    double seconds;
    if (store_open(&st, url) < 0 || bench_sweep_create(st, name, n, &seconds) < 0)
        SQ_BUG("cannot make the sweep: %s", sq_error_msg());
    store_close(st);
}

/* One agent process: claim + finish until nothing is left. */
static int child(const char *url, const char *name, int gate)
{
    store *st = NULL;
    store_sweep *s = NULL;
    if (store_open(&st, url) < 0 || store_get_sweep(st, name, &s) < 0) {
        fprintf(stderr, "bench_lifecycle_http: %s\n", sq_error_msg());
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
        if ((rc = store_claim(st, agent, sweep_id, 1, &cl, &n)) < 0 || n == 0)
            break;
        rc = store_finish(st, cl[0].trial_id, cl[0].attempt, &ok);
        store_claims_free(cl, n);
        if (rc < 0)
            break;
    }
    if (rc < 0)
        fprintf(stderr, "bench_lifecycle_http: %s\n", sq_error_msg());
    store_close(st);
    return rc < 0 ? 1 : 0;
}

/* Runs procs children on sweep `name` through url (made on db_url); the
 * rate in trials per second. */
static double run(const char *url, const char *db_url, const char *name, int n, int procs)
{
    make_sweep(db_url, name, (size_t)n);
    int gate[2];
    if (pipe(gate) != 0)
        SQ_BUG("pipe");
    pid_t *pids = xcalloc((size_t)procs, sizeof *pids);
    for (int i = 0; i < procs; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            SQ_BUG("fork");
        if (pids[i] == 0) {
            close(gate[1]);
            _exit(child(url, name, gate[0]));
        }
    }
    close(gate[0]);
    time_sleep(0.3); /* let every child open its handle */
    double t0 = time_mono();
    close(gate[1]);
    int failed = 0;
    for (int i = 0; i < procs; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0)
            ;
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double rate = n / (time_mono() - t0);
    free(pids);

    store *st = NULL;
    store_sweep *s = NULL;
    int64_t done = -1;
    if (store_open(&st, db_url) == 0 && store_get_sweep(st, name, &s) == 0)
        done = (int64_t)s->counts.succeeded;
    store_sweep_free(s);
    store_close(st);
    if (failed || done != n) {
        fprintf(stderr, "bench_lifecycle_http: %s finished %lld of %d trials\n", url,
                (long long)done, n);
        exit(1);
    }
    return rate;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* What to undo at exit, also after a failed run's exit(1) (children
 * _exit and do not run it). */
static char bench_dir[] = "/tmp/sq-lifecycle-http.XXXXXX";
static pid_t bench_server;
static int bench_keep;
static pid_t bench_parent;

static void bench_cleanup(void)
{
    if (getpid() != bench_parent)
        return;
    if (bench_server > 0) {
        kill(bench_server, SIGTERM);
        waitpid(bench_server, NULL, 0);
    }
    if (bench_keep)
        printf("kept %s\n", bench_dir);
    else
        nftw(bench_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The URL in serve's first line, "sweepq: serving URL (store STORE)". */
static char *url_of_line(const char *line)
{
    const char *u = strstr(line, "http");
    if (!u || u > line + strcspn(line, "\n"))
        SQ_BUG("no URL in serve's first line: %s", line);
    return xstrndup(u, strcspn(u, " \n"));
}

/* Starts `SWEEPQ serve` in dir on the store db_url; *out_url gets the URL it
 * prints first. Returns its pid. */
static pid_t serve(char **out_url, const char *sweepq, const char *dir, const char *db_url)
{
    char *out = xasprintf("%s/serve.out", dir);
    char *err = xasprintf("%s/serve.err", dir);
    pid_t pid = fork();
    if (pid < 0)
        SQ_BUG("fork");
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || chdir(dir) < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execl(sweepq, sweepq, "serve", "--listen", "127.0.0.1:0", "--store", db_url, (char *)NULL);
        _exit(127);
    }
    bench_server = pid; /* stopped at exit, also when it never answers */
    *out_url = NULL;
    double deadline = time_mono() + 30;
    while (!*out_url && time_mono() < deadline) {
        strbuf sb = SB_INIT;
        if (sb_read_file(&sb, out) == 0 && strchr(sb_str(&sb), '\n'))
            *out_url = url_of_line(sb_str(&sb));
        sb_release(&sb);
        int status;
        if (!*out_url && waitpid(pid, &status, WNOHANG) == pid)
            break;
        if (!*out_url)
            time_sleep(0.02);
    }
    if (!*out_url) {
        strbuf sb = SB_INIT;
        sb_read_file(&sb, err);
        fprintf(stderr, "bench_lifecycle_http: '%s serve' did not start: %s\n", sweepq,
                sb_str(&sb));
        exit(1);
    }
    free(out);
    free(err);
    return pid;
}

int main(int argc, char **argv)
{
    int n = 2000, procs = 16, rounds = 3, keep = 0, opt;
    const char *sweepq = NULL;
    while ((opt = getopt(argc, argv, "s:n:p:r:k")) != -1) {
        switch (opt) {
        case 's': sweepq = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 'p': procs = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'k': keep = 1; break;
        default:
            fprintf(stderr, "usage: bench_lifecycle_http -s SWEEPQ [-n TRIALS] [-p PROCS] "
                            "[-r ROUNDS] [-k]\n");
            return 2;
        }
    }
    if (!sweepq || n < 1 || procs < 1 || rounds < 1) {
        fprintf(stderr, "usage: bench_lifecycle_http -s SWEEPQ [-n TRIALS] [-p PROCS] "
                        "[-r ROUNDS] [-k]\n");
        return 2;
    }
    char *bin = realpath(sweepq, NULL); /* the server starts in another directory */
    if (!bin) {
        fprintf(stderr, "bench_lifecycle_http: cannot find '%s'\n", sweepq);
        return 2;
    }
    sweepq = bin;
    signal(SIGPIPE, SIG_IGN);
    char *dir = bench_dir;
    if (!mkdtemp(dir))
        SQ_BUG("mkdtemp");
    bench_keep = keep;
    bench_parent = getpid();
    atexit(bench_cleanup);
    char *dot = xasprintf("%s/.sweepq", dir);
    mkdir(dot, 0700);
    /* One file for both modes: the same schema, size and pragmas. */
    char *db_url = xasprintf("sqlite:%s/sweepq.db", dot);
    char *url = NULL;
    store *st = NULL;
    if (store_open(&st, db_url) < 0) /* made before the server opens it */
        SQ_BUG("%s", sq_error_msg());
    store_close(st);
    bench_server = serve(&url, sweepq, dir, db_url);
    char *token = xasprintf("%s/server.token", dot);
    setenv("SWEEPQ_TOKEN_FILE", token, 1);

    printf("lifecycle over http: claim + finish of %d trials by %d agent processes, best of %d "
           "interleaved rounds, %ld cores\n",
           n, procs, rounds, sysconf(_SC_NPROCESSORS_ONLN));
    double best_direct = 0, best_http = 0;
    for (int r = 0; r < rounds; r++) {
        char *name = xasprintf("direct-%d", r);
        double d = run(db_url, db_url, name, n, procs);
        free(name);
        name = xasprintf("http-%d", r);
        double h = run(url, db_url, name, n, procs);
        free(name);
        best_direct = d > best_direct ? d : best_direct;
        best_http = h > best_http ? h : best_http;
    }
    printf("    %-34s %8.0f trials/s\n", "direct on SQLite", best_direct);
    printf("    %-34s %8.0f trials/s\n", "through sweepq serve (http)", best_http);
    printf("    http/direct = %.2f\n", best_http / best_direct);

    free(url);
    free(token);
    free(dot);
    free(db_url);
    free(bin);
    return 0;
}
