/*
 * cmd_launch.c - `sweepq launch SWEEP --remote NAME`: sync the project to
 * an SSH remote and start agents there that outlive the ssh session; when
 * the store is this machine's, start a tunnel keeper so they reach it.
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
 *      The tunnel is kept by a keeper (cluster/tunnel.h): this same program
 *      started again as `launch SWEEP --remote NAME --keep-tunnel LPORT`,
 *      which puts itself in a session of its own, starts the serve it needs
 *      as its child, reopens ssh when the link drops and stops once the
 *      sweep has ended. This file only turns that process into a keeper
 *      (signals, stdio) and hands it the remote, the store and the serve
 *      command. The token reaches the remote on ssh's stdin into a 0600
 *      file there, never on a command line.
 *   3. Start N agents there: `setsid nohup sweepq agent --sweep SWEEP
 *      --exit-when-idle --store URL`, stdin from /dev/null and output to a
 *      log, so neither the end of the ssh session nor a hang-up reaches
 *      them. A second look a moment later checks they still run.
 *
 * What a launch leaves here: .sweepq/sweeps/SWEEP/remotes/NAME/ with
 * agents (remote pid and log, one a line), and the keeper's files
 * (tunnel.h) when there is a tunnel.
 */
#include "util/common.h"

#include "cluster/remote.h"
#include "cluster/ssh.h"
#include "cluster/tunnel.h"
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"
#include "util/timeutil.h"
#include "util/workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
    "When the store is this machine's (a SQLite file), the remote agents reach it\n"
    "through a reverse tunnel: a 'sweepq serve' on 127.0.0.1 here and 'ssh -N -R\n"
    "PORT:127.0.0.1:SERVEPORT' to the remote, so no port is opened on either\n"
    "side. A keeper process (this command with --keep-tunnel, in its own session)\n"
    "holds both, reopens the tunnel when the link drops, and stops once the sweep\n"
    "has ended. Should the keeper itself die (killed, or this machine rebooted),\n"
    "'launch SWEEP --remote NAME --agents 0' starts a new one on the same remote\n"
    "port, so the agents already there reconnect by themselves; it copies nothing\n"
    "and starts no agent. The port is asked for again for up to a minute (the\n"
    "remote may still hold it for the dead tunnel); only then does the new keeper\n"
    "take another, and launch says so. The write token goes to a 0600 file in the\n"
    "remote's workdir, never onto a command line. An http(s) store on this\n"
    "machine is tunnelled the same way; any other store URL is passed on as it\n"
    "is, and --remote-store gives the agents another URL for the same store.\n"
    "\n"
    "Bring the trial directories back with 'sweepq collect SWEEP'.\n"
    "\n"
    "Examples:\n"
    "  sweepq create sweep.yaml\n"
    "  sweepq launch lr-search --remote gpu1 --agents 2\n"
    "  sweepq launch lr-search --remote gpu1 --agents 0   # restore the tunnel only\n"
    "  sweepq status lr-search\n"
    "  sweepq collect lr-search",
    false,
};

