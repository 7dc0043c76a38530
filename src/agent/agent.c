/*
 * agent.c - the agent's loop: the turn below, its timers, when it ends; see
 * agent.h for the life of a trial and agent_int.h for the file that holds
 * each step (signals, claims, trials, leases, outcomes, completions).
 *
 * Structure: one poll() loop on a self-pipe. Signal handlers only count
 * their signal and write a byte to the pipe; each turn of the loop
 *   1. acts on new signals (drain, stop), then gives up the leases that
 *      passed by the agent's own clock (lease.c), before anything is read
 *      or written for them,
 *   2. after a SIGCHLD, reaps the children that ended (by pid, never
 *      waitpid(-1)), freeing their slots,
 *   3. claims what fits the free slots and starts it: a slot is refilled
 *      before anything else is done about the trial that left it,
 *   4. settles the ended trials: reads the rest of their output, decides
 *      the outcome, records it,
 *   5. runs what is due: stop escalations and timeouts, the heartbeat, the
 *      reading of logs and metrics files, retries of store writes,
 *   6. sleeps until the earliest deadline (at most IDLE_POLL), or not at
 *      all when this turn changed something.
 *
 * Invariants:
 *   - A job exists from its claim until its outcome is recorded or its
 *     lease is known lost; its lease is in every heartbeat meanwhile.
 *   - job->pid > 0 until the child is reaped: the child is a zombie at
 *     worst, so signalling its process group can never reach a stranger.
 *   - Nothing is written about a job whose lease is lost.
 *   - a->used is the sum of resources.cpus over jobs whose child lives.
 *   - A job holds a GPU reservation (a->gpu_alloc, owner j->gpu_owner) from
 *     its start until its child is reaped, and never longer.
 *   - The GPUs are read only for sweeps that ask for GPUs: a CPU-only
 *     agent never loads NVML nor runs nvidia-smi.
 *   - Store calls that fail with SQ_EBUSY/SQ_EIO are retried later on their
 *     own backoff schedule; the loop never sleeps inside a retry.
 *   - Claims are idempotent (store_claim_request): a claim that failed with
 *     SQ_EBUSY/SQ_EIO may have been committed, so the next claim from that
 *     sweep sends its request id again and gets what it took, before any
 *     other sweep is claimed from; a new id only after a claim returned.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/requeue.h"
#include "agent/spawn.h"
#include "util/timeutil.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small pieces ---------------------------------------------------------- */

double agent_backoff_fail(agent *a, backoff *b, double now)
{
    return agent_backoff_fail_from(a, b, now, BACKOFF_BASE, BACKOFF_CAP);
}

