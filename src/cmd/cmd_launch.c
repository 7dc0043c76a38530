/*
 * cmd_launch.c - `sweepq launch SWEEP --remote NAME`: sync the project to
 * an SSH remote and start agents there that outlive the ssh session; when
 * the store is this machine's, keep a reverse tunnel open so they reach it.
 *
 * Steps, each one ssh or rsync run from an argv (cluster/ssh.h):
 *   1. `mkdir -p WORKDIR` there, then rsync the project root to it, without
 *      the store's files, the tokens, trial directories and launch state.
 *   2. The store the remote agents use:
 *        --remote-store URL            that URL, as it is;
 *        sqlite: (this machine's)      a `sweepq serve` on 127.0.0.1 here,
 *                                      reached through the tunnel;
 *        http(s)://127.0.0.1:PORT/...  that server, through the tunnel;
 *        anything else                 the same URL (the remote reaches it).
 *      The tunnel is `ssh -N -R RPORT:127.0.0.1:PORT`, run by a keeper: this
 *      same program started again as `launch SWEEP --remote NAME
 *      --keep-tunnel`, in a session of its own, which starts the serve it
 *      needs as its child, restarts ssh when the link drops (same remote
 *      port, so the agents' URL stays right) and stops both once the sweep
 *      has ended. The token reaches the remote on ssh's stdin into a 0600
 *      file there, never on a command line.
 *   3. Start N agents there: `setsid nohup sweepq agent --sweep SWEEP
 *      --exit-when-idle --store URL`, stdin from /dev/null and output to a
 *      log, so neither the end of the ssh session nor a hang-up reaches
 *      them. A second look a moment later checks they still run.
 *
 * What a launch leaves here: .sweepq/sweeps/SWEEP/remotes/NAME/ with
 * agents (remote pid and log, one a line), and for a tunnel keeper.pid,
 * keeper.log, tunnel.port and serve.log (mode 0600: serve prints a new
 * token there once).
 */
#include "util/common.h"

#include "agent/spawn.h"
#include "cluster/remote.h"
#include "cluster/ssh.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "util/timeutil.h"
#include "util/workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static const sq_usage usage = {
    "launch",
    "SWEEP --remote NAME [options]",
    "sync the project to an SSH remote and start agents there",
    "The project (the directory holding .sweepq/) is copied with rsync over ssh\n"
    "to the remote's workdir, leaving out the store's files, server tokens and\n"
    "trial directories. Then --agents agents start there, detached (setsid,\n"
    "nohup): ending the ssh session, or losing it, does not stop them. Each runs\n"
    "'sweepq agent --sweep SWEEP --exit-when-idle' in the workdir, with -j set\n"
    "to the remote's slots divided among them when it has slots; their logs are\n"
    "in the workdir's .sweepq/sweeps/SWEEP/remotes/.\n"
    "\n"
    "When the store is this machine's (a SQLite file), the remote agents reach\n"
    "it through a reverse tunnel: a 'sweepq serve' on 127.0.0.1 here and\n"
    "'ssh -N -R PORT:127.0.0.1:SERVEPORT' to the remote, so no port is opened on\n"
    "either side. A keeper process (this command with --keep-tunnel, in its own\n"
    "session) holds both, reopens the tunnel when the link drops, and stops once\n"
    "the sweep has ended. The write token goes to a 0600 file in the remote's\n"
    "workdir, never onto a command line. An http(s) store on this machine is\n"
    "tunnelled the same way; any other store URL is passed on as it is, and\n"
    "--remote-store gives the agents another URL for the same store.\n"
    "\n"
    "Bring the trial directories back with 'sweepq collect SWEEP'.\n"
    "\n"
    "Examples:\n"
    "  sweepq create sweep.yaml\n"
    "  sweepq launch lr-search --remote gpu1 --agents 2\n"
    "  sweepq status lr-search\n"
    "  sweepq collect lr-search",
    false,
};

/* How long the launcher waits for the keeper's tunnel (and serve) to be up. */
#define KEEPER_START_TIMEOUT 60
/* How long a keeper keeps the tunnel after its sweep ended: agents still
 * deregister and may run on_complete. */
