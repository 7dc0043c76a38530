/*
 * lease.c - the leases of the agent's running trials: one store_heartbeat
 * renews them all (and tells of cancellations); a lease the store says is
 * lost has its child killed at once, and nothing more is written for it.
 *
 * THE LEASE BY THE AGENT'S OWN CLOCK (Chubby's and etcd's rule)
 *   The store gives a lease away once it expires by the store's clock, so
 *   an agent that cannot renew must stop its trial before that moment,
 *   judged by its own monotonic clock without asking anyone. A lease is
 *   known good until j->lease_until = (when the claim or the last heartbeat
 *   that renewed it was SENT) + LEASE_SAFE * lease_ttl: the store renewed it
 *   at or after the send, for lease_ttl. Past that moment:
 *     - a watchdog kills the trial's process group: a SIGALRM timer armed
 *       for the earliest lease_until; its handler (async-signal-safe: only
 *       clock_gettime, kill and the wake-up byte) kills every group whose
 *       time has passed. It also fires while the agent is blocked in a
 *       store call that hangs (a partition: up to the client's timeout), and
 *       at once after a SIGSTOP/SIGCONT, before the loop runs again;
 *     - the loop then marks the job STOP_EXPIRED (agent_lease_check, the
 *       first thing of each turn after the signals): no more of its output
 *       or metrics is read or sent, and its attempt is recorded preempted
 *       (no try used), fenced by its attempt like every write: a store that
 *       gave the trial away already answers SQ_ELEASE_LOST and nothing is
 *       written.
 *   The watchdog's table holds the group of every live child; an entry is
 *   removed before its child is reaped, so a group id it kills is never a
 *   stranger's. The table is changed only with SIGALRM blocked.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/spawn.h"
#include "util/timeutil.h"

#include <errno.h>
#include <time.h>

/* ---- the watchdog ------------------------------------------------------------------ */

typedef struct watch_entry {
    pid_t pgid;
    double until; /* CLOCK_MONOTONIC seconds */
} watch_entry;

static watch_entry *watch_tab;
static size_t watch_n, watch_cap;
static timer_t watch_timer;
static bool watch_have_timer;
static struct sigaction watch_old;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    double now = mono_now();
    for (size_t i = 0; i < watch_n; i++)
        if (watch_tab[i].pgid > 0 && now >= watch_tab[i].until)
            kill(-watch_tab[i].pgid, SIGKILL);
    agent_wake();
    errno = saved;
}

/* Arms the timer for the earliest entry (or disarms it). SIGALRM blocked. */
static void watch_arm(void)
{
    if (!watch_have_timer)
        return;
    double first = 0;
    for (size_t i = 0; i < watch_n; i++)
        if (first == 0 || watch_tab[i].until < first)
            first = watch_tab[i].until;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (first > 0) {
        if (first < 1e-3)
            first = 1e-3; /* 0 would disarm it */
        its.it_value.tv_sec = (time_t)first;
        its.it_value.tv_nsec = (long)((first - (double)(time_t)first) * 1e9);
    }
    timer_settime(watch_timer, TIMER_ABSTIME, &its, NULL);
}

static void block_alarm(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, old);
}

int agent_lease_watch_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGALRM, &sa, &watch_old) != 0)
        return sq_error_set(SQ_EIO, "cannot set up the agent's lease watchdog: %s",
                            strerror(errno));
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGALRM;
    if (timer_create(CLOCK_MONOTONIC, &sev, &watch_timer) != 0) {
        int err = errno;
        sigaction(SIGALRM, &watch_old, NULL);
        return sq_error_set(SQ_EIO, "cannot set up the agent's lease watchdog: %s", strerror(err));
    }
    watch_have_timer = true;
    watch_n = 0;
    return 0;
}