double agent_backoff_fail_from(agent *a, backoff *b, double now, double base, double cap)
{
    b->delay = b->delay ? b->delay * 2 : base;
    if (b->delay > cap)
        b->delay = cap;
    /* xorshift64*: jitter only, no need for quality */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    double u = (double)((a->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
    b->next = now + b->delay * (0.5 + 0.5 * u);
    b->streak++;
    return b->next;
}

void agent_backoff_ok(backoff *b)
{
    b->delay = 0;
    b->next = 0;
    b->streak = 0;
}

/*
 * A trial given back because this machine cannot write its files (trial.c).
 * Claiming again at once would only give back the next trial too, each in
 * a moment while healthy agents run one: the claims wait a growing,
 * jittered delay, and after HOST_FAILS_MAX in a row the agent drains and
 * exits, since a disk does not mend itself.
 */
void agent_host_failed(agent *a, const agent_sweep *sw, const char *why, double now)
{
    /* agent_claim_work waits for host_bo.next (claim_bo is the store's) */
    double next = agent_backoff_fail_from(a, &a->host_bo, now, HOST_BACKOFF_BASE, HOST_BACKOFF_CAP);
    if (a->host_bo.streak < HOST_FAILS_MAX) {
        agent_warn(a, sw,
                   "%s; claiming again in %.1f s (stops after %d in a row): free "
                   "space, inodes or a writable mount for the project fix it",
                   why, next - now, HOST_FAILS_MAX);
        return;
    }
    if (!a->sum.host_failed)
        agent_warn(a, sw,
                   "%s; %d trials in a row could not be prepared here: the agent stops "
                   "claiming",
                   why, HOST_FAILS_MAX);
    a->sum.host_failed = a->draining = true;
}

void agent_host_ok(agent *a)
{
    agent_backoff_ok(&a->host_bo);
}

void agent_emit(agent *a, agent_event_type type, const agent_sweep *sw, const job *j,
                const char *text)
{
    if (!a->cfg->on_event)
        return;
    agent_event ev = {
        .type = type,
        .sweep = sw ? sw->name : NULL,
        .trial = j ? j->number : 0,
        .attempt = j ? j->attempt : 0,
        .result = j && j->exited ? &j->result : NULL,
        .elapsed = j ? j->elapsed : 0,
        .text = text,
        .running = (size_t)0,
    };
    for (size_t i = 0; i < a->njobs; i++)
        ev.running += a->jobs[i]->live;
    a->cfg->on_event(&ev, a->cfg->ud);
}

void agent_warn(agent *a, const agent_sweep *sw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void agent_warn(agent *a, const agent_sweep *sw, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    agent_emit(a, AGENT_EV_WARNING, sw, NULL, text);
    free(text);
}

/* Warns about a transient store error once per streak of failures. */
void agent_warn_transient(agent *a, const backoff *b, const char *what)
{
    if (b->streak == 1)
        agent_warn(a, NULL, "store busy while %s, retrying: %s", what, sq_error_msg());
}

int agent_default_slots(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

const char *agent_wandb_run_id(const char *sweep, const char *key, char *buf, size_t size)
{
    /* FNV-1a over "sweep\0key": stable, and W&B accepts any [a-z0-9] id. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = sweep;; p++) {
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
        if (!*p)
            break;
    }
    for (const char *p = key ? key : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    snprintf(buf, size, "%016llx", (unsigned long long)h);
    return buf;
}

/* ---- the loop's steps ---------------------------------------------------------------- */

static void run_timers(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->live) {
            if (!j->meta_written && now >= j->started + META_AFTER && job_write_meta(j) != 0)
                agent_warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number,
                           sq_error_msg());
            if (j->deadline && now >= j->deadline) {
                j->deadline = 0;
                job_stop(a, j, STOP_TIMEOUT, SIGTERM, now);
            }
            if (a->ship && j->stop < STOP_EXPIRED && now >= j->ship_at)
                job_ship(a, j, now);
            if (j->term_at && now >= j->term_at) {
                j->term_at = 0;
                spawn_signal_group(j->pid, SIGTERM);
            }
            if (j->kill_at && now >= j->kill_at) {
                j->kill_at = 0;
                spawn_signal_group(j->pid, SIGKILL);
            }
        } else if (j->exited && now >= j->bo.next) {
            size_t before = a->njobs;
            job_record(a, j, now);
            if (a->njobs < before)
                continue;
        }
        i++;
    }
    for (size_t i = 0; i < a->nhooks; i++) {
        if (a->hooks[i].pid > 0 && a->hooks[i].kill_at && now >= a->hooks[i].kill_at) {
            a->hooks[i].kill_at = 0;
            spawn_signal_group(a->hooks[i].pid, SIGKILL);
        }
    }
    agent_hooks_tick(a, now);
    if (now >= a->next_heartbeat)
        agent_heartbeat(a, now);
    if (a->ship_q.n && now >= a->next_ship_retry) {
        logship_queue_retry(&a->ship_q, a->st, agent_on_ship_warning, a);
        a->next_ship_retry = now + a->ship_period;
    }
    bool live = a->used > 0;
    if (live && now >= a->next_tail) {
        agent_tail_tick(a, now);
        a->next_tail = now + (a->cfg->show_output ? TAIL_PERIOD_SHOWN : TAIL_PERIOD);
    }
    if (live && a->cfg->on_event && now >= a->next_tick) {
        agent_emit(a, AGENT_EV_TICK, NULL, NULL, NULL);
        a->next_tick = now + TICK_PERIOD;
    }
}

static bool should_exit(agent *a, double now)
{
    if (a->njobs || a->nhooks)
        return false;
    if (a->stopping || a->draining)
        return true;
    if (a->cfg->max_trials && a->claimed >= a->cfg->max_trials)
        return true;
    bool idle = a->empty_round_at > a->last_job_end && a->empty_round_at > 0;
    if (a->cfg->until_sweeps_end)
        return idle && agent_sweeps_done(a, now);
    return a->cfg->exit_when_idle && idle;
}

static double next_wake(const agent *a, double now)
{
    double next = now + IDLE_POLL;
#define EARLIER(t)                                                                                 \
    do {                                                                                           \
        if ((t) > 0 && (t) < next)                                                                 \
            next = (t);                                                                            \
    } while (0)
    EARLIER(a->next_heartbeat);
    for (size_t i = 0; i < a->njobs; i++) {
        const job *j = a->jobs[i];
        if (j->live) {
            if (!j->meta_written)
                EARLIER(j->started + META_AFTER);
            if (a->ship)
                EARLIER(j->ship_at);
            EARLIER(j->deadline);
            if (j->stop < STOP_EXPIRED)
                EARLIER(j->lease_until);
            EARLIER(j->term_at);
            EARLIER(j->kill_at);
        } else if (j->exited) {
            EARLIER(j->bo.next > 0 ? j->bo.next : now);
        }
    }
    for (size_t i = 0; i < a->nhooks; i++) {
        EARLIER(a->hooks[i].kill_at);
        EARLIER(a->hooks[i].ended ? a->hooks[i].bo.next : a->hooks[i].renew_at);
    }
    if (a->used > 0) {
        EARLIER(a->next_tail);
        if (a->cfg->on_event)
            EARLIER(a->next_tick);
    }
    if (a->claim_bo.next > now)
        EARLIER(a->claim_bo.next);
    if (a->host_bo.next > now)
        EARLIER(a->host_bo.next);
    if (a->ship_q.n)
        EARLIER(a->next_ship_retry);
#undef EARLIER
    return next;
}

/* ---- run ------------------------------------------------------------------------------ */

/* gpus_json: NULL until the GPUs were read (only for sweeps that ask). */
int agent_register(agent *a, const char *gpus_json)
{
    store_agent_info info = {
        .id = a->id,
        .host = a->host,
        .pid = (int)getpid(),
        .slots = a->slots,
        .gpus_json = gpus_json,
        .version = SQ_VERSION,
    };
    backoff bo = {0, 0, 0};
    for (;;) {
        int rc = store_register_agent(a->st, &info);
        if (!sq_error_is_transient(rc))
            return rc;
        double now = time_mono();
        agent_warn_transient(a, &bo, "registering the agent");
        time_sleep(agent_backoff_fail(a, &bo, now) - now);
        if (agent_stop_signalled())
            return rc;
    }
}

/* ---- the store's file ------------------------------------------------------------------ */

/*
 * A SQLite store is a file that can vanish under a running agent (`rm -rf
 * .sweepq`) or be replaced by another; the open handle would then go on in
 * a database nobody reads, and report success. Once a second the agent
 * compares the path's device and inode with those it saw at its start;
 * when the file is gone or another, it kills its trials, writes nothing
 * more, and agent_run returns SQ_EIO.
 */
static void store_file_init(agent *a)
{
    struct stat sb;
    a->db_path = store_url_file(store_url(a->st));
    if (a->db_path && stat(a->db_path, &sb) == 0) {
        a->db_dev = sb.st_dev;
        a->db_ino = sb.st_ino;
    } else {
        free(a->db_path);
        a->db_path = NULL;
    }
}

static void store_file_check(agent *a, double now)
{
    struct stat sb;
    if (!a->db_path || a->store_gone || now < a->next_db_check)
        return;
    a->next_db_check = now + IDLE_POLL;
    if (stat(a->db_path, &sb) == 0 && sb.st_dev == a->db_dev && sb.st_ino == a->db_ino)
        return;
    a->store_gone = a->stopping = true;
    a->sum.stopped = a->sum.interrupted = true;
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        j->stop = STOP_LOST; /* nothing is written: the store is not the one */
        if (j->live) {
            spawn_signal_group(j->pid, SIGKILL);
            i++;
        } else {
            jobs_remove(a, j); /* moves another job into slot i */
        }
    }
    agent_stop_all(a, SIGTERM, now); /* the hooks */
}

static void agent_release(agent *a)
{
    for (size_t i = 0; i < a->njobs; i++)
        job_free(a->jobs[i]);
    free(a->jobs);
    for (size_t i = 0; i < a->nhooks; i++)
        free(a->hooks[i].sweep);
    free(a->hooks);
    for (size_t i = 0; i < a->nsweeps; i++)
        agent_sweep_free(a->sweeps[i]);
    free(a->sweeps);
    gpu_alloc_release(&a->gpu_alloc);
    gpu_table_release(&a->gpu_table);
    gpu_probe_free(a->gpu_probe);
    logship_queue_release(&a->ship_q);
    free(a->db_path);
    free(a->host);
    free(a->id);
}

int agent_run(store *st, const agent_config *cfg, agent_summary *out)
{
    memset(out, 0, sizeof *out);
    agent a;
    memset(&a, 0, sizeof a);
    a.st = st;
    a.cfg = cfg;
    a.slots = cfg->slots > 0 ? cfg->slots : agent_default_slots();
    a.grace = cfg->grace > 0 ? cfg->grace : DEFAULT_GRACE;
    a.last_refresh = -1e9;
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint64_t)time_now() * 2654435761u ^ (uint64_t)getpid();
    a.rng = rnd | 1;
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    a.id = xasprintf("%s:%d:%08x", host, (int)getpid(), (unsigned)(rnd >> 32));
    a.host = xstrdup(host);
    a.gpu_table = (gpu_table)GPU_TABLE_INIT;
    a.gpu_alloc = (gpu_alloc)GPU_ALLOC_INIT;
    a.ship = logship_wanted(cfg->ship_logs, store_url(st));
    a.ship_period = cfg->ship_period > 0 ? cfg->ship_period : SHIP_PERIOD;

    saved_signals saved;
    int rc = agent_signals_install(&saved);
    if (rc == 0) {
        rc = agent_lease_watch_install();
        if (rc)
            agent_signals_restore(&saved);
    }
    if (rc) {
        free(a.id);
        free(a.host);
        return rc;
    }
    rc = agent_register(&a, NULL);
    if (rc)
        goto out;
    store_file_init(&a);
    if (agent_gpus_none(&a)) /* registered as having no GPUs, without probing */
        agent_gpu_register(&a);

    seen_signals seen = {0, 0, 0, 0};
    for (;;) {
        char drain[64];
        while (read(agent_wake_fd(), drain, sizeof drain) > 0) {
        }
        double now = time_mono();
        agent_handle_signals(&a, &seen, now);
        agent_lease_check(&a, now); /* before anything is read or written */
        store_file_check(&a, now);
        if (agent_sigchld_new(&seen))
            agent_check_children(&a, now);
        agent_claim_work(&a, now); /* first: a freed slot gets its next trial at once */
        agent_settle_jobs(&a, now);
        run_timers(&a, now);
        if (should_exit(&a, now))
            break;
        double wake = a.progress ? now : next_wake(&a, now);
        a.progress = false;
        int ms = (int)((wake - time_mono()) * 1000.0 + 0.999);
        if (ms < 0)
            ms = 0;
        struct pollfd pfd = {.fd = agent_wake_fd(), .events = POLLIN};
        poll(&pfd, 1, ms);
    }
    if (a.ship_q.n && logship_queue_retry(&a.ship_q, st, agent_on_ship_warning, &a) > 0)
        agent_warn(&a, NULL, "the logs of %zu trials are not stored: the store is unavailable",
                   a.ship_q.n);
    if (a.store_gone) {
        rc = sq_error_set(SQ_EIO,
                          "the store '%s' was deleted or replaced while the agent ran: its "
                          "trials were stopped and nothing more was recorded; create the "
                          "sweeps again in the store you mean (sweepq create) and start the "
                          "agent again",
                          a.db_path);
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        int drc = store_deregister_agent(st, a.id);
        if (!sq_error_is_transient(drc))
            break;
        time_sleep(0.1);
    }
    if (seen.usr1) { /* preempted: a Slurm job puts itself back (requeue.h) */
        char *msg = NULL;
        int qrc = requeue_slurm_job(&msg);
        if (qrc)
            agent_warn(&a, NULL, "%s", qrc > 0 ? msg : sq_error_msg());
        free(msg);
    }
out:
    agent_lease_watch_restore();
    agent_signals_restore(&saved);
    *out = a.sum;
    agent_release(&a);
    return rc;
}
