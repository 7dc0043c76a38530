/*
 * ssh.c - ssh and rsync argv for a remote, run with captured output, and
 * reverse tunnels. See ssh.h.
 *
 * Invariants:
 *   - Commands are started with spawn_start (agent/spawn.h) from an argv:
 *     nothing here builds a string for a local shell.
 *   - ssh_run reads stdout and stderr at once (poll), so a child that fills
 *     one pipe while this waits on the other cannot deadlock, and it writes
 *     stdin from the same loop.
 */
#include "util/common.h"

#include "cluster/ssh.h"

#include "agent/spawn.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

void ssh_argv_add(ssh_argv *a, const char *s)
{
    XGROW(a->v, a->cap, a->n + 2);
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

void ssh_argv_addf(ssh_argv *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    XGROW(a->v, a->cap, a->n + 2);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void ssh_argv_release(ssh_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* A host or user: no leading '-', no space, no control or shell-special
 * character that has no business in a host name or a login. */
static int check_word(const char *what, const char *s, bool required)
{
    if (!s || !*s)
        return required ? sq_error_set(SQ_EINVAL, "the remote's %s is empty", what) : 0;
    if (*s == '-')
        return sq_error_set(SQ_EINVAL,
                            "the remote's %s '%s' starts with '-'; ssh would read it as an option",
                            what, s);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!isalnum(*p) && !strchr("._-@[]:%+", *p))
            return sq_error_set(SQ_EINVAL,
                                "the remote's %s '%s' holds the character '%c'; use a host name, "
                                "an address or an alias from ~/.ssh/config",
                                what, s, isprint(*p) ? *p : '?');
    return 0;
}

/* A path that goes into rsync's -e command: rsync splits that string on
 * spaces and honours quotes, so a path is wrapped in single quotes there
 * and must not hold one itself. */
static int check_path(const char *what, const char *s)
{
    if (!s)
        return 0;
    if (!*s)
        return sq_error_set(SQ_EINVAL, "the remote's %s is empty", what);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '\'' || *p == '"' || *p == '\\' || *p < 0x20 || *p == 0x7f)
            return sq_error_set(SQ_EINVAL,
                                "the remote's %s '%s' holds a quote, a backslash or a control "
                                "character; move the file to a plainer path",
                                what, s);
    return 0;
}

int ssh_target_check(const ssh_target *t)
{
    int rc = check_word("host", t->host, true);
    if (!rc && t->user && strchr(t->user, '@'))
        rc = sq_error_set(SQ_EINVAL, "the remote's user '%s' holds '@'; give the host separately",
                          t->user);
    if (!rc)
        rc = check_word("user", t->user, false);
    if (!rc && (t->port < 0 || t->port > 65535))
        rc = sq_error_set(SQ_EINVAL, "the remote's port %d is not between 1 and 65535", t->port);
    if (!rc)
        rc = check_path("key", t->key);
    if (!rc)
        rc = check_path("known_hosts file", t->known_hosts);
    return rc;
}

char *ssh_target_text(const ssh_target *t)
{
    strbuf sb = SB_INIT;
    if (t->user)
        sb_addf(&sb, "%s@", t->user);
    sb_adds(&sb, t->host ? t->host : "");
    if (t->port)
        sb_addf(&sb, ":%d", t->port);
    return sb_detach(&sb);
}

/* The options every ssh gets, after "ssh". */
static void add_options(ssh_argv *out, const ssh_target *t)
{
    ssh_argv_add(out, "-o");
    ssh_argv_add(out, "BatchMode=yes");
    ssh_argv_add(out, "-o");
    ssh_argv_addf(out, "ConnectTimeout=%d", SSH_CONNECT_TIMEOUT);
    ssh_argv_add(out, "-o");
    ssh_argv_addf(out, "ServerAliveInterval=%d", SSH_ALIVE_INTERVAL);
    ssh_argv_add(out, "-o");
    ssh_argv_add(out, "ServerAliveCountMax=3");
    ssh_argv_add(out, "-o");
    ssh_argv_add(out, "StrictHostKeyChecking=accept-new");
    if (t->known_hosts) {
        ssh_argv_add(out, "-o");
        ssh_argv_addf(out, "UserKnownHostsFile=%s", t->known_hosts);
    }
    if (t->port) {
        ssh_argv_add(out, "-p");
        ssh_argv_addf(out, "%d", t->port);
    }
    if (t->key) {
        ssh_argv_add(out, "-i");
        ssh_argv_add(out, t->key);
        ssh_argv_add(out, "-o");
        ssh_argv_add(out, "IdentitiesOnly=yes");
    }
    if (t->user) {
        ssh_argv_add(out, "-l");
        ssh_argv_add(out, t->user);
    }
}

void ssh_build(ssh_argv *out, const ssh_target *t, const char *const *extra, const char *remote_cmd)
{
    ssh_argv_add(out, "ssh");
    add_options(out, t);
    for (size_t i = 0; extra && extra[i]; i++)
        ssh_argv_add(out, extra[i]);
    ssh_argv_add(out, t->host);
    if (remote_cmd)
        ssh_argv_add(out, remote_cmd);
}

void ssh_rsync_build(ssh_argv *out, const ssh_target *t, const char *const *extra, const char *src,
                     const char *dst)
{
    /* rsync splits -e on spaces itself; every word is single-quoted (the
     * checks above keep quotes out of the words that could hold spaces). */
    ssh_argv opts = SSH_ARGV_INIT;
    strbuf e = SB_INIT;
    add_options(&opts, t);
    sb_adds(&e, "ssh");
    for (size_t i = 0; i < opts.n; i++)
        sb_addf(&e, " '%s'", opts.v[i]);
    ssh_argv_release(&opts);

    ssh_argv_add(out, "rsync");
    ssh_argv_add(out, "-a");
    /* The remote path goes to the remote rsync as it is, not through the
     * remote shell (a space or a '$' in it stays itself). */
    ssh_argv_add(out, "--protect-args");
    ssh_argv_add(out, "-e");
    ssh_argv_add(out, sb_str(&e));
    sb_release(&e);
    for (size_t i = 0; extra && extra[i]; i++)
        ssh_argv_add(out, extra[i]);
    ssh_argv_add(out, src);
    ssh_argv_add(out, dst);
}

char *ssh_rsync_remote(const ssh_target *t, const char *path)
{
    /* An IPv6 address needs brackets before the ':' that starts the path. */
    bool v6 = strchr(t->host, ':') && t->host[0] != '[';
    if (t->user)
        return xasprintf("%s@%s%s%s:%s", t->user, v6 ? "[" : "", t->host, v6 ? "]" : "", path);
    return xasprintf("%s%s%s:%s", v6 ? "[" : "", t->host, v6 ? "]" : "", path);
}

void ssh_quote(strbuf *sb, const char *s)
{
    sb_add_shell_quoted(sb, s);
}

void ssh_result_init(ssh_result *r)
{
    memset(r, 0, sizeof *r);
    sb_init(&r->out, SSH_OUTPUT_MAX);
    sb_init(&r->err, SSH_OUTPUT_MAX);
}

void ssh_result_release(ssh_result *r)
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
static int start_command(pid_t *pid, run_pipes *p, char *const *argv)
{
    if ((p->input && pipe2(p->in, O_CLOEXEC)) || pipe2(p->out, O_CLOEXEC) ||
        pipe2(p->err, O_CLOEXEC))
        return sq_error_set(SQ_EIO, "cannot make a pipe for '%s': %s", argv[0], strerror(errno));
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
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
static int pump(run_pipes *p, ssh_result *r, int wait_ms)
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
static void pump_until_done(run_pipes *p, ssh_result *r, pid_t pid, double deadline)
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

int ssh_run(ssh_result *r, char *const *argv, const char *input, double timeout)
{
    run_pipes p = {{-1, -1}, {-1, -1}, {-1, -1}, input, input ? strlen(input) : 0, 0};
    pid_t pid = -1;
    double t0 = time_mono();
    int rc = start_command(&pid, &p, argv);
    if (rc)
        goto cleanup;
    /* A child that ignores SIGPIPE-worthy writes is not our concern, but a
     * child that exits before reading its input must not kill us. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigaction(SIGPIPE, &ign, &old_pipe);
    pump_until_done(&p, r, pid, t0 + timeout);
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

char *ssh_result_why(const ssh_result *r)
{
    if (r->timed_out)
        return xasprintf("no answer within the time limit (%.0f s)", r->seconds);
    const char *s = sb_str(&r->err);
    const char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    const char *start = end;
    while (start > s && start[-1] != '\n')
        start--;
    /* rsync sums up in a line "rsync error: ... (code 255)", near the end;
     * the cause (ssh's "Permission denied", a missing directory) came
     * before it. */
    const char *summary = !strncmp(s, "rsync error:", 12) ? s : strstr(s, "\nrsync error:");
    if (summary) {
        start = summary + (*summary == '\n');
        end = start + strcspn(start, "\n");
    }
    if (!strncmp(start, "rsync error:", 12)) {
        /* The nearest line above that says more than "connection closed". */
        const char *le = start;
        while (le > s) {
            const char *ls = --le;
            while (ls > s && ls[-1] != '\n')
                ls--;
            size_t n = (size_t)(le - ls);
            if (n && strncmp(ls, "rsync: connection unexpectedly closed", 37) &&
                strncmp(ls, "Warning: ", 9))
                return xasprintf("%.*s (%.*s)", (int)n, ls, (int)(end - start), start);
            le = ls;
        }
    }
    if (end > start)
        return xstrndup(start, (size_t)(end - start));
    if (r->term_signal)
        return xasprintf("killed by signal %d", r->term_signal);
    return xasprintf("exit status %d", r->exit_code);
}

int ssh_run_checked(ssh_result *r, char *const *argv, const char *input, double timeout,
                    const char *what)
{
    int rc = ssh_run(r, argv, input, timeout);
    if (rc)
        return sq_error_set(rc, "cannot %s: %s", what, sq_error_msg());
    if (r->exit_code != 0) {
        char *why = ssh_result_why(r);
        rc = sq_error_set(SQ_EIO, "cannot %s: %s", what, why);
        free(why);
    }
    return rc;
}

/* What the file behind fd holds from offset on, into sb. */
static void read_from(int fd, off_t offset, strbuf *sb)
{
    char buf[4096];
    ssize_t n;
    sb_reset(sb);
    while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
        if (sb_add(sb, buf, (size_t)n))
            break;
        offset += n;
    }
}

/* The error for a tunnel ssh that ended (ended) or timed out before its
 * port was known, with its last words from log. */
static int tunnel_failed(const ssh_target *t, const strbuf *log, const spawn_status *st, bool ended,
                         double timeout)
{
    ssh_result r;
    ssh_result_init(&r);
    sb_adds(&r.err, sb_str(log));
    r.exit_code = st->exit_code;
    r.term_signal = st->term_signal;
    r.timed_out = !ended;
    r.seconds = timeout;
    char *why = ssh_result_why(&r);
    char *who = ssh_target_text(t);
    int rc = sq_error_set(SQ_EIO, "cannot open a reverse tunnel to '%s': %s", who, why);
    free(who);
    free(why);
    ssh_result_release(&r);
    return rc;
}

/* Waits until the tunnel ssh pid writes "Allocated port N" to log_fd past
 * offset start, and returns N; a child that ends first, or is still at it
 * after timeout seconds, is killed, reaped, and an error. */
static int wait_allocated_port(int *out_port, pid_t pid, const ssh_target *t, int log_fd,
                               off_t start, double timeout)
{
    strbuf log = SB_INIT;
    sb_init(&log, 1 << 20);
    double deadline = time_mono() + timeout;
    int rc = 0;
    for (;;) {
        read_from(log_fd, start, &log);
        const char *m = strstr(sb_str(&log), "Allocated port ");
        if (m && strchr(m, '\n')) {
            int port = atoi(m + strlen("Allocated port "));
            if (port > 0 && port <= 65535) {
                *out_port = port;
                break;
            }
        }
        spawn_status st;
        int ended = spawn_reap(pid, false, &st);
        if (ended == 1 || time_mono() > deadline) {
            if (ended != 1) {
                spawn_signal_group(pid, SIGKILL);
                spawn_reap(pid, true, &st);
            }
            rc = tunnel_failed(t, &log, &st, ended == 1, timeout);
            break;
        }
        time_sleep(0.05);
    }
    sb_release(&log);
    return rc;
}

int ssh_tunnel_open(pid_t *out_pid, int *out_port, const ssh_target *t, int remote_port,
                    int local_port, int log_fd, double timeout)
{
    *out_pid = -1;
    *out_port = 0;
    ssh_argv argv = SSH_ARGV_INIT;
    char *forward = xasprintf("%d:127.0.0.1:%d", remote_port, local_port);
    const char *extra[] = {"-N",
                           "-o",
                           "ExitOnForwardFailure=yes",
                           "-o",
                           "LogLevel=INFO", /* "Allocated port" is INFO */
                           "-R",
                           forward,
                           NULL};
    pid_t pid = -1;
    struct stat sst;
    off_t start = fstat(log_fd, &sst) == 0 ? sst.st_size : 0;

    ssh_build(&argv, t, extra, NULL);
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv.v;
    o.stderr_fd = log_fd;
    o.stdout_fd = log_fd;
    o.new_pgroup = true;
    int rc = spawn_start(&pid, NULL, &o);
    if (!rc && remote_port)
        *out_port = remote_port;
    else if (!rc)
        rc = wait_allocated_port(out_port, pid, t, log_fd, start, timeout);
    if (!rc)
        *out_pid = pid;
    free(forward);
    ssh_argv_release(&argv);
    return rc;
}
