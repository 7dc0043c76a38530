/*
 * tunnel.c - the tunnel keeper (see tunnel.h): a serve child and an ssh
 * reverse tunnel kept up for one sweep, and the launcher's side that
 * starts a keeper process and reads its first line.
 *
 * Invariants (besides tunnel.h's):
 *   - Every child is started with spawn_start and reaped by its pid, never
 *     with waitpid(-1).
 *   - What the keeper has to say goes to keeper.log with a time stamp; the
 *     serve child's output goes to serve.log and is read back from the
 *     offset it started at, so an older serve's lines are never taken for
 *     the new one's.
 */
#include "util/common.h"

#include "cluster/tunnel.h"

#include "agent/spawn.h"
#include "util/file.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long the keeper waits between looks at its children. */
#define TUNNEL_TICK 0.5
/* How often it asks the store whether the sweep has ended. */
#define TUNNEL_CHECK_EVERY 5
#define TUNNEL_BACKOFF_MAX 30
/* A tunnel up this long has its back-off start over. */
#define TUNNEL_STABLE 60
/* A tunnel on a given remote port counts as open once its ssh still runs
 * this long: ssh says nothing when such a forward succeeds, and with
 * ExitOnForwardFailure it ends as soon as the remote refuses it (one round
 * trip after logging in). */
#define TUNNEL_SETTLE 3
/* The longest pause between two tries at the recorded remote port. */
#define TUNNEL_REUSE_BACKOFF_MAX 8

/* ---- the state directory's files --------------------------------------- */

static char *state_file(const char *state_dir, const char *name)
{
    return xasprintf("%s/%s", state_dir, name);
}

/* The first integer in file path, or 0. */
static long read_number(const char *path)
{
    strbuf sb = SB_INIT;
    sb_init(&sb, 4096);
    long n = sb_read_file(&sb, path) == 0 ? strtol(sb_str(&sb), NULL, 10) : 0;
    sb_release(&sb);
    sq_error_clear();
    return n;
}

/* Writes "N\n" to path through a temporary file and a rename, so a reader
 * never sees it half written. */
static int write_number(const char *path, long n)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%ld\n", n);
    return file_replace(path, text, (size_t)len);
}

static int open_log(int *out_fd, const char *state_dir, const char *name)
{
    char *path = state_file(state_dir, name);
    *out_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int rc = *out_fd < 0 ? sq_error_set(SQ_EIO, "cannot write '%s': %s", path, strerror(errno)) : 0;
    free(path);
    return rc;
}

/* Whether pid is a process that has not ended: kill(pid, 0) also answers
 * for a zombie, so its state in /proc decides. */
static bool pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0))
        return false;
    char *path = xasprintf("/proc/%d/stat", (int)pid);
    strbuf sb = SB_INIT;
    sb_init(&sb, 4096);
    bool alive = sb_read_file(&sb, path) == 0;
    const char *close = alive ? strrchr(sb_str(&sb), ')') : NULL;
    if (close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X'))
        alive = false;
    sb_release(&sb);
    free(path);
    return alive;
}

pid_t tunnel_keeper_find(const char *state_dir)
{
    char *path = state_file(state_dir, "keeper.pid");
    pid_t pid = (pid_t)read_number(path);
    free(path);
    if (!pid_alive(pid))
        return 0;
    char *cmdline = xasprintf("/proc/%d/cmdline", (int)pid);
    strbuf sb = SB_INIT;
    sb_init(&sb, 1 << 16);
    bool ours = sb_read_file(&sb, cmdline) == 0 &&
                memmem(sb.buf, sb.len, TUNNEL_KEEPER_ARG, strlen(TUNNEL_KEEPER_ARG));
    sb_release(&sb);
    free(cmdline);
    sq_error_clear();
    return ours ? pid : 0;
}

int tunnel_recorded_port(const char *state_dir)
{
    char *path = state_file(state_dir, "tunnel.port");
    long n = read_number(path);
    free(path);
    return n > 0 && n <= 65535 ? (int)n : 0;
}

/* ---- the keeper's children --------------------------------------------- */