#define KEEPER_LINGER 30

typedef struct launch_ctx {
    workspace ws;
    remote r;
    const char *sweep;
    char *state_dir; /* .sweepq/sweeps/SWEEP/remotes/NAME */
} launch_ctx;

/* ---- URLs -------------------------------------------------------------- */

/* The parts of scheme://[userinfo@]host[:port][/rest] this needs. */
typedef struct url_parts {
    char *scheme, *userinfo, *host, *rest;
    int port; /* the scheme's default when not written */
} url_parts;

static void url_release(url_parts *u)
{
    free(u->scheme);
    free(u->userinfo);
    free(u->host);
    free(u->rest);
}

static bool url_parse(url_parts *u, const char *url)
{
    memset(u, 0, sizeof *u);
    const char *sep = strstr(url, "://");
    if (!sep)
        return false;
    u->scheme = xstrndup(url, (size_t)(sep - url));
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    if (at) {
        u->userinfo = xstrndup(auth, (size_t)(at - auth));
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    const char *hend = auth + alen, *colon = NULL;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close) {
            url_release(u);
            return false;
        }
        u->host = xstrndup(auth + 1, (size_t)(close - auth - 1));
        colon = close + 1 < hend && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(auth, ':', alen);
        u->host = xstrndup(auth, (size_t)((colon ? colon : hend) - auth));
    }
    u->port = colon ? atoi(colon + 1) : 0;
    if (!u->port)
        u->port = !strcmp(u->scheme, "https") ? 443 : !strcmp(u->scheme, "http") ? 80 : 5432;
    u->rest = xstrdup(hend);
    return true;
}

static bool is_loopback(const char *host)
{
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "::1") ||
           !strncmp(host, "127.", 4);
}

/* The url with host and port replaced by 127.0.0.1:port. Caller frees. */
static char *url_with_port(const url_parts *u, int port)
{
    return xasprintf("%s://%s%s127.0.0.1:%d%s", u->scheme, u->userinfo ? u->userinfo : "",
                     u->userinfo ? "@" : "", port, u->rest);
}

/* ---- small helpers ------------------------------------------------------ */

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

