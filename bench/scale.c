/*
 * scale.c - many simulated agents against one `sweepq serve`, from one
 * process (libcurl multi), speaking the real API: register, claim (max 1),
 * heartbeat while the "trial" runs, finish, claim again, until a claim
 * comes back empty.
 *
 *   bench_scale -s SWEEPQ [-a AGENTS] [-t TRIALS] [-d SECONDS] [-H SECONDS]
 *               [-r SECONDS] [-m MAX_CONNECTIONS] [-k]
 *
 *   -a  simulated agents (default 1000)
 *   -t  trials in the sweep (default 2 per agent)
 *   -d  mean trial duration; each is drawn uniformly from 0.5 to 1.5 times
 *       it (default 5)
 *   -H  heartbeat interval (default 15: the bench sweep's lease of 60 s / 4)
 *   -r  agents start spread over this many seconds (default 2)
 *   -m  the server's --max-connections (default: its own sizing)
 *   -k  keep the temporary project
 *
 * Each agent keeps its own connection, as a real agent does: it binds to
 * its own loopback source address (127.1.x.y; libcurl never shares a
 * connection between different local addresses), so the server holds one
 * connection per agent. The server runs on a SQLite store in a temporary
 * project, the sweep made directly on its file first.
 *
 * Prints: claims/s over the run, claim latency at the client (p50, p99,
 * max, from the request's start to its answer, connecting included),
 * failed requests (no answer: connection refused, reset, timed out) and
 * HTTP errors, agents that got at least one trial, and the server's peak
 * resident memory and CPU time (from /proc). A failed request is retried
 * after a jittered second.
 */
#include "util/common.h"

#include "store/store.h"
#include "util/timeutil.h"
#include "bench_sweep.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum { A_REGISTER, A_CLAIM, A_HEARTBEAT, A_FINISH, A_DONE } step;

typedef struct sim_agent {
    CURL *h;
    struct curl_slist *headers, *resolve;
    char id[32], iface[32], base[96];
    step next;        /* what to send when due */
    double due;       /* mono time at which it is sent */
    double sent_at;   /* when the request in flight started */
    double trial_end; /* when the running trial "exits" */
    int64_t trial_id;
    int attempt;
    unsigned claims;
    unsigned claim_seq; /* the claim's request_id: resent unchanged on a retry */
    bool in_flight;
    struct group *g;
    strbuf resp;
    char *body;
    size_t heap_i;
} sim_agent;

static struct {
    const char *url, *token;
    int port;
    int64_t sweep_id;
    double mean, hb_every;
    uint64_t rng;
    /* results */
    double *lat;
    size_t nlat, caplat;
    uint64_t failed, http_errors, requests;
    uint64_t no_connect, timed_out; /* of failed: could not connect; no answer in time */
    /* timer heap of agents by due, those not in flight and not done */
    sim_agent **heap;
    size_t nheap;
    /* libcurl's sockets and timers (the multi socket interface), for
     * agents in groups of GROUP_SIZE, one multi handle each: several of
     * libcurl's steps walk every transfer of their multi handle */
    int ep;
    struct group *groups;
    size_t ngroups;
} B;

#define GROUP_SIZE 200

typedef struct group {
    CURLM *m;
    double curl_due; /* mono time libcurl wants to be called; 0: none */
} group;

/* What an epoll entry points at: the socket and its multi handle. */
typedef struct watched {
    curl_socket_t fd; /* -1 once libcurl is done with it (freed after the batch) */
    struct group *g;
    struct watched *next_dead;
} watched;

/* Entries libcurl removed while a batch of events (which may still point
 * at them) was being handled. */
static watched *dead;

/* ---- a min-heap of agents by due time ---------------------------------------- */

static void heap_swap(size_t i, size_t j)
{
    sim_agent *t = B.heap[i];
    B.heap[i] = B.heap[j];
    B.heap[j] = t;
    B.heap[i]->heap_i = i;
    B.heap[j]->heap_i = j;
}