static void keeper_log(const tunnel_keeper *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void keeper_log(const tunnel_keeper *k, const char *fmt, ...)
{
    char when[64];
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    dprintf(k->log_fd, "%s sweepq keeper: %s\n", time_format_iso(time_now(), when, sizeof when),
            msg);
    free(msg);
}

/* SIGTERM to the child's group, SIGKILL 5 s later if it still runs; reaped
 * either way. *pid becomes -1. */
static void stop_child(pid_t *pid)
{
    if (*pid <= 0)
        return;
    spawn_status st;
    spawn_signal_group(*pid, SIGTERM);
    for (int i = 0; i < 50 && spawn_reap(*pid, false, &st) == 0; i++)
        time_sleep(0.1);
    if (spawn_reap(*pid, false, &st) == 0) {
        spawn_signal_group(*pid, SIGKILL);
        spawn_reap(*pid, true, &st);
    }
    *pid = -1;
}

/* Records the ssh child's pid in ssh.pid, so that a keeper started after
 * this one died can stop the ssh it left behind. */
static void record_ssh(const tunnel_keeper *k)
{
    char *path = state_file(k->state_dir, "ssh.pid");
    if (write_number(path, (long)k->ssh_pid))
        keeper_log(k, "%s", sq_error_msg());
    free(path);
}

/*
 * An ssh that a keeper killed with SIGKILL left running (it is in a process
 * group of its own, so it outlives its keeper) still holds remote_port for
 * a serve that is gone: it is stopped, so that the port can be taken again.
 * Only a process whose command line forwards exactly that remote port is
 * taken for it (pids are reused).
 */
static void stop_leftover_ssh(const tunnel_keeper *k, int remote_port)
{
    char *path = state_file(k->state_dir, "ssh.pid");
    pid_t pid = (pid_t)read_number(path);
    free(path);
    if (pid <= 0 || pid == getpid() || !pid_alive(pid))
        return;
    char *cmdline = xasprintf("/proc/%d/cmdline", (int)pid);
    char *forward = xasprintf("%d:127.0.0.1:", remote_port);
    strbuf sb = SB_INIT;
    sb_init(&sb, 1 << 16);
    bool ours = false;
    if (sb_read_file(&sb, cmdline) == 0)
        for (size_t at = 0; at < sb.len; at += strlen(sb.buf + at) + 1)
            if (!strncmp(sb.buf + at, forward, strlen(forward)))
                ours = true;
    sb_release(&sb);
    free(forward);
    free(cmdline);
    sq_error_clear();
    if (!ours)
        return;
    keeper_log(k, "stopping the ssh (pid %d) an earlier keeper left holding remote port %d",
               (int)pid, remote_port);
    spawn_signal_group(pid, SIGTERM);
    for (int i = 0; i < 50 && pid_alive(pid); i++)
        time_sleep(0.1);
    if (pid_alive(pid))
        spawn_signal_group(pid, SIGKILL);
}

/* The port of URL scheme://host:PORT[/...] (the digits after the last ':'
 * of the authority), or 0. */
static int url_port(const char *url)
{
    const char *auth = strstr(url, "://");
    if (!auth)
        return 0;
    auth += 3;
    size_t len = strcspn(auth, "/?#");
    const char *colon = NULL;
    for (const char *p = auth; p < auth + len; p++)
        if (*p == ':')
            colon = p;
    int port = colon && colon[1] != ']' ? atoi(colon + 1) : 0;
    return port > 0 && port <= 65535 ? port : 0;
}

/* The port serve announced ("sweepq: serving URL ...") in its log from
 * offset start on, or 0 while it has not. */
static int serve_announced(int log_fd, off_t start)
{
    strbuf sb = SB_INIT;
    sb_init(&sb, 1 << 20);
    char buf[4096];
    ssize_t got;
    while ((got = pread(log_fd, buf, sizeof buf, start)) > 0 && !sb_add(&sb, buf, (size_t)got))
        start += got;
    const char *m = strstr(sb_str(&sb), "sweepq: serving ");
    int port = 0;
    if (m && strchr(m, '\n')) {
        char *url = xstrndup(m + 16, strcspn(m + 16, " \n"));
        port = url_port(url);
        free(url);
    }
    sb_release(&sb);
    return port;
}

/* Starts the serve child with its output in serve.log and waits (at most
 * half of TUNNEL_START_TIMEOUT) for the port it listens on. */
static int start_serve(tunnel_keeper *k)
{
    struct stat st;
    off_t start = fstat(k->serve_fd, &st) == 0 ? st.st_size : 0;
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = k->serve_argv;
    o.cwd = k->serve_cwd;
    o.stdout_fd = k->serve_fd;
    o.stderr_fd = k->serve_fd;
    o.new_pgroup = true;
    o.die_with_parent = true;
    pid_t pid;
    int rc = spawn_start(&pid, NULL, &o);
    if (rc)
        return rc;
    double deadline = time_mono() + TUNNEL_START_TIMEOUT / 2;
    for (;;) {
        int port = serve_announced(k->serve_fd, start);
        if (port) {
            k->serve_pid = pid;
            k->local_port = port;
            return 0;
        }
        spawn_status ss;
        if (spawn_reap(pid, false, &ss) == 1 || time_mono() > deadline) {
            spawn_signal_group(pid, SIGKILL);
            spawn_reap(pid, true, &ss);
            return sq_error_set(SQ_EIO,
                                "cannot start 'sweepq serve' for the store: see %s/serve.log",
                                k->state_dir);
        }
        time_sleep(0.05);
    }
}

/* Whether the sweep has ended (finished, cancelled or gone). */
static bool sweep_ended(store *st, const char *name)
{
    store_sweep *s = NULL;
    int rc = store_get_sweep(st, name, &s);
    bool ended =
        rc == SQ_ENOTFOUND || (!rc && (s->state == SWEEP_FINISHED || s->state == SWEEP_CANCELLED));
    store_sweep_free(s);
    return ended;
}

/* ---- the keeper -------------------------------------------------------- */

void tunnel_keeper_init(tunnel_keeper *k)
{
    memset(k, 0, sizeof *k);
    k->log_fd = k->serve_fd = -1;
    k->serve_pid = k->ssh_pid = -1;
    k->backoff = 1;
}

/* Whether the ssh child still runs TUNNEL_SETTLE seconds after it started
 * (the remote took the forward); one that ended is reaped. */
static bool tunnel_settled(tunnel_keeper *k)
{
    spawn_status ss;
    for (double until = time_mono() + TUNNEL_SETTLE; time_mono() < until; time_sleep(0.1)) {
        if (spawn_reap(k->ssh_pid, false, &ss) == 1) {
            char why[64];
            keeper_log(k, "tunnel ssh ended (%s)", spawn_status_text(&ss, why, sizeof why));
            k->ssh_pid = -1;
            return false;
        }
    }
    return true;
}

/*
 * A keeper started where an earlier one recorded tunnel.port (it died
 * without seeing its sweep end) asks for that same remote port, so the
 * agents it was given to find their store again. The remote may still hold
 * it for the earlier ssh session (until its sshd sees that session dead):
 * this tries again, with a back-off, for TUNNEL_REUSE_TIMEOUT seconds, then
 * leaves k->ssh_pid -1 and says so in the log, and the caller takes a new
 * port. Returns 0 either way, or SQ_ERROR when ssh cannot be run at all.
 */
static int reopen_recorded_port(tunnel_keeper *k, int port)
{
    stop_leftover_ssh(k, port);
    keeper_log(k, "asking for remote port %d again (recorded in tunnel.port) for up to %d s", port,
               TUNNEL_REUSE_TIMEOUT);
    double deadline = time_mono() + TUNNEL_REUSE_TIMEOUT, wait = 1;
    for (;;) {
        int got;
        int rc = ssh_tunnel_open(&k->ssh_pid, &got, &k->target, port, k->local_port, k->log_fd,
                                 TUNNEL_START_TIMEOUT / 2);
        if (rc)
            return rc;
        if (tunnel_settled(k)) {
            k->remote_port = port;
            keeper_log(k, "remote port %d restored: the agents given it reconnect by themselves",
                       port);
            return 0;
        }
        if (time_mono() + wait > deadline)
            break;
        time_sleep(wait);
        wait = wait * 2 > TUNNEL_REUSE_BACKOFF_MAX ? TUNNEL_REUSE_BACKOFF_MAX : wait * 2;
    }
    keeper_log(k,
               "remote port %d still refused after %d s; taking a new port: agents that were "
               "given port %d cannot reach the store, launch new ones",
               port, TUNNEL_REUSE_TIMEOUT, port);
    return 0;
}

int tunnel_keeper_start(tunnel_keeper *k)
{
    int rc = open_log(&k->log_fd, k->state_dir, "keeper.log");
    if (rc)
        return rc;
    char *pid_path = state_file(k->state_dir, "keeper.pid");
    rc = write_number(pid_path, (long)getpid());
    free(pid_path);
    if (!rc)
        rc = store_open(&k->st, k->store_url);
    if (!rc && k->serve_argv) {
        rc = open_log(&k->serve_fd, k->state_dir, "serve.log");
        if (!rc)
            rc = start_serve(k);
        if (!rc)
            keeper_log(k, "serve (pid %d) on 127.0.0.1:%d", (int)k->serve_pid, k->local_port);
    }
    int recorded = tunnel_recorded_port(k->state_dir);
    if (!rc && recorded)
        rc = reopen_recorded_port(k, recorded);
    if (!rc && k->ssh_pid < 0)
        rc = ssh_tunnel_open(&k->ssh_pid, &k->remote_port, &k->target, 0, k->local_port, k->log_fd,
                             TUNNEL_START_TIMEOUT / 2);
    if (rc)
        return rc;
    record_ssh(k);
    char *port_path = state_file(k->state_dir, "tunnel.port");
    write_number(port_path, k->remote_port);
    free(port_path);
    keeper_log(k, "tunnel (ssh pid %d): remote 127.0.0.1:%d -> 127.0.0.1:%d", (int)k->ssh_pid,
               k->remote_port, k->local_port);
    return 0;
}

/* Invariant 2: a serve child that ended is started again, and the tunnel
 * closed so that it is reopened to the new port. */
static void restart_serve_if_ended(tunnel_keeper *k)
{
    spawn_status ss;
    if (!k->serve_argv || k->serve_pid <= 0 || spawn_reap(k->serve_pid, false, &ss) != 1)
        return;
    char why[64];
    keeper_log(k, "serve ended (%s); starting it again", spawn_status_text(&ss, why, sizeof why));
    k->serve_pid = -1;
    stop_child(&k->ssh_pid);
    if (start_serve(k)) {
        keeper_log(k, "%s", sq_error_msg());
        k->serve_pid = -1;
    } else {
        keeper_log(k, "serve (pid %d) on 127.0.0.1:%d", (int)k->serve_pid, k->local_port);
    }
}

/* Invariant 3: an ssh that ended is reopened (same remote port) once its
 * back-off has passed, as long as there is something to point it at. */
static void reopen_tunnel_if_ended(tunnel_keeper *k, double now)
{
    spawn_status ss;
    if (k->ssh_pid > 0 && spawn_reap(k->ssh_pid, false, &ss) == 1) {
        char why[64];
        keeper_log(k, "tunnel ssh ended (%s); reopening it in %.0f s",
                   spawn_status_text(&ss, why, sizeof why), k->backoff);
        k->ssh_pid = -1;
        k->restart_at = now + k->backoff;
        k->backoff = k->backoff * 2 > TUNNEL_BACKOFF_MAX ? TUNNEL_BACKOFF_MAX : k->backoff * 2;
    }
    if (k->ssh_pid < 0 && (k->serve_pid > 0 || !k->serve_argv) && now >= k->restart_at) {
        int port;
        if (ssh_tunnel_open(&k->ssh_pid, &port, &k->target, k->remote_port, k->local_port,
                            k->log_fd, 10)) {
            keeper_log(k, "%s", sq_error_msg());
            k->ssh_pid = -1;
            k->restart_at = now + k->backoff;
        } else {
            record_ssh(k);
            keeper_log(k, "tunnel reopened (ssh pid %d)", (int)k->ssh_pid);
        }
    }
    if (k->ssh_pid > 0 && now > k->restart_at + TUNNEL_STABLE)
        k->backoff = 1;
}

/* Whether the keeper is done: TUNNEL_LINGER seconds after it first saw
 * the sweep ended. */
static bool lingered_after_sweep(tunnel_keeper *k, double now)
{
    if (now < k->next_check)
        return false;
    k->next_check = now + TUNNEL_CHECK_EVERY;
    if (!k->ended_at && sweep_ended(k->st, k->sweep)) {
        k->ended_at = now;
        keeper_log(k, "sweep '%s' ended; closing in %d s", k->sweep, TUNNEL_LINGER);
    }
    return k->ended_at && now - k->ended_at >= TUNNEL_LINGER;
}

void tunnel_keeper_run(tunnel_keeper *k, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        time_sleep(TUNNEL_TICK);
        double now = time_mono();
        restart_serve_if_ended(k);
        reopen_tunnel_if_ended(k, now);
        if (lingered_after_sweep(k, now)) {
            /* No agent of the sweep needs the port kept any more. */
            char *port_path = state_file(k->state_dir, "tunnel.port");
            unlink(port_path);
            free(port_path);
            break;
        }
    }
    keeper_log(k, "stopping");
}