static int write_text(const char *path, const char *text, mode_t mode)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = 0;
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || rename(tmp, path))
        rc = sq_error_set(SQ_EIO, "cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

static char *keeper_file(const launch_ctx *c, const char *name)
{
    return xasprintf("%s/%s", c->state_dir, name);
}

/* The pid of a live keeper of this sweep and remote, or 0. */
static pid_t live_keeper(const launch_ctx *c)
{
    char *path = keeper_file(c, "keeper.pid");
    pid_t pid = (pid_t)read_number(path);
    free(path);
    if (!pid_alive(pid))
        return 0;
    char *comm = xasprintf("/proc/%d/cmdline", (int)pid);
    strbuf sb = SB_INIT;
    sb_init(&sb, 1 << 16);
    bool ours = sb_read_file(&sb, comm) == 0 && memmem(sb.buf, sb.len, "--keep-tunnel", 13);
    sb_release(&sb);
    free(comm);
    sq_error_clear();
    return ours ? pid : 0;
}

/* Runs argv, failing with what it said when it does not exit 0. */
static int run_checked(char *const *argv, const char *input, double timeout, const char *what,
                       ssh_result *res)
{
    int rc = ssh_run(res, argv, input, timeout);
    if (rc)
        return sq_error_set(rc, "cannot %s: %s", what, sq_error_msg());
    if (res->exit_code != 0) {
        char *why = ssh_result_why(res);
        rc = sq_error_set(SQ_EIO, "cannot %s: %s", what, why);
        free(why);
    }
    return rc;
}

/* ---- 1. sync ----------------------------------------------------------- */

static int sync_project(const launch_ctx *c)
{
    ssh_target t = remote_target(&c->r);
    ssh_argv argv = SSH_ARGV_INIT;
    ssh_result res;
    strbuf cmd = SB_INIT;
    char *dst = NULL, *src = NULL;
    sb_adds(&cmd, "mkdir -p -- ");
    ssh_quote(&cmd, c->r.workdir);
    ssh_build(&argv, &t, NULL, sb_str(&cmd));
    ssh_result_init(&res);
    int rc = run_checked(argv.v, NULL, SSH_CONNECT_TIMEOUT + 20, "make the remote's workdir", &res);
    ssh_result_release(&res);
    ssh_argv_release(&argv);
    if (rc)
        goto cleanup;

    /* Anchored at the project root. The store's files: any *.db* in
     * .sweepq/ (sweepq.db, -wal, -shm, -journal). */
    static const char *const excludes[] = {
        "--exclude=/.sweepq/*.db",
        "--exclude=/.sweepq/*.db-*",
        "--exclude=/.sweepq/server.*",
        "--exclude=/.sweepq/remote.token*",
        "--exclude=/.sweepq/sweeps/*/trials/",
        "--exclude=/.sweepq/sweeps/*/remotes/",
        "--exclude=/.sweepq/*.tmp.*",
        NULL,
    };
    src = xasprintf("%s/", c->ws.root);
    char *wd = xasprintf("%s/", c->r.workdir);
    dst = ssh_rsync_remote(&t, wd);
    free(wd);
    ssh_rsync_build(&argv, &t, excludes, src, dst);
    ssh_result_init(&res);
    rc = run_checked(argv.v, NULL, 3600, "copy the project with rsync", &res);
    ssh_result_release(&res);
    ssh_argv_release(&argv);
cleanup:
    free(src);
    free(dst);
    sb_release(&cmd);
    return rc;
}

/* ---- 2. the keeper ------------------------------------------------------ */

static volatile sig_atomic_t keeper_stop;

static void on_stop(int sig)
{
    (void)sig;
    keeper_stop = 1;
}

/* Starts `sweepq serve --listen 127.0.0.1:0` for the project's store as a
 * child with its output in log_fd; waits for its URL and returns its port. */
static int start_serve(pid_t *out_pid, int *out_port, const launch_ctx *c, int log_fd)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return sq_error_set(SQ_EIO, "cannot find this program: %s", strerror(errno));
    self[n] = '\0';
    char *argv[] = {self, "serve", "--listen", "127.0.0.1:0", "--store", c->ws.store_url, NULL};
    struct stat st;
    off_t start = fstat(log_fd, &st) == 0 ? st.st_size : 0;
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.cwd = c->ws.root;
    o.stdout_fd = log_fd;
    o.stderr_fd = log_fd;
    o.new_pgroup = true;
    o.die_with_parent = true;
    pid_t pid;
    int rc = spawn_start(&pid, NULL, &o);
    if (rc)
        return rc;
    double deadline = time_mono() + KEEPER_START_TIMEOUT / 2;
    strbuf sb = SB_INIT;
    sb_init(&sb, 1 << 20);
    for (;;) {
        char buf[4096];
        ssize_t got;
        off_t off = start;
        sb_reset(&sb);
        while ((got = pread(log_fd, buf, sizeof buf, off)) > 0 && !sb_add(&sb, buf, (size_t)got))
            off += got;
        const char *m = strstr(sb_str(&sb), "sweepq: serving ");
        if (m && strchr(m, '\n')) {
            url_parts u;
            char *url = xstrndup(m + 16, strcspn(m + 16, " \n"));
            bool ok = url_parse(&u, url) && u.port > 0;
            *out_port = u.port;
            url_release(&u);
            free(url);
            if (ok) {
                *out_pid = pid;
                break;
            }
        }
        spawn_status ss;
        if (spawn_reap(pid, false, &ss) == 1 || time_mono() > deadline) {
            spawn_signal_group(pid, SIGKILL);
            spawn_reap(pid, true, &ss);
            rc = sq_error_set(SQ_EIO, "cannot start 'sweepq serve' for the store: see %s/serve.log",
                              c->state_dir);
            break;
        }
        time_sleep(0.05);
    }
    sb_release(&sb);
    return rc;
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

static void keeper_log(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void keeper_log(int fd, const char *fmt, ...)
{
    char when[64];
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    dprintf(fd, "%s sweepq keeper: %s\n", time_format_iso(time_now(), when, sizeof when), msg);
    free(msg);
}

/*
 * The keeper: `launch SWEEP --remote NAME --keep-tunnel LPORT`. With
 * LPORT 0 it serves the store itself (a serve child). It prints
 * "tunnel REMOTEPORT" on stdout once the tunnel is up, then only logs.
 */
static int keep_tunnel(launch_ctx *c, int local_port)
{
    setsid(); /* fails only when already a session leader: fine either way */
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char *log_path = keeper_file(c, "keeper.log"), *serve_path = keeper_file(c, "serve.log");
    char *pid_path = keeper_file(c, "keeper.pid"), *port_path = keeper_file(c, "tunnel.port");
    int log_fd = open(log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int serve_fd = -1;
    pid_t serve_pid = -1, ssh_pid = -1;
    store *st = NULL;
    int code = EXIT_FAILED, rc;
    char buf[32];
    if (log_fd < 0) {
        fprintf(stderr, "sweepq: cannot write '%s': %s\n", log_path, strerror(errno));
        goto out;
    }
    snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (write_text(pid_path, buf, 0644)) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        goto out;
    }
    rc = store_open(&st, c->ws.store_url);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        goto out;
    }
    bool own_serve = local_port == 0;
    if (own_serve) {
        serve_fd = open(serve_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (serve_fd < 0 || start_serve(&serve_pid, &local_port, c, serve_fd)) {
            fprintf(stderr, "sweepq: %s\n", serve_fd < 0 ? strerror(errno) : sq_error_msg());
            goto out;
        }
        keeper_log(log_fd, "serve (pid %d) on 127.0.0.1:%d", (int)serve_pid, local_port);
    }
    ssh_target t = remote_target(&c->r);
    int remote_port = 0;
    rc = ssh_tunnel_open(&ssh_pid, &remote_port, &t, 0, local_port, log_fd,
                         KEEPER_START_TIMEOUT / 2);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        goto out;
    }
    snprintf(buf, sizeof buf, "%d\n", remote_port);
    write_text(port_path, buf, 0644);
    keeper_log(log_fd, "tunnel (ssh pid %d): remote 127.0.0.1:%d -> 127.0.0.1:%d", (int)ssh_pid,
               remote_port, local_port);
    printf("tunnel %d\n", remote_port);
    fflush(stdout);
    /* The launcher reads up to here; from now on only the log. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        close(devnull);
    }

    double next_check = 0, ended_at = 0, backoff = 1, restart_at = 0;
    while (!keeper_stop) {
        time_sleep(0.5);
        double now = time_mono();
        spawn_status ss;
        if (own_serve && serve_pid > 0 && spawn_reap(serve_pid, false, &ss) == 1) {
            char why[64];
            keeper_log(log_fd, "serve ended (%s); starting it again",
                       spawn_status_text(&ss, why, sizeof why));
            serve_pid = -1;
            stop_child(&ssh_pid); /* the tunnel must point at the new port */
            if (start_serve(&serve_pid, &local_port, c, serve_fd)) {
                keeper_log(log_fd, "%s", sq_error_msg());
                serve_pid = -1;
            } else {
                keeper_log(log_fd, "serve (pid %d) on 127.0.0.1:%d", (int)serve_pid, local_port);
            }
        }
        if (ssh_pid > 0 && spawn_reap(ssh_pid, false, &ss) == 1) {
            char why[64];
            keeper_log(log_fd, "tunnel ssh ended (%s); reopening it in %.0f s",
                       spawn_status_text(&ss, why, sizeof why), backoff);
            ssh_pid = -1;
            restart_at = now + backoff;
            backoff = backoff * 2 > 30 ? 30 : backoff * 2;
        }
        if (ssh_pid < 0 && (serve_pid > 0 || !own_serve) && now >= restart_at) {
            int port;
            if (ssh_tunnel_open(&ssh_pid, &port, &t, remote_port, local_port, log_fd, 10)) {
                keeper_log(log_fd, "%s", sq_error_msg());
                ssh_pid = -1;
                restart_at = now + backoff;
            } else {
                keeper_log(log_fd, "tunnel reopened (ssh pid %d)", (int)ssh_pid);
            }
        }
        if (ssh_pid > 0 && now > restart_at + 60)
            backoff = 1; /* it stayed up: a later drop starts over fast */
        if (now >= next_check) {
            next_check = now + 5;
            if (!ended_at && sweep_ended(st, c->sweep)) {
                ended_at = now;
                keeper_log(log_fd, "sweep '%s' ended; closing in %d s", c->sweep, KEEPER_LINGER);
            }
            if (ended_at && now - ended_at >= KEEPER_LINGER)
                break;
        }
    }
    keeper_log(log_fd, "stopping");
    code = EXIT_OK;