typedef struct launch_ctx {
    workspace ws;
    remote r;
    const char *sweep;
    char *state_dir; /* .sweepq/sweeps/SWEEP/remotes/NAME */
    int max_trials;  /* each agent's --max-trials (0: none) */
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

/* This program's path, to start it again as a keeper or a serve. Caller
 * frees. */
static int self_path(char **out)
{
    *out = realpath("/proc/self/exe", NULL);
    if (!*out)
        return sq_error_set(SQ_EIO, "cannot find this program: %s", strerror(errno));
    return 0;
}

/* ---- 1. sync ----------------------------------------------------------- */

static int make_workdir(const launch_ctx *c)
{
    strbuf cmd = SB_INIT;
    run_result res;
    sb_adds(&cmd, "mkdir -p -- ");
    ssh_quote(&cmd, c->r.workdir);
    run_result_init(&res, SSH_OUTPUT_MAX);
    int rc = remote_run(&res, &c->r, sb_str(&cmd), NULL, SSH_CONNECT_TIMEOUT + 20,
                        "make the remote's workdir");
    run_result_release(&res);
    sb_release(&cmd);
    return rc;
}

static int copy_project(const launch_ctx *c)
{
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
    ssh_target t = remote_target(&c->r);
    ssh_argv argv = SSH_ARGV_INIT;
    run_result res;
    char *src = xasprintf("%s/", c->ws.root);
    char *wd = xasprintf("%s/", c->r.workdir);
    char *dst = ssh_rsync_remote(&t, wd);
    ssh_rsync_build(&argv, &t, excludes, src, dst);
    run_result_init(&res, SSH_OUTPUT_MAX);
    int rc = ssh_run_checked(&res, argv.v, NULL, 3600, "copy the project with rsync");
    run_result_release(&res);
    ssh_argv_release(&argv);
    free(src);
    free(wd);
    free(dst);
    return rc;
}

static int sync_project(const launch_ctx *c)
{
    int rc = make_workdir(c);
    return rc ? rc : copy_project(c);
}

/* ---- 2a. the tunnel keeper process (cluster/tunnel.h) ----------------- */

static volatile sig_atomic_t keeper_stop;

static void on_stop(int sig)
{
    (void)sig;
    keeper_stop = 1;
}

/* The keeper process leaves its launcher's session and terminal: a hang-up
 * or the launcher's end must not stop it; a signal asks it to stop. */
static void become_keeper_process(void)
{
    setsid(); /* fails only when already a session leader: fine either way */
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Once the launcher has read the announcement: stdin and stdout from
 * /dev/null, stderr into the keeper's log. */
static void detach_stdio(int log_fd)
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return;
    dup2(devnull, STDIN_FILENO);
    dup2(devnull, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    close(devnull);
}

/*
 * The keeper: `launch SWEEP --remote NAME --keep-tunnel LPORT`. With
 * LPORT 0 it serves the store itself (a serve child). It prints
 * TUNNEL_READY_FMT on stdout once the tunnel is up, then only logs.
 */
static int keep_tunnel(const launch_ctx *c, int local_port)
{
    become_keeper_process();
    char *self = NULL;
    char *serve_argv[] = {NULL,      "serve",         "--listen", "127.0.0.1:0",
                          "--store", c->ws.store_url, NULL};
    tunnel_keeper k;
    tunnel_keeper_init(&k);
    k.state_dir = c->state_dir;
    k.store_url = c->ws.store_url;
    k.sweep = c->sweep;
    k.target = remote_target(&c->r);
    k.serve_cwd = c->ws.root;
    k.local_port = local_port;
    int rc = 0, code = EXIT_FAILED;
    if (local_port == 0) {
        rc = self_path(&self);
        serve_argv[0] = self;
        k.serve_argv = serve_argv;
    }
    if (!rc)
        rc = tunnel_keeper_start(&k);
    if (rc) {
        fprintf(stderr, "sweepq: %s\n", sq_error_msg());
        goto out;
    }
    printf(TUNNEL_READY_FMT, k.remote_port);
    fflush(stdout);
    detach_stdio(k.log_fd);
    tunnel_keeper_run(&k, &keeper_stop);
    code = EXIT_OK;
out:
    tunnel_keeper_release(&k);
    free(self);
    return code;
}

/* Starts the keeper (or finds the one running) and returns the remote port
 * of its tunnel. local_port 0: the keeper serves the store itself. */
static int start_keeper(int *out_port, const launch_ctx *c, int local_port)
{
    char *self = NULL;
    int rc = self_path(&self);
    if (rc)
        return rc;
    char lport[16];
    snprintf(lport, sizeof lport, "%d", local_port);
    char *argv[] = {self,  "launch",  (char *)c->sweep, "--remote", c->r.name, TUNNEL_KEEPER_ARG,
                    lport, "--store", c->ws.store_url,  NULL};
    rc = tunnel_keeper_spawn(out_port, c->state_dir, argv, c->ws.root);
    free(self);
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

/* ---- 2b. which store the remote agents use ----------------------------- */

/* The store as the remote agents reach it. */
typedef struct store_route {
    url_parts u; /* the project's store URL, when it parses */
    bool parsed;
    int tunnel_to;     /* -1: no tunnel; 0: a serve of the keeper's own; else that local port */
    char *agent_store; /* the URL the agents get; for a tunnel, once it is up */
    char *token;       /* what they send to an http store here, or NULL */
} store_route;

static void route_release(store_route *s)
{
    if (s->parsed)
        url_release(&s->u);
    free(s->agent_store);
    free(s->token);
}

static void choose_route(store_route *s, const launch_ctx *c, const char *remote_store)
{
    memset(s, 0, sizeof *s);
    s->parsed = url_parse(&s->u, c->ws.store_url);
    s->tunnel_to = -1;
    if (remote_store)
        s->agent_store = xstrdup(remote_store);
    else if (!strncmp(c->ws.store_url, "sqlite:", 7) || !s->parsed)
        s->tunnel_to = 0;
    else if (is_loopback(s->u.host))
        s->tunnel_to = s->u.port;
    else
        s->agent_store = xstrdup(c->ws.store_url);
}

/* Starts the keeper for a tunnelled route and fills in the agents' URL and
 * token; prints where the tunnel leads. */
static int open_tunnel(store_route *s, const launch_ctx *c)
{
    /* A port recorded with no keeper running: the keeper died, and the
     * agents it served wait for that port to come back. */
    int recorded = tunnel_keeper_find(c->state_dir) ? 0 : tunnel_recorded_port(c->state_dir);
    int rport = 0;
    int rc = start_keeper(&rport, c, s->tunnel_to);
    if (rc)
        return rc;
    if (recorded && rport == recorded)
        printf("tunnel: restored the remote's 127.0.0.1:%d: the agents given it reconnect by "
               "themselves\n",
               rport);
    else if (recorded)
        fprintf(stderr,
                "sweepq: warning: the remote's 127.0.0.1:%d, the port of the earlier tunnel, "
                "was still refused after %d s, so the tunnel is on 127.0.0.1:%d now; agents "
                "launched before cannot reach the store: launch new ones (see %s/keeper.log)\n",
                recorded, TUNNEL_REUSE_TIMEOUT, rport, c->state_dir);
    if (s->tunnel_to == 0)
        s->agent_store = xasprintf("http://127.0.0.1:%d", rport);
    else
        s->agent_store = url_with_port(&s->u, rport);
    if (!strncmp(s->agent_store, "http", 4))
        s->token = local_token(c, s->tunnel_to == 0);
    /* The store's URL without its user and password. */
    const url_parts *u = &s->u;
    char *shown = s->tunnel_to
                      ? xasprintf("%s://%s%s%s:%d%s", u->scheme, strchr(u->host, ':') ? "[" : "",
                                  u->host, strchr(u->host, ':') ? "]" : "", u->port, u->rest)
                      : xstrdup("a local 'sweepq serve'");
    printf("tunnel: the remote's 127.0.0.1:%d reaches %s here (keeper pid %d, log "
           "%s/keeper.log)\n",
           rport, shown, (int)tunnel_keeper_find(c->state_dir), c->state_dir);
    free(shown);
    return 0;
}

/* ---- 3. agents ---------------------------------------------------------- */

/* The script that starts the agents there, each printing "PID LOG"; the
 * token (if any) goes into *input for its stdin. */
static void agents_script(strbuf *cmd, strbuf *input, const launch_ctx *c, const char *store_url,
                          const char *token, int agents)
{
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%.0f", time_now());
    char *logdir = xasprintf(".sweepq/sweeps/%s/remotes", c->sweep);
    int jobs = c->r.slots ? (c->r.slots / agents > 0 ? c->r.slots / agents : 1) : 0;

    sb_adds(cmd, "cd -- ");
    ssh_quote(cmd, c->r.workdir);
    sb_adds(cmd, " && mkdir -p -- ");
    ssh_quote(cmd, logdir);
    if (token) {
        /* The token comes on stdin into a file only this login can read,
         * made new (umask) and renamed into place, so agents already
         * running never see it missing or half written. */
        sb_adds(cmd, " && (umask 077 && cat > .sweepq/remote.token.$$ && "
                     "mv -f .sweepq/remote.token.$$ .sweepq/remote.token)");
        sb_addf(input, "%s\n", token);
    }
    sb_adds(cmd, " || exit 1\n");
    for (int i = 1; i <= agents; i++) {
        char *log = xasprintf("%s/agent-%s-%d.log", logdir, stamp, i);
        if (token)
            sb_adds(cmd, "SWEEPQ_TOKEN_FILE=\"$PWD/.sweepq/remote.token\" ");
        sb_adds(cmd, "setsid nohup ");
        ssh_quote(cmd, remote_program(&c->r));
        sb_adds(cmd, " agent --sweep ");
        ssh_quote(cmd, c->sweep);
        sb_adds(cmd, " --exit-when-idle --store ");
        ssh_quote(cmd, store_url);
        if (jobs)
            sb_addf(cmd, " -j %d", jobs);
        if (c->max_trials > 0)
            sb_addf(cmd, " --max-trials %d", c->max_trials);
        sb_adds(cmd, " </dev/null >>");
        ssh_quote(cmd, log);
        sb_adds(cmd, " 2>&1 &\necho \"$!\" ");
        ssh_quote(cmd, log);
        sb_addc(cmd, '\n');
        free(log);
    }
    free(logdir);
}

/* Appends the "PID LOG" lines of the agents started to state_dir/agents. */
static void record_agents(const launch_ctx *c, const char *pids)
{
    char *path = xasprintf("%s/agents", c->state_dir);
    FILE *f = fopen(path, "a");
    if (f) {
        fputs(pids, f);
        fclose(f);
    }
    free(path);
}

/* The script that says of each agent in pids ("PID LOG" lines) "running
 * PID", "done PID", or "ended PID" and the end of its log; *started counts
 * them. */
static void check_script(strbuf *check, const launch_ctx *c, const char *pids, int *started)
{
    sb_adds(check, "cd -- ");
    ssh_quote(check, c->r.workdir);
    sb_adds(check, " || exit 1\n");
    *started = 0;
    for (const char *p = pids; *p; p += strcspn(p, "\n"), p += *p == '\n') {
        char *line = xstrndup(p, strcspn(p, "\n"));
        int pid = atoi(line);
        const char *log = strchr(line, ' ');
        if (pid > 0 && log) {
            (*started)++;
            /* Running, or already done with every trial it could claim. */
            /* A zombie answers kill -0, and an orphan may stay one for a
             * while (the remote's init reaps when it gets to it): read its
             * state. */
            sb_addf(check,
                    "if [ -r /proc/%d/stat ]; then s=$(sed 's/.*) //' /proc/%d/stat | cut -c1); "
                    "elif kill -0 %d 2>/dev/null; then s=R; else s=X; fi\n",
                    pid, pid, pid);
            sb_addf(check, "if [ \"$s\" != Z ] && [ \"$s\" != X ]; then echo 'running %d'; ", pid);
            sb_adds(check, "elif grep -q 'agent done:' ");
            ssh_quote(check, log + 1);
            sb_addf(check, "; then echo 'done %d'; else echo 'ended %d'; tail -n 5 ", pid, pid);
            ssh_quote(check, log + 1);
            sb_adds(check, "; fi\n");
        }
        free(line);
    }
}

/* Reads the check's answer: prints the agents that run, or fails with
 * what the others said. */
static int report_agents(const launch_ctx *c, const char *out, int started, int agents)
{
    int ok = 0, rc = 0;
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
    return rc;
}

static int start_agents(const launch_ctx *c, const char *store_url, const char *token, int agents)
{
    strbuf cmd = SB_INIT, input = SB_INIT, check = SB_INIT;
    run_result res, seen;
    run_result_init(&res, SSH_OUTPUT_MAX);
    run_result_init(&seen, SSH_OUTPUT_MAX);
    agents_script(&cmd, &input, c, store_url, token, agents);
    int rc = remote_run(&res, &c->r, sb_str(&cmd), sb_str(&input), SSH_CONNECT_TIMEOUT + 30,
                        "start the agents on the remote");
    if (rc)
        goto cleanup;
    record_agents(c, sb_str(&res.out));

    /* A moment later: do they still run? One that failed at once (no such
     * program, a store it cannot reach) shows the end of its log. */
    time_sleep(1.5);
    int started = 0;
    check_script(&check, c, sb_str(&res.out), &started);
    rc = remote_run(&seen, &c->r, sb_str(&check), NULL, SSH_CONNECT_TIMEOUT + 30,
                    "check the agents on the remote");
    if (!rc)
        rc = report_agents(c, sb_str(&seen.out), started, agents);
cleanup:
    run_result_release(&res);
    run_result_release(&seen);
    sb_release(&cmd);
    sb_release(&input);
    sb_release(&check);
    return rc;
}

/* ---- the verb ---------------------------------------------------------- */

typedef struct launch_args {
    const char *remote_name, *remote_store;
    int agents, keep, max_trials;
    bool no_sync;
} launch_args;

/* Finds the remote and makes the launch's state directory. */
static int prepare(launch_ctx *c, const char *remote_name)
{
    int rc = remote_open(&c->r, &c->ws, remote_name);
    if (rc)
        return open_store_fail(rc, "launch on '%s'", remote_name);
    char *sweep_dir = workspace_sweep_dir(&c->ws, c->sweep);
    c->state_dir = xasprintf("%s/remotes/%s", sweep_dir, c->r.name);
    free(sweep_dir);
    if (mkdir_p(c->state_dir, 0700))
        return open_store_fail(SQ_EIO, "launch");
    return EXIT_OK;
}

/* Sync, tunnel if the route needs one, agents. With no agents wanted, only
 * the tunnel (a keeper that died is started again on its port). */
static int launch(const launch_ctx *c, const launch_args *a)
{
    store_route route;
    choose_route(&route, c, a->remote_store);
    int rc = 0;
    if (!a->agents && route.tunnel_to < 0) {
        printf("no agents to start, and no tunnel: the remote agents reach the store at %s "
               "without one\n",
               route.agent_store);
        goto out;
    }
    if (!a->no_sync && a->agents) {
        rc = sync_project(c);
        if (rc)
            goto out;
        printf("synced %s to %s:%s\n", c->ws.root, c->r.name, c->r.workdir);
    }
    if (route.tunnel_to >= 0)
        rc = open_tunnel(&route, c);
    if (!rc && a->agents)
        rc = start_agents(c, route.agent_store, route.token, a->agents);
out:
    route_release(&route);
    return rc ? open_store_fail(rc, "launch on '%s'", c->r.name) : EXIT_OK;
}

int cmd_launch(int argc, char **argv)
{
    launch_args a = {NULL, NULL, 1, -1, 0, false};
    const sq_option opts[] = {
        OPT_STRING(0, "remote", &a.remote_name, "NAME",
                   "the remote to launch on (sweepq remote add)"),
        OPT_INT(0, "agents", &a.agents, "N",
                "agents to start there (default 1); 0: copy nothing, start none, only make "
                "sure the tunnel's keeper runs"),
        OPT_BOOL(0, "no-sync", &a.no_sync, "do not copy the project first (it is there already)"),
        OPT_INT(0, "max-trials", &a.max_trials, "K",
                "each agent runs at most K trial attempts, then exits (W&B's --count)"),
        OPT_STRING(0, "remote-store", &a.remote_store, "URL",
                   "the store URL the remote agents use, as they reach it (no tunnel)"),
        OPT_INT(0, "keep-tunnel", &a.keep, "PORT",
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
    if (!a.remote_name)
        return options_usage_error(&usage, "name the remote with --remote NAME");
    if (a.agents < 0 || a.agents > 1000)
        return options_usage_error(&usage, "--agents takes 0 to 1000");
    if (a.keep < -1 || a.keep > 65535)
        return options_usage_error(&usage, "--keep-tunnel takes a port");
    if (a.max_trials < 0)
        return options_usage_error(&usage, "--max-trials takes a positive number");

    launch_ctx c = {WORKSPACE_INIT, {0}, argv[0], NULL, a.max_trials};
    store *st = NULL;
    store_sweep *sw = NULL;
    code = open_store(&c.ws, &st, &g);
    if (!code)
        code = prepare(&c, a.remote_name);
    /* The keeper, the remote agents and their checks open their own store. */
    if (!code && a.keep < 0)
        code = open_store_sweep(st, c.sweep, &sw);
    store_close(st);
    if (!code)
        code = a.keep >= 0 ? keep_tunnel(&c, a.keep) : launch(&c, &a);
    store_sweep_free(sw);
    free(c.state_dir);
    remote_release(&c.r);
    workspace_release(&c.ws);
    return code;
}