void tunnel_keeper_release(tunnel_keeper *k)
{
    stop_child(&k->ssh_pid);
    stop_child(&k->serve_pid);
    store_close(k->st);
    k->st = NULL;
    if (k->log_fd >= 0) {
        char *pid_path = state_file(k->state_dir, "keeper.pid");
        unlink(pid_path);
        free(pid_path);
        pid_path = state_file(k->state_dir, "ssh.pid");
        unlink(pid_path);
        free(pid_path);
        close(k->log_fd);
    }
    if (k->serve_fd >= 0)
        close(k->serve_fd);
    k->log_fd = k->serve_fd = -1;
}

/* ---- the launcher's side ----------------------------------------------- */

/* Reads fd (non-blocking) until a whole first line is in *line, the
 * writer closed it, or the deadline passed. */
static void read_first_line(strbuf *line, int fd, double deadline)
{
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        char buf[256];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got > 0) {
            sb_add(line, buf, (size_t)got);
            if (strchr(sb_str(line), '\n'))
                return;
            continue;
        }
        if (got == 0 || time_mono() > deadline)
            return;
        time_sleep(0.05);
    }
}

/* The remote port a keeper process announces on out_fd, or 0 when it
 * closed its stdout (it failed) or did not say in time. */
static int read_announcement(int out_fd)
{
    strbuf line = SB_INIT;
    sb_init(&line, 4096);
    read_first_line(&line, out_fd, time_mono() + TUNNEL_START_TIMEOUT + TUNNEL_REUSE_TIMEOUT);
    int port = 0;
    if (sscanf(sb_str(&line), TUNNEL_READY_FMT, &port) != 1 || port < 0)
        port = 0;
    sb_release(&line);
    return port;
}

