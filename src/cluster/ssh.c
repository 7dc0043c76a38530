/*
 * ssh.c - ssh and rsync argv for a remote, run with captured output, and
 * reverse tunnels. See ssh.h.
 *
 * Invariant: commands are started from an argv (run_command, spawn_start):
 * nothing here builds a string for a local shell.
 */
#include "util/common.h"

#include "cluster/ssh.h"

#include "agent/spawn.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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

char *ssh_result_why(const run_result *r)
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

int ssh_run_checked(run_result *r, char *const *argv, const char *input, double timeout,
                    const char *what)
{
    int rc = run_command(r, argv, NULL, input, timeout);
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
    run_result r;
    run_result_init(&r, SSH_OUTPUT_MAX);
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
    run_result_release(&r);
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