void agent_lease_watch_restore(void)
{
    sigset_t old;
    block_alarm(&old);
    if (watch_have_timer)
        timer_delete(watch_timer);
    watch_have_timer = false;
    free(watch_tab);
    watch_tab = NULL;
    watch_n = watch_cap = 0;
    sigaction(SIGALRM, &watch_old, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

void agent_lease_watch_set(pid_t pgid, double until)
{
    sigset_t old;
    block_alarm(&old);
    size_t i = 0;
    while (i < watch_n && watch_tab[i].pgid != pgid)
        i++;
    if (i == watch_n) {
        XGROW(watch_tab, watch_cap, watch_n + 1);
        watch_n++;
    }
    watch_tab[i] = (watch_entry){.pgid = pgid, .until = until};
    watch_arm();
    sigprocmask(SIG_SETMASK, &old, NULL);
}

void agent_lease_watch_clear(pid_t pgid)
{
    sigset_t old;
    block_alarm(&old);
    for (size_t i = 0; i < watch_n; i++) {
        if (watch_tab[i].pgid == pgid) {
            watch_tab[i] = watch_tab[--watch_n];
            break;
        }
    }
    watch_arm();
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ---- leases -------------------------------------------------------------------------- */

double agent_lease_until(const agent_sweep *sw, double sent)
{
    return sent + LEASE_SAFE * sw->lease_ttl;
}

void agent_lease_check(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs; i++) {
        job *j = a->jobs[i];
        if (!j->live || j->stop >= STOP_EXPIRED || now < j->lease_until)
            continue;
        spawn_signal_group(j->pid, SIGKILL); /* the watchdog did, unless it was late */
        j->stop = STOP_EXPIRED;
        j->kill_at = j->term_at = 0;
        agent_warn(a, j->sw,
                   "trial %llu: its lease could not be renewed within %g s (lease_ttl) by this "
                   "agent's clock: stopped, and recorded preempted (no try used) unless the "
                   "store has reaped it already",
                   (unsigned long long)j->number, j->sw->lease_ttl);
    }
}

static void job_lost(agent *a, job *j)
{
    if (j->pid > 0)
        spawn_signal_group(j->pid, SIGKILL);
    j->stop = STOP_LOST;
    if (!j->live) { /* already ended: drop what was not written */
        agent_emit(a, AGENT_EV_LOST, j->sw, j, NULL);
        a->sum.lost++;
        jobs_remove(a, j);
    }
}

void agent_heartbeat(agent *a, double now)
{
    size_t n = 0;
    store_lease *leases = xmalloc((a->njobs + 1) * sizeof *leases);
    job **owner = xmalloc((a->njobs + 1) * sizeof *owner);
    double interval = HEARTBEAT_IDLE;
    for (size_t i = 0; i < a->njobs; i++) {
        job *j = a->jobs[i];
        if (j->stop >= STOP_EXPIRED) /* its child is dead, its lease not ours */
            continue;
        leases[n] = (store_lease){.trial_id = j->trial_id, .attempt = j->attempt};
        owner[n++] = j;
        double want = j->sw->lease_ttl / 4;
        if (want < interval)
            interval = want;
    }
    if (n && interval > HEARTBEAT_MAX)
        interval = HEARTBEAT_MAX;
    double sent = time_mono(); /* a renewal counts from here (lease_until) */
    int rc = store_heartbeat(a->st, a->id, leases, n);
    if (sq_error_is_transient(rc)) {
        a->next_heartbeat = agent_backoff_fail(a, &a->hb_bo, now);
        if (a->next_heartbeat > now + interval)
            a->next_heartbeat = now + interval;
        agent_warn_transient(a, &a->hb_bo, "renewing leases");
        goto out;
    }
    a->next_heartbeat = now + interval;
    if (rc) {
        agent_warn(a, NULL, "cannot renew leases: %s", sq_error_msg());
        goto out;
    }
    agent_backoff_ok(&a->hb_bo);
    for (size_t i = 0; i < n; i++) {
        job *j = owner[i];
        /* A renewal answered after the lease passed here comes too late:
         * the watchdog may have killed the child already. */
        if (!leases[i].lost && j->stop < STOP_EXPIRED && time_mono() < j->lease_until) {
            j->lease_until = agent_lease_until(j->sw, sent);
            if (j->live)
                agent_lease_watch_set(j->pid, j->lease_until);
        }
        if (leases[i].lost)
            job_lost(a, owner[i]); /* may free owner[i]: nothing after it */
        else if (leases[i].cancel)
            job_stop(a, owner[i], STOP_CANCEL, SIGTERM, now);
    }
out:
    free(owner);
    free(leases);
}
