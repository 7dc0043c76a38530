/*
 * run.c - a command run to its end with its output captured; see run.h.
 */
#include "util/common.h"

#include "agent/run.h"

#include "agent/spawn.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

void run_result_init(run_result *r, size_t max)
{
    memset(r, 0, sizeof *r);
    sb_init(&r->out, max);
    sb_init(&r->err, max);
}

void run_result_release(run_result *r)
{
    sb_release(&r->out);
    sb_release(&r->err);
}

/* Reads what fd has into sb; returns false at EOF or on an error. Bytes
 * past the buffer's maximum are read and dropped, so the child never
 * blocks on a full pipe. */
static bool drain(int fd, strbuf *sb)
{
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    if (sb->len + (size_t)n <= sb->max)
        sb_add(sb, buf, (size_t)n);
    return true;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A command's pipes, this side's ends, and how much of its input went. */
typedef struct run_pipes {
    int in[2], out[2], err[2];
    const char *input;
    size_t in_len, in_off;
} run_pipes;

static void close_pipes(run_pipes *p)
{
    for (int i = 0; i < 2; i++) {
        close_fd(&p->in[i]);
        close_fd(&p->out[i]);
        close_fd(&p->err[i]);
    }
}

/* Makes the pipes and starts argv on them, keeping only this side's ends. */
static int start_command(pid_t *pid, run_pipes *p, char *const *argv, const char *cwd)
{
    if ((p->input && pipe2(p->in, O_CLOEXEC)) || pipe2(p->out, O_CLOEXEC) ||
        pipe2(p->err, O_CLOEXEC))
        return sq_error_set(SQ_EIO, "cannot make a pipe for '%s': %s", argv[0], strerror(errno));
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.cwd = cwd;
    o.stdin_fd = p->in[0];
    o.stdout_fd = p->out[1];
    o.stderr_fd = p->err[1];
    o.new_pgroup = true;
    o.die_with_parent = true;
    int rc = spawn_start(pid, NULL, &o);
    close_fd(&p->in[0]);
    close_fd(&p->out[1]);
    close_fd(&p->err[1]);
    if (rc)
        return rc;
    if (p->in[1] >= 0) {
        fcntl(p->in[1], F_SETFL, O_NONBLOCK);
        if (!p->in_len)
            close_fd(&p->in[1]);
    }
    return 0;
}

/* Waits at most wait_ms for output to read or room for input, and moves
 * what it can. Returns what poll returned (-1 with errno on an error). */
static int pump(run_pipes *p, run_result *r, int wait_ms)
{
    struct pollfd fds[3];
    int n = 0, iout = -1, ierr = -1, iin = -1;
    if (p->out[0] >= 0)
        iout = n, fds[n++] = (struct pollfd){p->out[0], POLLIN, 0};
    if (p->err[0] >= 0)
        ierr = n, fds[n++] = (struct pollfd){p->err[0], POLLIN, 0};
    if (p->in[1] >= 0)
        iin = n, fds[n++] = (struct pollfd){p->in[1], POLLOUT, 0};
    int ready = poll(fds, (nfds_t)n, wait_ms);
    if (ready <= 0)
        return ready;
    if (iout >= 0 && fds[iout].revents && !drain(p->out[0], &r->out))
        close_fd(&p->out[0]);
    if (ierr >= 0 && fds[ierr].revents && !drain(p->err[0], &r->err))
        close_fd(&p->err[0]);
    if (iin >= 0 && fds[iin].revents) {
        ssize_t w = write(p->in[1], p->input + p->in_off, p->in_len - p->in_off);
        if (w > 0)
            p->in_off += (size_t)w;
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || p->in_off == p->in_len)
            close_fd(&p->in[1]);
    }
    return ready;
}

/* Pumps until the child closed its output or ended; past the deadline
 * its group gets SIGTERM, a second later SIGKILL, and a second after that
 * what is left unread is given up. */
static void pump_until_done(run_pipes *p, run_result *r, pid_t pid, double deadline)
{
    int killed = 0;
    while (p->out[0] >= 0 || p->err[0] >= 0) {
        double left = deadline - time_mono();
        if (left <= 0) {
            if (killed >= 2)
                break; /* the group is SIGKILLed; stop reading what is left */
            r->timed_out = true;
            spawn_signal_group(pid, killed ? SIGKILL : SIGTERM);
            killed++;
            deadline = time_mono() + 1;
            continue;
        }
        /* Wake up now and then to see whether the child has ended: an ssh
         * that left a ControlPersist master behind has exited while that
         * master still holds its stderr open. */
        bool ended = spawn_exited(pid) == 1;
        int n = pump(p, r, ended ? 0 : (left > 0.2 ? 200 : (int)(left * 1000) + 1));
        if (n < 0 && errno != EINTR)
            break;
        if (n == 0 && ended)
            break; /* it has ended and nothing more is waiting to be read */
    }
    if (r->timed_out && killed < 2)
        spawn_signal_group(pid, SIGKILL);
}

int run_command(run_result *r, char *const *argv, const char *cwd, const char *input,
                double timeout)
{
    run_pipes p = {{-1, -1}, {-1, -1}, {-1, -1}, input, input ? strlen(input) : 0, 0};
    pid_t pid = -1;
    double t0 = time_mono();
    int rc = start_command(&pid, &p, argv, cwd);
    if (rc)
        goto cleanup;
    /* A child that ignores SIGPIPE-worthy writes is not our concern, but a
     * child that exits before reading its input must not kill us. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigaction(SIGPIPE, &ign, &old_pipe);
    pump_until_done(&p, r, pid, timeout > 0 ? t0 + timeout : INFINITY);
    sigaction(SIGPIPE, &old_pipe, NULL);
    close_fd(&p.in[1]);
    spawn_status st;
    spawn_reap(pid, true, &st);
    r->exit_code = st.exit_code;
    r->term_signal = st.term_signal;
cleanup:
    r->seconds = time_mono() - t0;
    close_pipes(&p);
    return rc;
}
