/*
 * supervise.c - the agent's signals and its children: handlers that only
 * count a signal and write a byte to the wake-up pipe, the loop's reaction
 * to them (drain, stop, SIGKILL after the grace), and the reaping of the
 * trials' and hooks' children, by pid.
 *
 * Invariants: a handler touches nothing but its counter and the pipe; a
 * child is signalled through its process group only while it is not reaped
 * (job->pid > 0), so the group id cannot belong to a stranger.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* ---- signals ------------------------------------------------------------------ */

static volatile sig_atomic_t sig_int, sig_term, sig_usr1, sig_chld;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    switch (sig) {
    case SIGINT: sig_int++; break;
    case SIGTERM:
    case SIGHUP: sig_term++; break;
    case SIGUSR1: sig_usr1++; break;
    case SIGCHLD: sig_chld++; break;
    default: break;
    }
    if (wake_pipe[1] >= 0) {
        ssize_t ignored = write(wake_pipe[1], "x", 1);
        (void)ignored; /* a full pipe already holds a wake-up */
    }
    errno = saved;
}

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE};
_Static_assert(ARRAY_SIZE(handled_signals) == AGENT_NSIGNALS, "saved_signals holds them all");

/* What children must set back to the default: exactly what we changed. */
static sigset_t changed_signals;

int agent_signals_install(saved_signals *saved)
{
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return sq_error_set(SQ_EIO, "cannot create the agent's wake-up pipe: %s", strerror(errno));
    sig_int = sig_term = sig_usr1 = sig_chld = 0;
    sigemptyset(&changed_signals);
    for (size_t i = 0; i < ARRAY_SIZE(handled_signals); i++) {
        sigaddset(&changed_signals, handled_signals[i]);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        /* SIGPIPE: a closed terminal or pipe must not kill the agent. */
        sa.sa_handler = handled_signals[i] == SIGPIPE ? SIG_IGN : on_signal;
        sigfillset(&sa.sa_mask); /* handlers never nest: each count is exact */
        sa.sa_flags = SA_RESTART | (handled_signals[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        sigaction(handled_signals[i], &sa, &saved->old[i]);
    }
    return 0;
}

void agent_signals_restore(const saved_signals *saved)
{
    for (size_t i = 0; i < ARRAY_SIZE(handled_signals); i++)
        sigaction(handled_signals[i], &saved->old[i], NULL);
    close(wake_pipe[0]);
    close(wake_pipe[1]);
    wake_pipe[0] = wake_pipe[1] = -1;
}

int agent_wake_fd(void)
{
    return wake_pipe[0];
}

void agent_wake(void)
{
    if (wake_pipe[1] >= 0) {
        ssize_t ignored = write(wake_pipe[1], "x", 1);
        (void)ignored; /* a full pipe already holds a wake-up */
    }
}

const sigset_t *agent_changed_signals(void)
{
    return &changed_signals;
}

bool agent_stop_signalled(void)
{
    return sig_int || sig_term || sig_usr1;
}

bool agent_sigchld_new(seen_signals *seen)
{
    sig_atomic_t chld = sig_chld;
    if (chld == seen->chld)
        return false;
    seen->chld = chld;
    return true;
}

/* ---- stopping trials -------------------------------------------------------------- */

/* Asks a running trial to stop; escalates to SIGKILL after the grace. */
void job_stop(agent *a, job *j, stop_reason why, int sig, double now)
{
    if (!j->live || j->stop >= why)
        return;
    j->stop = why;
    spawn_signal_group(j->pid, sig);
    if (sig == SIGUSR1) {
        j->term_at = now + a->grace / 2;
    }
    if (!j->kill_at || j->kill_at > now + a->grace)
        j->kill_at = now + a->grace;
}

void agent_stop_all(agent *a, int sig, double now)
{
    for (size_t i = 0; i < a->njobs; i++)
        job_stop(a, a->jobs[i], STOP_PREEMPT, sig, now);
    for (size_t i = 0; i < a->nhooks; i++) {
        hook *h = &a->hooks[i];
        if (h->pid <= 0)
            continue;
        spawn_signal_group(h->pid, SIGTERM);
        h->stopped = true; /* its lease expires: another agent runs it again */
        if (!h->kill_at)
            h->kill_at = now + a->grace;
    }
}

static void kill_all_now(agent *a)
{
    for (size_t i = 0; i < a->njobs; i++) {
        job *j = a->jobs[i];
        if (j->live) {
            if (j->stop < STOP_PREEMPT)
                j->stop = STOP_PREEMPT;
            spawn_signal_group(j->pid, SIGKILL);
            j->kill_at = j->term_at = 0;
        }
    }
    for (size_t i = 0; i < a->nhooks; i++) {
        if (a->hooks[i].pid > 0) {
            a->hooks[i].stopped = true;
            spawn_signal_group(a->hooks[i].pid, SIGKILL);
        }
    }
}

void agent_handle_signals(agent *a, seen_signals *seen, double now)
{
    sig_atomic_t intr = sig_int, term = sig_term, usr1 = sig_usr1;
    int new_int = intr - seen->intr, new_term = term - seen->term, new_usr1 = usr1 - seen->usr1;
    seen->intr = intr;
    seen->term = term;
    seen->usr1 = usr1;
    if (!new_int && !new_term && !new_usr1)
        return;
    if (a->stopping) { /* stop signal while stopping: no more grace */
        kill_all_now(a);
        return;
    }
    if (new_usr1 || new_term || (new_int && (a->draining || new_int > 1))) {
        a->stopping = true;
        a->sum.stopped = a->sum.interrupted = true;
        int sig = new_usr1 ? SIGUSR1 : SIGTERM;
        agent_emit(a, AGENT_EV_STOPPING, NULL, NULL, new_usr1 ? "SIGUSR1" : "SIGTERM");
        agent_stop_all(a, sig, now);
        return;
    }
    a->draining = true;
    a->sum.drained = a->sum.interrupted = true;
    agent_emit(a, AGENT_EV_DRAINING, NULL, NULL, NULL);
}

/* ---- children that ended ---------------------------------------------------------- */

/* The child ended: reap it at once and free its slot; the rest (reading
 * its output, recording the outcome) waits for job_settle, after the loop
 * has started the next trial in the slot. */
static void job_ended(agent *a, job *j, double now)
{
    /* Leftovers of its process group go with it; the leader is still a
     * zombie, so the group id cannot belong to anyone else. */
    spawn_signal_group(j->pid, SIGKILL);
    agent_lease_watch_clear(j->pid); /* before the reap frees the group id */
    spawn_status st = {-1, 0};
    if (spawn_reap(j->pid, true, &st) != 1)
        agent_warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
    j->pid = -1;
    j->live = false;
    j->reaped = true;
    j->result.exit_code = st.exit_code;
    j->result.term_signal = st.term_signal;
    a->used -= j->sw->cpus;
    job_gpu_drop(a, j);
    a->last_job_end = now;
    j->elapsed = now - j->started;
}

void agent_check_children(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->live && spawn_exited(j->pid) == 1)
            job_ended(a, j, now);
        i++;
    }
    for (size_t i = 0; i < a->nhooks; i++) {
        hook *h = &a->hooks[i];
        spawn_status st;
        if (h->pid > 0 && spawn_reap(h->pid, false, &st) != 0)
            agent_hook_ended(a, h, st.exit_code, st.term_signal, now);
    }
    agent_hooks_tick(a, now);
}