static void heap_push(sim_agent *a)
{
    size_t i = B.nheap++;
    B.heap[i] = a;
    a->heap_i = i;
    while (i && B.heap[(i - 1) / 2]->due > B.heap[i]->due) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static sim_agent *heap_pop(void)
{
    sim_agent *top = B.heap[0];
    heap_swap(0, --B.nheap);
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < B.nheap && B.heap[l]->due < B.heap[m]->due)
            m = l;
        if (r < B.nheap && B.heap[r]->due < B.heap[m]->due)
            m = r;
        if (m == i)
            break;
        heap_swap(i, m);
        i = m;
    }
    return top;
}

/* ---- requests -------------------------------------------------------------------- */

static double uniform(void)
{
    B.rng ^= B.rng >> 12;
    B.rng ^= B.rng << 25;
    B.rng ^= B.rng >> 27;
    return (double)((B.rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    sim_agent *a = arg;
    return sb_add(&a->resp, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* Starts a's next request on multi m. */
static void send_step(sim_agent *a)
{
    char path[128];
    free(a->body);
    switch (a->next) {
    case A_REGISTER:
        snprintf(path, sizeof path, "/api/v1/agents");
        a->body = xasprintf("{\"id\":\"%s\",\"host\":\"sim\",\"pid\":%d,\"slots\":1,"
                            "\"version\":\"bench\"}",
                            a->id, (int)getpid());
        break;
    case A_CLAIM:
        snprintf(path, sizeof path, "/api/v1/claims");
        a->body = xasprintf("{\"agent_id\":\"%s\",\"sweep_id\":%lld,\"max\":1,"
                            "\"request_id\":\"%s-%u\"}",
                            a->id, (long long)B.sweep_id, a->id, a->claim_seq);
        break;
    case A_HEARTBEAT:
        snprintf(path, sizeof path, "/api/v1/heartbeats");
        a->body = xasprintf("{\"agent_id\":\"%s\",\"leases\":[{\"trial_id\":%lld,\"attempt\":%d}]}",
                            a->id, (long long)a->trial_id, a->attempt);
        break;
    default:
        snprintf(path, sizeof path, "/api/v1/trials/%lld/finish", (long long)a->trial_id);
        a->body = xasprintf("{\"attempt\":%d,\"outcome\":\"succeeded\",\"exit_code\":0,"
                            "\"term_signal\":0}",
                            a->attempt);
        break;
    }
    char *url = xasprintf("%s%s", a->base, path);
    curl_easy_setopt(a->h, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(a->h, CURLOPT_POSTFIELDS, a->body);
    sb_reset(&a->resp);
    a->sent_at = time_mono();
    a->in_flight = true;
    B.requests++;
    curl_multi_add_handle(a->g->m, a->h);
}

static void record_latency(double s)
{
    if (B.nlat == B.caplat) {
        B.caplat = B.caplat ? 2 * B.caplat : 4096;
        B.lat = xrealloc(B.lat, B.caplat * sizeof *B.lat);
    }
    B.lat[B.nlat++] = s;
}

/* Reads a claim's answer: the trial id and attempt, or none left. */
static bool parse_claim(sim_agent *a)
{
    const char *t = a->resp.buf ? strstr(a->resp.buf, "\"trial_id\":") : NULL;
    const char *at = a->resp.buf ? strstr(a->resp.buf, "\"attempt\":") : NULL;
    if (!t || !at)
        return false;
    a->trial_id = strtoll(t + 11, NULL, 10);
    a->attempt = (int)strtol(at + 10, NULL, 10);
    return true;
}

/* What a does after its answer at now: status is the HTTP status, 0 when
 * none came. No answer or a 5xx is retried after a jittered second; a 4xx
 * is not (a finish answered 409 because its first try was done though its
 * answer was lost): the agent goes on to its next claim, or stops. */
static void advance(sim_agent *a, long status, double now)
{
    if (status == 0 || status >= 500) {
        a->due = now + 0.5 + uniform();
        return;
    }
    if (status >= 300) {
        a->next = a->next == A_CLAIM ? A_DONE : A_CLAIM;
        a->due = now;
        return;
    }
    switch (a->next) {
    case A_REGISTER:
        a->next = A_CLAIM;
        a->due = now;
        break;
    case A_CLAIM:
        record_latency(now - a->sent_at);
        a->claim_seq++;
        if (!parse_claim(a)) {
            a->next = A_DONE;
            return;
        }
        a->claims++;
        a->trial_end = now + B.mean * (0.5 + uniform());
        a->next = now + B.hb_every < a->trial_end ? A_HEARTBEAT : A_FINISH;
        a->due = a->next == A_HEARTBEAT ? now + B.hb_every : a->trial_end;
        break;
    case A_HEARTBEAT:
        a->next = now + B.hb_every < a->trial_end ? A_HEARTBEAT : A_FINISH;
        a->due = a->next == A_HEARTBEAT ? now + B.hb_every : a->trial_end;
        break;
    default:
        a->next = A_CLAIM;
        a->due = now;
        break;
    }
}

/* Collects the finished transfers; returns how many agents finished. */
static size_t reap_transfers(CURLM *m)
{
    size_t done = 0;
    int left;
    CURLMsg *msg;
    double now = time_mono();
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        sim_agent *a = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
        long status = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        CURLcode cc = msg->data.result;
        curl_multi_remove_handle(m, msg->easy_handle);
        a->in_flight = false;
        if (cc != CURLE_OK) {
            B.failed++;
            B.no_connect += cc == CURLE_COULDNT_CONNECT;
            B.timed_out += cc == CURLE_OPERATION_TIMEDOUT;
        } else if (status < 200 || status >= 300)
            B.http_errors++;
        advance(a, cc == CURLE_OK ? status : 0, now);
        if (a->next == A_DONE)
            done++;
        else
            heap_push(a);
    }
    return done;
}

/* ---- the server ------------------------------------------------------------------- */

static pid_t start_server(const char *sweepq, const char *dir, const char *db, int max_conns,
                          char **url)
{
    int p[2];
    if (pipe(p) != 0)
        SQ_BUG("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        if (chdir(dir) != 0)
            _exit(127);
        char store_url[4096], mc[32];
        snprintf(store_url, sizeof store_url, "sqlite:%s", db);
        snprintf(mc, sizeof mc, "%d", max_conns);
        if (max_conns > 0)
            execl(sweepq, sweepq, "serve", "--listen", "127.0.0.1:0", "--store", store_url,
                  "--max-connections", mc, (char *)NULL);
        else
            execl(sweepq, sweepq, "serve", "--listen", "127.0.0.1:0", "--store", store_url,
                  (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[512] = "";
    if (!f || !fgets(line, sizeof line, f))
        SQ_BUG("sweepq serve did not start");
    char *u = strstr(line, "http://");
    char *sp = u ? strchr(u, ' ') : NULL;
    if (!sp)
        SQ_BUG("unexpected first line from sweepq serve: %s", line);
    *url = xstrndup(u, (size_t)(sp - u - 1)); /* without the trailing / */
    /* f stays open (the server's stdout), read by no one: it writes no more */
    return pid;
}

/* The server's peak resident memory (kB) and CPU seconds so far. */
static void server_usage(pid_t pid, long *hwm_kb, double *cpu)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    *hwm_kb = 0;
    while (f && fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "VmHWM:", 6))
            *hwm_kb = strtol(buf + 6, NULL, 10);
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    *cpu = 0;
    if (f && fgets(buf, sizeof buf, f)) {
        char *p = strrchr(buf, ')');
        unsigned long long ut = 0, st = 0;
        /* fields after the name: state is 3rd; utime 14th, stime 15th */
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            *cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    if (f)
        fclose(f);
}

/* The machine's load average over the last minute (others share it). */
static double loadavg(void)
{
    double l = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1)
        l = 0;
    if (f)
        fclose(f);
    return l;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- the run ---------------------------------------------------------------------- */

static sim_agent *make_agents(size_t n, double ramp, double t0)
{
    sim_agent *ag = xcalloc(n, sizeof *ag);
    char *auth = xasprintf("Authorization: Bearer %s", B.token);
    for (size_t i = 0; i < n; i++) {
        sim_agent *a = &ag[i];
        snprintf(a->id, sizeof a->id, "sim-%zu", i);
        /* its own source address: 127.1.0.1 and on */
        snprintf(a->iface, sizeof a->iface, "127.%zu.%zu.%zu", 1 + (i + 1) / 65536,
                 ((i + 1) / 256) % 256, (i + 1) % 256);
        sb_init(&a->resp, 1 << 20);
        a->h = curl_easy_init();
        a->headers = curl_slist_append(NULL, "Content-Type: application/json");
        a->headers = curl_slist_append(a->headers, "Expect:");
        a->headers = curl_slist_append(a->headers, auth);
        curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, a->headers);
        curl_easy_setopt(a->h, CURLOPT_INTERFACE, a->iface);
        /* and its own host name for the server: libcurl's connection cache
         * is hashed by host, so finding an agent's connection stays O(1)
         * (one host for all scans every cached connection per request) */
        char *entry = xasprintf("%s:%d:127.0.0.1", a->id, B.port);
        a->resolve = curl_slist_append(NULL, entry);
        free(entry);
        snprintf(a->base, sizeof a->base, "http://%s:%d", a->id, B.port);
        curl_easy_setopt(a->h, CURLOPT_RESOLVE, a->resolve);
        curl_easy_setopt(a->h, CURLOPT_DNS_CACHE_TIMEOUT, -1L); /* no pruning walk */
        curl_easy_setopt(a->h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(a->h, CURLOPT_WRITEDATA, a);
        curl_easy_setopt(a->h, CURLOPT_PRIVATE, a);
        curl_easy_setopt(a->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(a->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(a->h, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(a->h, CURLOPT_TCP_NODELAY, 1L);
        a->g = &B.groups[i / GROUP_SIZE];
        a->next = A_REGISTER;
        a->due = t0 + ramp * (double)i / (double)n;
        heap_push(a);
    }
    free(auth);
    return ag;
}

/* CURLMOPT_SOCKETFUNCTION: libcurl says which sockets to watch for what;
 * they go in one epoll set, so a loop costs what is ready, not every agent. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp)
{
    group *g = ud;
    watched *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(B.ep, EPOLL_CTL_DEL, fd, NULL);
        if (w) {
            w->fd = -1;
            w->next_dead = dead;
            dead = w;
        }
        curl_multi_assign(g->m, fd, NULL);
        return 0;
    }
    if (!w) {
        w = xcalloc(1, sizeof *w);
        w->fd = fd;
        w->g = g;
        curl_multi_assign(g->m, fd, w);
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.ptr = w};
    if (epoll_ctl(B.ep, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(B.ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: when libcurl wants to be called without I/O. */
static int on_timer(CURLM *m, long ms, void *ud)
{
    group *g = ud;
    g->curl_due = ms < 0 ? 0 : time_mono() + (double)ms / 1e3;
    return 0;
}

/* Waits for I/O, libcurl's timer or the next agent due, and lets libcurl
 * act on what happened. */
static void wait_and_act(void)
{
    double now = time_mono(), next = now + 0.1;
    if (B.nheap && B.heap[0]->due < next)
        next = B.heap[0]->due;
    for (size_t i = 0; i < B.ngroups; i++)
        if (B.groups[i].curl_due && B.groups[i].curl_due < next)
            next = B.groups[i].curl_due;
    int ms = next <= now ? 0 : (int)((next - now) * 1e3) + 1;
    struct epoll_event ev[1024];
    int n = epoll_wait(B.ep, ev, (int)ARRAY_SIZE(ev), ms);
    int running = 0;
    for (int i = 0; i < n; i++) {
        int flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        watched *w = ev[i].data.ptr;
        if (w->fd >= 0)
            curl_multi_socket_action(w->g->m, w->fd, flags, &running);
    }
    while (dead) {
        watched *w = dead;
        dead = w->next_dead;
        free(w);
    }
    now = time_mono();
    for (size_t i = 0; i < B.ngroups; i++) {
        group *g = &B.groups[i];
        if (g->curl_due && now >= g->curl_due) {
            g->curl_due = 0;
            curl_multi_socket_action(g->m, CURL_SOCKET_TIMEOUT, 0, &running);
        }
    }
}

static void make_groups(size_t nagents)
{
    B.ngroups = (nagents + GROUP_SIZE - 1) / GROUP_SIZE;
    B.groups = xcalloc(B.ngroups, sizeof *B.groups);
    for (size_t i = 0; i < B.ngroups; i++) {
        group *g = &B.groups[i];
        g->m = curl_multi_init();
        curl_multi_setopt(g->m, CURLMOPT_MAXCONNECTS, (long)GROUP_SIZE + 16);
        curl_multi_setopt(g->m, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(g->m, CURLMOPT_SOCKETDATA, g);
        curl_multi_setopt(g->m, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(g->m, CURLMOPT_TIMERDATA, g);
    }
}

static void run(size_t nagents, double ramp)
{
    B.ep = epoll_create1(EPOLL_CLOEXEC);
    make_groups(nagents);
    B.heap = xcalloc(nagents, sizeof *B.heap);
    double t0 = time_mono();
    sim_agent *ag = make_agents(nagents, ramp, t0);
    size_t done = 0;
    while (done < nagents) {
        double now = time_mono();
        while (B.nheap && B.heap[0]->due <= now)
            send_step(heap_pop());
        wait_and_act();
        for (size_t i = 0; i < B.ngroups; i++)
            done += reap_transfers(B.groups[i].m);
    }
    double wall = time_mono() - t0;
    size_t worked = 0;
    uint64_t claims = 0;
    for (size_t i = 0; i < nagents; i++) {
        worked += ag[i].claims > 0;
        claims += ag[i].claims;
        curl_easy_cleanup(ag[i].h);
        curl_slist_free_all(ag[i].headers);
        curl_slist_free_all(ag[i].resolve);
        sb_release(&ag[i].resp);
        free(ag[i].body);
    }
    qsort(B.lat, B.nlat, sizeof *B.lat, cmp_double);
    double p50 = B.nlat ? B.lat[B.nlat / 2] : 0, p99 = B.nlat ? B.lat[B.nlat * 99 / 100] : 0;
    double mx = B.nlat ? B.lat[B.nlat - 1] : 0;
    printf("agents %zu  trials claimed %llu  wall %.1f s  claims/s %.0f\n", nagents,
           (unsigned long long)claims, wall, (double)claims / wall);
    printf("claim latency at the client: p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%zu claims)\n",
           p50 * 1e3, p99 * 1e3, mx * 1e3, B.nlat);
    printf("requests %llu  failed %llu (could not connect %llu, timed out %llu)  HTTP errors %llu  "
           "agents with a trial %zu/%zu\n",
           (unsigned long long)B.requests, (unsigned long long)B.failed,
           (unsigned long long)B.no_connect, (unsigned long long)B.timed_out,
           (unsigned long long)B.http_errors, worked, nagents);
    free(ag);
    free(B.heap);
    for (size_t i = 0; i < B.ngroups; i++)
        curl_multi_cleanup(B.groups[i].m);
    free(B.groups);
    close(B.ep);
}

static char *read_token(const char *dir)
{
    char *path = xasprintf("%s/.sweepq/server.token", dir);
    strbuf sb = SB_INIT;
    sb_init(&sb, 4096);
    if (sb_read_file(&sb, path) != 0)
        SQ_BUG("cannot read %s: %s", path, sq_error_msg());
    free(path);
    char *t = sb_detach(&sb);
    t[strcspn(t, " \r\n")] = '\0';
    return t;
}

int main(int argc, char **argv)
{
    const char *sweepq = NULL;
    size_t nagents = 1000, ntrials = 0;
    double ramp = 2;
    int max_conns = 0, opt;
    bool keep = false;
    B.mean = 5;
    B.hb_every = 15;
    B.rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    while ((opt = getopt(argc, argv, "s:a:t:d:H:r:m:k")) != -1) {
        switch (opt) {
        case 's': sweepq = optarg; break;
        case 'a': nagents = strtoul(optarg, NULL, 10); break;
        case 't': ntrials = strtoul(optarg, NULL, 10); break;
        case 'd': B.mean = strtod(optarg, NULL); break;
        case 'H': B.hb_every = strtod(optarg, NULL); break;
        case 'r': ramp = strtod(optarg, NULL); break;
        case 'm': max_conns = atoi(optarg); break;
        case 'k': keep = true; break;
        default:
            fprintf(stderr, "usage: bench_scale -s SWEEPQ [-a AGENTS] [-t TRIALS] [-d SECONDS] "
                            "[-H SECONDS] [-r SECONDS] [-m MAX_CONNECTIONS] [-k]\n");
            return 2;
        }
    }
    if (!sweepq || !nagents || nagents > 200000) {
        fprintf(stderr, "bench_scale: give -s SWEEPQ and 1 to 200000 agents\n");
        return 2;
    }
    char *sweepq_abs = realpath(sweepq, NULL); /* the server runs in the project */
    if (!sweepq_abs) {
        fprintf(stderr, "bench_scale: %s: %s\n", sweepq, strerror(errno));
        return 2;
    }
    sweepq = sweepq_abs;
    if (!ntrials)
        ntrials = 2 * nagents;
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char dir[] = "/tmp/sq-bench-scale.XXXXXX";
    if (!mkdtemp(dir))
        SQ_BUG("mkdtemp: %s", strerror(errno));
    char *db = xasprintf("%s/store.db", dir), *db_url = xasprintf("sqlite:%s", db);
    store *st = NULL;
    double seconds;
    if (store_open(&st, db_url) < 0 || bench_sweep_create(st, "scale", ntrials, &seconds) < 0)
        SQ_BUG("cannot make the sweep: %s", sq_error_msg());
    store_sweep *sw = NULL;
    if (store_get_sweep(st, "scale", &sw) < 0)
        SQ_BUG("%s", sq_error_msg());
    B.sweep_id = sw->id;
    store_sweep_free(sw);
    store_close(st);

    char *url = NULL;
    pid_t srv = start_server(sweepq, dir, db, max_conns, &url);
    B.url = url;
    B.port = atoi(strrchr(url, ':') + 1);
    B.token = read_token(dir);
    long hwm0;
    double cpu0;
    server_usage(srv, &hwm0, &cpu0);
    printf("bench_scale: %zu agents, %zu trials of %.1f s mean, heartbeats every %.1f s, "
           "start spread over %.0f s, server %s, load average %.1f on %ld CPUs\n",
           nagents, ntrials, B.mean, B.hb_every, ramp, url, loadavg(),
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    double t0 = time_mono();
    run(nagents, ramp);
    long hwm;
    double cpu;
    server_usage(srv, &hwm, &cpu);
    double wall = time_mono() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("this load generator: CPU %.1f s\n",
           (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    printf("server: peak RSS %.1f MiB (%.1f at start)  CPU %.1f s in %.1f s (%.2f cores); "
           "load average now %.1f\n",
           (double)hwm / 1024, (double)hwm0 / 1024, cpu - cpu0, wall, (cpu - cpu0) / wall,
           loadavg());
    fflush(stdout);
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    if (!keep) {
        char *cmd = xasprintf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_scale: could not remove %s\n", dir);
        free(cmd);
    } else {
        printf("kept %s\n", dir);
    }
    free(url);
    free(sweepq_abs);
    free(db);
    free(db_url);
    curl_global_cleanup();
    return 0;
}