int tunnel_keeper_spawn(int *out_port, const char *state_dir, char *const *argv, const char *cwd)
{
    *out_port = 0;
    if (tunnel_keeper_find(state_dir)) {
        char *port_path = state_file(state_dir, "tunnel.port");
        *out_port = (int)read_number(port_path);
        free(port_path);
        if (*out_port > 0)
            return 0;
    }
    char *log_path = state_file(state_dir, "keeper.log");
    int out[2] = {-1, -1};
    int log_fd = open(log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int rc = 0;
    pid_t pid = -1;
    if (log_fd < 0 || pipe2(out, O_CLOEXEC)) {
        rc = sq_error_set(SQ_EIO, "cannot start the tunnel keeper: %s", strerror(errno));
        goto cleanup;
    }
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.cwd = cwd;
    o.stdout_fd = out[1];
    o.stderr_fd = log_fd;
    rc = spawn_start(&pid, NULL, &o);
    close(out[1]);
    out[1] = -1;
    if (rc)
        goto cleanup;
    *out_port = read_announcement(out[0]);
    if (*out_port <= 0) {
        /* It failed and exited, or hangs: stop it and reap it. */
        spawn_status ss;
        if (spawn_reap(pid, false, &ss) == 0) {
            kill(pid, SIGTERM);
            spawn_reap(pid, true, &ss);
        }
        rc = sq_error_set(SQ_EIO, "the tunnel did not come up; see %s", log_path);
    }
    /* A keeper that runs stays running after this process exits (it is in
     * a session of its own); its zombie, if it ends, goes to init. */
cleanup:
    if (out[0] >= 0)
        close(out[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (log_fd >= 0)
        close(log_fd);
    free(log_path);
    return rc;
}