out:
    stop_child(&ssh_pid);
    stop_child(&serve_pid);
    store_close(st);
    if (code == EXIT_OK || log_fd >= 0)
        unlink(pid_path);
    if (log_fd >= 0)
        close(log_fd);
    if (serve_fd >= 0)
        close(serve_fd);
    free(log_path);
    free(serve_path);
    free(pid_path);
    free(port_path);
    return code;
}

/* Starts the keeper (or finds the one running) and returns the remote port
 * of its tunnel. local_port 0: the keeper serves the store itself. */
static int start_keeper(int *out_port, const launch_ctx *c, int local_port)
{
    char *port_path = keeper_file(c, "tunnel.port");
    char *log_path = keeper_file(c, "keeper.log");
    int rc = 0;
    int out[2] = {-1, -1};
    int log_fd = -1;
    pid_t pid = live_keeper(c);
    if (pid) {
        *out_port = (int)read_number(port_path);
        if (*out_port > 0)
            goto cleanup;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        rc = sq_error_set(SQ_EIO, "cannot find this program: %s", strerror(errno));
        goto cleanup;
    }
    self[n] = '\0';
    char lport[16];
    snprintf(lport, sizeof lport, "%d", local_port);
    char *argv[] = {self,  "launch",  (char *)c->sweep, "--remote", c->r.name, "--keep-tunnel",
                    lport, "--store", c->ws.store_url,  NULL};
    log_fd = open(log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0 || pipe2(out, O_CLOEXEC)) {
        rc = sq_error_set(SQ_EIO, "cannot start the tunnel keeper: %s", strerror(errno));
        goto cleanup;
    }
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.cwd = c->ws.root;
    o.stdout_fd = out[1];
    o.stderr_fd = log_fd;
    rc = spawn_start(&pid, NULL, &o);
    close(out[1]);
    out[1] = -1;
    if (rc)
        goto cleanup;
    /* Its first line is "tunnel PORT"; EOF first means it failed (and
     * exited: reap it). */
    strbuf line = SB_INIT;
    sb_init(&line, 4096);
    double deadline = time_mono() + KEEPER_START_TIMEOUT;
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    for (;;) {
        char buf[256];
        ssize_t got = read(out[0], buf, sizeof buf);
        if (got > 0) {
            sb_add(&line, buf, (size_t)got);
            if (strchr(sb_str(&line), '\n'))
                break;
            continue;
        }
        if (got == 0 || time_mono() > deadline)
            break;
        time_sleep(0.05);
    }
    if (!strncmp(sb_str(&line), "tunnel ", 7))
        *out_port = atoi(sb_str(&line) + 7);
    spawn_status ss;
    if (*out_port <= 0) {
        if (spawn_reap(pid, false, &ss) == 0) {
            kill(pid, SIGTERM);
            spawn_reap(pid, true, &ss);
        }
        rc = sq_error_set(SQ_EIO, "the tunnel did not come up; see %s", log_path);
    }
    /* A keeper that runs stays running after this process exits (it is in
     * a session of its own); its zombie, if it ends, goes to init. */
    sb_release(&line);
cleanup:
    if (out[0] >= 0)
        close(out[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (log_fd >= 0)
        close(log_fd);
    free(port_path);
    free(log_path);
    return rc;
}

/* The token remote agents send to an http store here. A serve the keeper
 * started reads the project's .sweepq/server.token; a server of the user's
 * is reached as this process would reach it: $SWEEPQ_TOKEN, else the
 * --token-file, else that same project file. */
static char *local_token(const launch_ctx *c, bool own_serve)
{
    const char *env = own_serve ? NULL : getenv("SWEEPQ_TOKEN");
    if (env && *env)
        return xstrdup(env);
    const char *file = own_serve ? NULL : getenv("SWEEPQ_TOKEN_FILE");
    char *path = file && *file ? xstrdup(file) : xasprintf("%s/server.token", c->ws.dir);
    strbuf sb = SB_INIT;
    sb_init(&sb, 4096);
    char *tok = NULL;
    if (sb_read_file(&sb, path) == 0) {
        size_t n = strcspn(sb_str(&sb), "\r\n");
        tok = xstrndup(sb_str(&sb), n);
    }
    sq_error_clear();
    sb_release(&sb);
    free(path);
    return tok;
}

/* ---- 3. agents ---------------------------------------------------------- */

static int start_agents(const launch_ctx *c, const char *store_url, const char *token, int agents)
{
    ssh_target t = remote_target(&c->r);
    strbuf cmd = SB_INIT, input = SB_INIT;
    ssh_argv argv = SSH_ARGV_INIT;
    ssh_result res;
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%.0f", time_now());
    char *logdir = xasprintf(".sweepq/sweeps/%s/remotes", c->sweep);
    int jobs = c->r.slots ? (c->r.slots / agents > 0 ? c->r.slots / agents : 1) : 0;

    sb_adds(&cmd, "cd -- ");
    ssh_quote(&cmd, c->r.workdir);
    sb_adds(&cmd, " && mkdir -p -- ");
    ssh_quote(&cmd, logdir);
    if (token) {
        /* The token comes on stdin into a file only this login can read,
         * made new (umask) and renamed into place, so agents already
         * running never see it missing or half written. */
        sb_adds(&cmd, " && (umask 077 && cat > .sweepq/remote.token.$$ && "
                      "mv -f .sweepq/remote.token.$$ .sweepq/remote.token)");
        sb_addf(&input, "%s\n", token);
    }
    sb_adds(&cmd, " || exit 1\n");
    for (int i = 1; i <= agents; i++) {
        char *log = xasprintf("%s/agent-%s-%d.log", logdir, stamp, i);
        if (token)
            sb_adds(&cmd, "SWEEPQ_TOKEN_FILE=\"$PWD/.sweepq/remote.token\" ");
        sb_adds(&cmd, "setsid nohup ");
        ssh_quote(&cmd, remote_program(&c->r));
        sb_adds(&cmd, " agent --sweep ");
        ssh_quote(&cmd, c->sweep);
        sb_adds(&cmd, " --exit-when-idle --store ");
        ssh_quote(&cmd, store_url);
        if (jobs)
            sb_addf(&cmd, " -j %d", jobs);
        sb_adds(&cmd, " </dev/null >>");
        ssh_quote(&cmd, log);
        sb_adds(&cmd, " 2>&1 &\necho \"$!\" ");
        ssh_quote(&cmd, log);
        sb_addc(&cmd, '\n');
        free(log);
    }
    ssh_build(&argv, &t, NULL, sb_str(&cmd));
    ssh_result_init(&res);
    int rc = run_checked(argv.v, sb_str(&input), SSH_CONNECT_TIMEOUT + 30,
                         "start the agents on the remote", &res);
    if (rc)
        goto cleanup;
    char *agents_path = keeper_file(c, "agents");
    FILE *f = fopen(agents_path, "a");
    if (f) {
        fputs(sb_str(&res.out), f);
        fclose(f);
    }
    free(agents_path);

    /* A moment later: do they still run? One that failed at once (no such
     * program, a store it cannot reach) shows the end of its log. */
    time_sleep(1.5);
    strbuf check = SB_INIT;
    sb_adds(&check, "cd -- ");
    ssh_quote(&check, c->r.workdir);
    sb_adds(&check, " || exit 1\n");
    char *pids = xstrdup(sb_str(&res.out));
    int started = 0;
    char *save = NULL;
    for (char *line = strtok_r(pids, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int pid = atoi(line);
        const char *log = strchr(line, ' ');
        if (pid <= 0 || !log)
            continue;
        started++;
        /* Running, or already done with every trial it could claim. */
        /* A zombie answers kill -0, and an orphan may stay one for a while
         * (the remote's init reaps when it gets to it): read its state. */
        sb_addf(&check,
                "if [ -r /proc/%d/stat ]; then s=$(sed 's/.*) //' /proc/%d/stat | cut -c1); "
                "elif kill -0 %d 2>/dev/null; then s=R; else s=X; fi\n",
                pid, pid, pid);
        sb_addf(&check, "if [ \"$s\" != Z ] && [ \"$s\" != X ]; then echo 'running %d'; ", pid);
        sb_adds(&check, "elif grep -q 'agent done:' ");
        ssh_quote(&check, log + 1);
        sb_addf(&check, "; then echo 'done %d'; else echo 'ended %d'; tail -n 5 ", pid, pid);
        ssh_quote(&check, log + 1);
        sb_adds(&check, "; fi\n");
    }
    free(pids);
    ssh_argv_release(&argv);
    ssh_build(&argv, &t, NULL, sb_str(&check));
    sb_release(&check);
    ssh_result_release(&res);
    ssh_result_init(&res);
    rc =
        run_checked(argv.v, NULL, SSH_CONNECT_TIMEOUT + 30, "check the agents on the remote", &res);
    if (rc)
        goto cleanup;
    const char *out = sb_str(&res.out);
    int ok = 0;
    strbuf ran = SB_INIT;
    for (const char *p = out; *p; p += strcspn(p, "\n"), p += *p == '\n') {
        if (!strncmp(p, "running ", 8) || !strncmp(p, "done ", 5)) {
            ok++;
            sb_addf(&ran, "  pid %d%s\n", atoi(strchr(p, ' ') + 1),
                    *p == 'd' ? " (already done: nothing was left to claim)" : "");
        }
    }
    if (started != agents || ok < agents) {
        rc = sq_error_set(SQ_ERROR, "%d of %d agents run on '%s'; what the others said:\n%s", ok,
                          agents, c->r.name, out);
    } else {
        printf("started %d agent%s on '%s' in %s:\n%s", agents, agents == 1 ? "" : "s", c->r.name,
               c->r.workdir, sb_str(&ran));
    }
    sb_release(&ran);
cleanup:
    ssh_result_release(&res);
    ssh_argv_release(&argv);
    sb_release(&cmd);
    sb_release(&input);
    free(logdir);
    return rc;
}

int cmd_launch(int argc, char **argv)
{
    const char *remote_name = NULL, *remote_store = NULL;
    int agents = 1, keep = -1;
    bool no_sync = false;
    const sq_option opts[] = {
        OPT_STRING(0, "remote", &remote_name, "NAME",
                   "the remote to launch on (sweepq remote add)"),
        OPT_INT(0, "agents", &agents, "N", "agents to start there (default 1)"),
        OPT_BOOL(0, "no-sync", &no_sync, "do not copy the project first (it is there already)"),
        OPT_STRING(0, "remote-store", &remote_store, "URL",
                   "the store URL the remote agents use, as they reach it (no tunnel)"),
        OPT_INT(0, "keep-tunnel", &keep, "PORT",
                "run the tunnel keeper in the foreground (what launch starts by itself); "
                "PORT 0: serve the store too"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0;
    int code = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (code)
        return code == OPTIONS_HELP_SHOWN ? EXIT_OK : code;
    if (nargs != 1)
        return options_usage_error(&usage, nargs ? "launch takes one SWEEP" : "name the SWEEP");
    if (!remote_name)
        return options_usage_error(&usage, "name the remote with --remote NAME");
    if (agents < 1 || agents > 1000)
        return options_usage_error(&usage, "--agents takes 1 to 1000");
    if (keep < -1 || keep > 65535)
        return options_usage_error(&usage, "--keep-tunnel takes a port");

    launch_ctx c = {WORKSPACE_INIT, {0}, argv[0], NULL};
    url_parts u = {0};
    bool parsed = false;
    store *st = NULL;
    store_sweep *sw = NULL;
    char *config = NULL, *token = NULL, *agent_store = NULL;
    code = open_store(&c.ws, &st, &g);
    if (code)
        goto out;
    config = xasprintf("%s/config.yaml", c.ws.dir);
    int rc = remote_lookup(&c.r, config, remote_name);
    if (rc) {
        code = open_store_fail(rc, "launch on '%s'", remote_name);
        goto out;
    }
    if (!c.r.workdir)
        c.r.workdir = remote_default_workdir(c.ws.root);
    char *sweep_dir = workspace_sweep_dir(&c.ws, c.sweep);
    c.state_dir = xasprintf("%s/remotes/%s", sweep_dir, c.r.name);
    free(sweep_dir);
    if (mkdir_p(c.state_dir, 0755)) {
        code = open_store_fail(SQ_EIO, "launch");
        goto out;
    }
    if (keep >= 0) {
        store_close(st);
        st = NULL;
        code = keep_tunnel(&c, keep);
        goto out;
    }
    code = open_store_sweep(st, c.sweep, &sw);
    if (code)
        goto out;
    store_close(st); /* the keeper and the remote agents open their own */
    st = NULL;

    /* Which store the remote agents use, and whether a tunnel carries it. */
    parsed = url_parse(&u, c.ws.store_url);
    int tunnel_to = -1; /* -1: none; 0: a serve of the keeper's own */
    if (remote_store)
        agent_store = xstrdup(remote_store);
    else if (!strncmp(c.ws.store_url, "sqlite:", 7) || !parsed)
        tunnel_to = 0;
    else if (is_loopback(u.host))
        tunnel_to = u.port;
    else
        agent_store = xstrdup(c.ws.store_url);

    if (!no_sync) {
        rc = sync_project(&c);
        if (rc) {
            code = open_store_fail(rc, "launch on '%s'", c.r.name);
            goto out;
        }
        printf("synced %s to %s:%s\n", c.ws.root, c.r.name, c.r.workdir);
    }
    if (tunnel_to >= 0) {
        int rport = 0;
        rc = start_keeper(&rport, &c, tunnel_to);
        if (rc) {
            code = open_store_fail(rc, "launch on '%s'", c.r.name);
            goto out;
        }
        if (tunnel_to == 0)
            agent_store = xasprintf("http://127.0.0.1:%d", rport);
        else
            agent_store = url_with_port(&u, rport);
        if (!strncmp(agent_store, "http", 4))
            token = local_token(&c, tunnel_to == 0);
        /* The store's URL without its user and password. */
        char *shown = tunnel_to
                          ? xasprintf("%s://%s%s%s:%d%s", u.scheme, strchr(u.host, ':') ? "[" : "",
                                      u.host, strchr(u.host, ':') ? "]" : "", u.port, u.rest)
                          : xstrdup("a local 'sweepq serve'");
        printf("tunnel: the remote's 127.0.0.1:%d reaches %s here (keeper pid %d, log "
               "%s/keeper.log)\n",
               rport, shown, (int)live_keeper(&c), c.state_dir);
        free(shown);
    }
    rc = start_agents(&c, agent_store, token, agents);
    if (rc)
        code = open_store_fail(rc, "launch on '%s'", c.r.name);
out:
    if (parsed)
        url_release(&u);
    store_sweep_free(sw);
    store_close(st);
    free(config);
    free(token);
    free(agent_store);
    free(c.state_dir);
    remote_release(&c.r);
    workspace_release(&c.ws);
    return code;
}
