/*
 * trial.c - one attempt of a trial from its claim to the end of its child:
 * the trial directory, its log and parameters files, the environment and
 * the spawn (agent.h "prepare", "run"), then the reading of its log and
 * metrics file as they grow ("watch") and the shipping of its log tail.
 *
 * A job is in a->jobs from job_start until jobs_remove; one that could not
 * start is recorded failed at once (job_record) and never has a child.
 */
#include "util/common.h"

#include "agent/agent_int.h"
#include "agent/spawn.h"
#include "util/text.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- starting a trial ---------------------------------------------------------- */

/* Sets the error for a failed write of path and leaves errno as the
 * failure set it: job_spawn tells the host's failures by it. */
static int file_error(const char *what, const char *path)
{
    int e = errno;
    int rc = sq_error_set(SQ_EIO, "%s '%s': %s", what, path, strerror(e));
    errno = e;
    return rc;
}

static int write_text_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return file_error("cannot write", path);
    size_t len = strlen(text), done = 0;
    int rc = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = file_error("cannot write", path);
            break;
        }
        done += (size_t)w;
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int make_trial_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return file_error("cannot create directory", dir);
    return mkdir_p(dir, 0700); /* errno: the failure's, as the caller needs */
}

/* argv with the items that are exactly a relative ${program} replaced by
 * sw->program_abs: the trial runs in its own directory, the program lives in
 * the project. The strings stay cmd's (or sw's). */
static char **resolve_argv(const agent_sweep *sw, const spec_command *cmd)
{
    char **argv = xmalloc((cmd->argc + 1) * sizeof *argv);
    for (size_t i = 0; i < cmd->argc; i++) {
        argv[i] = cmd->argv[i];
        if (sw->program_abs && !strcmp(cmd->argv[i], sw->sp->program))
            argv[i] = sw->program_abs;
    }
    argv[cmd->argc] = NULL;
    return argv;
}

/* Whether the spec's env sets name (it then wins over what sweepq sets). */
static bool spec_env_sets(const spec *sp, const char *name)
{
    for (size_t i = 0; i < sp->nenv; i++)
        if (!strcmp(sp->env[i].name, name))
            return true;
    return false;
}

static char **build_env(const agent_sweep *sw, const job *j, const store_claimed *c,
                        const spec_command *cmd, const char *cuda_visible, char ***owned,
                        size_t *nowned)
{
    enum { EXTRA = 12 };
    char **env = xmalloc((sw->nbase_env + EXTRA + cmd->nenv + 1) * sizeof *env);
    char **mine = xmalloc(EXTRA * sizeof *mine);
    char run_id[32];
    agent_wandb_run_id(sw->name, c->key, run_id, sizeof run_id);
    size_t k = 0;
    mine[k++] = xasprintf("SWEEPQ_TRIAL=%llu", (unsigned long long)j->number);
    mine[k++] = xasprintf("SWEEPQ_ATTEMPT=%d", j->attempt);
    mine[k++] = xasprintf("SWEEPQ_TRIAL_DIR=%s", j->dir);
    mine[k++] = xasprintf("SWEEPQ_RESUME=%d", c->resume ? 1 : 0);
    /* One file per attempt: an attempt that outlived its lease can never
     * write into the next one's metrics. */
    mine[k++] = xasprintf("SWEEPQ_METRICS_FILE=%s/metrics-%d.jsonl", j->dir, j->attempt);
    mine[k++] = xasprintf("WANDB_RUN_ID=%s", run_id);
    mine[k++] = xasprintf("WANDB_DIR=%s", j->dir);
    /* What `wandb agent` gives a run besides its id: wandb.init() reads the
     * parameters from WANDB_SWEEP_PARAM_PATH into wandb.config, and the
     * project and entity the sweep names. WANDB_SWEEP_ID is left out: wandb
     * sends it to W&B's server as the run's sweep, which W&B does not know
     * (docs/spec.md, "What a trial gets"). */
    mine[k++] = xasprintf("WANDB_SWEEP_PARAM_PATH=%s/" WANDB_CONFIG_FILE, j->dir);
    if (sw->sp->project && !spec_env_sets(sw->sp, "WANDB_PROJECT"))
        mine[k++] = xasprintf("WANDB_PROJECT=%s", sw->sp->project);
    if (sw->sp->entity && !spec_env_sets(sw->sp, "WANDB_ENTITY"))
        mine[k++] = xasprintf("WANDB_ENTITY=%s", sw->sp->entity);
    if (cuda_visible) {
        mine[k++] = xasprintf("CUDA_VISIBLE_DEVICES=%s", cuda_visible);
        mine[k++] = xstrdup("CUDA_DEVICE_ORDER=PCI_BUS_ID");
    }
    size_t n = 0;
    for (size_t i = 0; i < sw->nbase_env; i++)
        env[n++] = sw->base_env[i];
    for (size_t i = 0; i < k; i++)
        env[n++] = mine[i];
    for (size_t i = 0; i < cmd->nenv; i++)
        env[n++] = cmd->env[i];
    env[n] = NULL;
    *owned = mine;
    *nowned = k;
    return env;
}

static void log_line(const job *j, const char *text)
{
    if (j->log_fd < 0)
        return;
    char *line = xasprintf("sweepq: %s\n", text);
    ssize_t ignored = write(j->log_fd, line, strlen(line));
    (void)ignored; /* the message is also the attempt's recorded error */
    free(line);
}

/*
 * Writes params.json and command.txt into the trial directory. They are for
 * people (and for ${args_json_file}, written before the start then), so they
 * are written once a trial has run for META_AFTER seconds or has ended
 * otherwise than by succeeding: a trial that succeeds at once costs two
 * files fewer, which is most of an agent's time per trial when trials are
 * short. Its parameters are in the store either way.
 */
int job_write_meta(job *j)
{
    if (j->meta_written)
        return 0;
    j->meta_written = true;
    json_t *params = json_loads(j->params_json ? j->params_json : "{}", 0, NULL);
    if (!params)
        params = json_object();
    json_t *view = spec_args_view(j->sw->sp, params); /* W&B's args_json: nested, in order */
    char *pj = spec_args_json(view);
    json_decref(view);
    json_decref(params);
    char *path = xasprintf("%s/params.json", j->dir);
    int rc = write_text_file(path, pj);
    free(pj);
    free(path);
    if (rc)
        return rc;
    path = xasprintf("%s/command.txt", j->dir);
    char *line = xasprintf("%s\n", j->display ? j->display : "");
    rc = write_text_file(path, line);
    free(line);
    free(path);
    return rc;
}

/* The file WANDB_SWEEP_PARAM_PATH names: wandb.init() fails when the
 * variable names a file that is not there, so it is written before every
 * start, whether or not the program uses wandb. */
static int write_wandb_config(const job *j, const json_t *params)
{
    char *text = spec_wandb_config(j->sw->sp, params);
    char *path = xasprintf("%s/" WANDB_CONFIG_FILE, j->dir);
    int rc = write_text_file(path, text);
    free(path);
    free(text);
    return rc;
}

/*
 * Whether errno e, from writing the project's own files, is a fault of this
 * machine (read-only or full disk, no inodes, quota, no file descriptors,
 * permissions, I/O error) rather than of the trial: any trial would fail
 * here, so it must not use up the trial's tries.
 */
static bool host_errno(int e)
{
    switch (e) {
    case EROFS:
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case EACCES:
    case EPERM:
    case EIO: return true;
    default: return false;
    }
}

/*
 * Prepares the trial directory and starts the child. Returns 0, or an error
 * whose message becomes the attempt's error (*exec_failed when the program
 * itself could not be run, *host_failed when the project's files could not
 * be written here: host_errno).
 */
static int job_spawn(agent *a, job *j, const store_claimed *c, bool *exec_failed, bool *host_failed)
{
    agent_sweep *sw = j->sw;
    json_t *params = NULL;
    spec_command cmd;
    memset(&cmd, 0, sizeof cmd);
    bool have_cmd = false;
    char **argv = NULL, **env = NULL, **env_owned = NULL;
    char *path = NULL, *workdir = NULL, *cuda_visible = NULL;
    gpu_grant grant = GPU_GRANT_INIT;
    size_t nenv_owned = 0;
    int rc = 0;
    *exec_failed = *host_failed = false;

    json_error_t jerr;
    params = json_loads(c->params_json ? c->params_json : "{}", 0, &jerr);
    if (!json_is_object(params)) {
        rc = sq_error_set(SQ_EINVAL, "cannot read the parameters of trial %llu: %s",
                          (unsigned long long)j->number, jerr.text);
        goto out;
    }
    rc = make_trial_dir(j->dir);
    if (rc == 0)
        rc = write_wandb_config(j, params);
    if (rc) {
        *host_failed = host_errno(errno);
        goto out;
    }
    spec_command_ctx ctx = {
        .sweep_name = sw->name,
        .trial_number = j->number,
        .trial_dir = j->dir,
        .interpreter = a->cfg->interpreter,
        .env_program = NULL,
    };
    rc = spec_build_command(sw->sp, params, &ctx, &cmd);
    if (rc) {
        rc = sq_error_set(rc, "cannot build the command: %s", sq_error_msg());
        goto out;
    }
    have_cmd = true;

    j->display = xstrdup(cmd.display ? cmd.display : "");
    if (sw->params_file) { /* the command reads it: it must be there first */
        path = xasprintf("%s/params.json", j->dir);
        if (!c->resume || access(path, F_OK) != 0) {
            rc = job_write_meta(j);
            if (rc) {
                *host_failed = host_errno(errno);
                goto out;
            }
        }
        free(path);
    }
    path = xasprintf("%s/attempt-%d.log", j->dir, j->attempt);
    j->log_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (j->log_fd < 0) {
        rc = file_error("cannot open the log", path);
        *host_failed = host_errno(errno);
        goto out;
    }

    if (gpu_request_wants_gpu(&sw->gpu)) {
        /* claim_from claimed no more than gpu_alloc_count allows with this
         * table, so this succeeds */
        rc = gpu_alloc_choose(&grant, &a->gpu_table, &a->gpu_alloc, &sw->gpu);
        if (rc) {
            rc = sq_error_set(rc, "no GPU for it here: %s", sq_error_msg());
            goto out;
        }
        j->gpu_owner = xasprintf("%s/%llu/%d", sw->name, (unsigned long long)j->number, j->attempt);
        gpu_alloc_take(&a->gpu_alloc, j->gpu_owner, &grant);
        cuda_visible = gpu_grant_cuda_visible(&grant, false);
    }
    argv = resolve_argv(sw, &cmd);
    env = build_env(sw, j, c, &cmd, cuda_visible, &env_owned, &nenv_owned);
    if (cmd.workdir && cmd.workdir[0] != '/')
        workdir = xasprintf("%s/%s", a->cfg->ws->root, cmd.workdir);
    else if (cmd.workdir)
        workdir = xstrdup(cmd.workdir);
    spawn_opts o = SPAWN_OPTS_INIT;
    o.argv = argv;
    o.envp = env;
    o.cwd = workdir ? workdir : j->dir;
    o.stdout_fd = j->log_fd;
    o.stderr_fd = j->log_fd;
    o.new_pgroup = true;
    o.die_with_parent = true;
    o.reset = agent_changed_signals();
    pid_t pid;
    int err = 0;
    rc = spawn_start(&pid, &err, &o);
    if (rc) {
        *exec_failed = err != 0;
        goto out;
    }
    j->pid = pid;
    agent_lease_watch_set(pid, j->lease_until); /* the child leads its group */
    j->live = true;
    if (j->gpu_owner) /* the child leads its process group */
        gpu_alloc_started(&a->gpu_alloc, j->gpu_owner, pid);
    j->started = time_mono();
    j->deadline = sw->timeout > 0 ? j->started + sw->timeout : 0;
    a->used += sw->cpus;
    agent_emit(a, AGENT_EV_STARTED, sw, j, cmd.display);
out:
    for (size_t i = 0; i < nenv_owned; i++)
        free(env_owned[i]);
    free(env_owned);
    free(env);
    free(argv);
    free(workdir);
    free(path);
    free(cuda_visible);
    gpu_grant_release(&grant);
    if (have_cmd)
        spec_command_release(&cmd);
    json_decref(params);
    return rc;
}

void job_free(job *j)
{
    if (!j)
        return;
    if (j->log_fd >= 0)
        close(j->log_fd);
    if (j->metrics_fd >= 0)
        close(j->metrics_fd);
    tail_release(&j->log);
    tail_release(&j->mfile);
    metrics_free(j->m);
    sb_release(&j->last_line);
    free(j->dir);
    free(j->params_json);
    free(j->display);
    free(j->error);
    free(j->final);
    free(j->rows);
    free(j->gpu_owner);
    free(j);
}

/* Drops j's GPU reservation, if any; sweeps that waited for GPUs may claim
 * again. */
void job_gpu_drop(agent *a, job *j)
{
    if (!j->gpu_owner)
        return;
    gpu_alloc_drop(&a->gpu_alloc, j->gpu_owner);
    free(j->gpu_owner);
    j->gpu_owner = NULL;
    for (size_t i = 0; i < a->nsweeps; i++) {
        if (a->sweeps[i]->gpu_waiting) {
            a->sweeps[i]->gpu_waiting = false;
            a->sweeps[i]->exhausted = false;
        }
    }
}

/* ---- log tails into the store ----------------------------------------------------- */

void agent_on_ship_warning(const char *msg, void *ud)
{
    agent_warn(ud, NULL, "%s", msg);
}

/* Ships a running trial's log tail when the log grew since the last time. */
void job_ship(agent *a, job *j, double now)
{
    struct stat sb;
    j->ship_at = now + a->ship_period;
    /* Final tails waiting means the store is away: they go first. */
    if (a->ship_q.n || j->log_fd < 0 || fstat(j->log_fd, &sb) != 0 || sb.st_size == j->shipped_size)
        return;
    int rc = logship_send(a->st, j->trial_id, j->attempt, j->log_fd, &j->shipped_size);
    if (rc == 0) {
        j->ship_warned = false;
        return;
    }
    if (!j->ship_warned) /* once per streak: the next shipment tries again */
        agent_warn(a, j->sw, "trial %llu: its log is not stored in the store yet: %s",
                   (unsigned long long)j->number, sq_error_msg());
    j->ship_warned = true;
}

/* Ships the log tail of an attempt that ended (or never started), once; a
 * transient failure queues it for the next shipments. */
void job_ship_final(agent *a, job *j)
{
    if (!a->ship || j->final_shipped || j->log_fd < 0)
        return;
    j->final_shipped = true;
    /* While earlier tails wait, the store is away: queue this one untried
     * rather than wait out another timeout. */
    int rc = a->ship_q.n ? SQ_EIO : logship_send(a->st, j->trial_id, j->attempt, j->log_fd, NULL);
    if (rc == 0)
        return;
    if (!sq_error_is_transient(rc)) {
        agent_warn(a, j->sw, "trial %llu: its log is not stored: %s", (unsigned long long)j->number,
                   sq_error_msg());
        return;
    }
    if (a->ship_q.n == 0) {
        agent_warn(a, j->sw, "trial %llu: its log is not stored yet, retrying every %g s: %s",
                   (unsigned long long)j->number, a->ship_period, sq_error_msg());
        a->next_ship_retry = time_mono() + a->ship_period;
    }
    char *path = xasprintf("%s/attempt-%d.log", j->dir, j->attempt);
    char *label = xasprintf("trial %llu of sweep '%s'", (unsigned long long)j->number, j->sw->name);
    logship_queue_add(&a->ship_q, j->trial_id, j->attempt, path, label, agent_on_ship_warning, a);
    free(label);
    free(path);
}

void jobs_remove(agent *a, job *j)
{
    job_gpu_drop(a, j);   /* it never started, or its lease was lost */
    job_ship_final(a, j); /* a lost lease's log is still worth reading */
    for (size_t i = 0; i < a->njobs; i++) {
        if (a->jobs[i] == j) {
            a->jobs[i] = a->jobs[--a->njobs];
            break;
        }
    }
    j->sw->running--;
    if (j->sw->running == 0 && j->sw->exhausted)
        j->sw->completion_due = true;
    a->progress = true;
    job_free(j);
}

/*
 * Each value of the spec's metric as the trial reports it (metrics_watch):
 * notes the bands of the sweep's rule that it reaches, to be judged once
 * its rows are in the store (judge_bands). A step at or below the last one
 * (an explicit step going back) is ignored for the rule, with one warning.
 */
static void on_watched(uint64_t step, double value, void *ud)
{
    job *j = ud;
    if (!isfinite(value))
        return;
    if (j->watched_any && step <= j->watched_step) {
        j->out_of_order = true;
        return;
    }
    j->watched_any = true;
    j->watched_step = step;
    bool better = j->sw->sp->metric.goal == SPEC_GOAL_MAXIMIZE ? value > j->best : value < j->best;
    if (isnan(j->best) || better)
        j->best = value;
    if (!j->sw->has_rule || !stop_rule_checks_at(&j->sw->rule, step) || j->stop)
        return;
    if (j->nchecks == BAND_CHECKS_MAX) { /* keep the latest */
        memmove(j->checks, j->checks + 1, (BAND_CHECKS_MAX - 1) * sizeof *j->checks);
        j->nchecks--;
    }
    j->checks[j->nchecks++] =
        (band_check){.step = step, .value = j->sw->rule.strict ? value : j->best};
}

void job_start(agent *a, agent_sweep *sw, const store_claimed *c)
{
    job *j = xcalloc(1, sizeof *j);
    j->sw = sw;
    j->trial_id = c->trial_id;
    j->number = c->number;
    j->attempt = c->attempt;
    j->pid = -1;
    j->log_fd = j->metrics_fd = -1;
    tail_init(&j->log, TAIL_MAX_LINE);
    tail_init(&j->mfile, (size_t)1 << 20);
    sb_init(&j->last_line, ERROR_LINE_MAX + 1);
    j->m = metrics_new(sw->pattern);
    j->best = NAN;
    if (sw->sp->metric.name) {
        metrics_watch(j->m, sw->sp->metric.name, on_watched, j);
        metrics_keep(j->m, sw->sp->metric_names, sw->sp->nmetric_names);
    }
    j->dir = xasprintf("%s/%llu", sw->trials_dir, (unsigned long long)c->number);
    j->ship_at = time_mono() + a->ship_period;
    j->lease_until = agent_lease_until(sw, a->claim_sent);
    j->params_json = xstrdup(c->params_json);
    XGROW(a->jobs, a->jobs_cap, a->njobs + 1);
    a->jobs[a->njobs++] = j;
    sw->running++;
    a->sum.started++;
    /* The lease runs from the claim: renew it within a quarter of its TTL
     * even when the agent was idle (and heartbeating rarely) until now. */
    double renew =
        time_mono() + (sw->lease_ttl / 4 < HEARTBEAT_MAX ? sw->lease_ttl / 4 : HEARTBEAT_MAX);
    if (a->next_heartbeat > renew)
        a->next_heartbeat = renew;

    bool exec_failed = false, host_failed = false;
    if (job_spawn(a, j, c, &exec_failed, &host_failed) == 0) {
        agent_host_ok(a);
        return;
    }
    /* It never ran: record the attempt with the reason, also in its log.
     * When this machine could not write the project's files, any trial
     * would have failed here: the trial is given back (preempted, no try
     * used) and the agent backs off (agent_host_failed). */
    j->error = host_failed ? xasprintf("not started: this machine cannot write the trial's "
                                       "files (%s); the trial was given back",
                                       sq_error_msg())
                           : xstrdup(sq_error_msg());
    log_line(j, j->error);
    if (j->log_fd >= 0 && !host_failed)
        job_write_meta(j);
    job_ship_final(a, j);
    j->exited = true;
    j->result.outcome = host_failed ? OUTCOME_PREEMPTED : OUTCOME_FAILED;
    j->result.exit_code = exec_failed ? 127 : -1;
    j->result.term_signal = 0;
    j->result.error = j->error;
    agent_emit(a, AGENT_EV_STARTED, sw, j, NULL);
    if (host_failed)
        agent_host_failed(a, sw, j->error, time_mono());
    job_record(a, j, time_mono());
}

/* ---- watching a trial ------------------------------------------------------------ */

typedef struct line_ctx {
    agent *a;
    job *j;
} line_ctx;

static void on_output_line(const char *line, size_t len, void *ud)
{
    line_ctx *lc = ud;
    job *j = lc->j;
    metrics_add_output_line(j->m, line, len);
    if (!j->oom &&
        (strstr(line, "CUDA out of memory") || strstr(line, "CUDA error: out of memory")))
        j->oom = true;
    sb_reset(&j->last_line);
    /* Cut on a character boundary: the error must stay valid UTF-8 (JSON). */
    sb_add(&j->last_line, line, text_utf8_cut(line, len, ERROR_LINE_MAX));
    if (lc->a->cfg->show_output)
        agent_emit(lc->a, AGENT_EV_OUTPUT, j->sw, j, line);
}

static void on_metrics_line(const char *line, size_t len, void *ud)
{
    job *j = ud;
    metrics_add_json_line(j->m, line, len); /* a line that is not JSON is skipped */
}

/* Reads what the trial wrote since the last time; at_end: everything, and
 * the unterminated last lines and W&B's summary too. */
/*
 * At the end of an attempt: when more than TAIL_END_MAX bytes of fd are
 * unread, skips to its last TAIL_END_KEEP bytes (from the next line on)
 * and says so once; what is skipped gives no metric rows.
 */
static void skip_flood(agent *a, job *j, tail *t, int fd, const char *what)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size - t->offset <= TAIL_END_MAX)
        return;
    off_t skipped = st.st_size - TAIL_END_KEEP - t->offset;
    t->offset = st.st_size - TAIL_END_KEEP;
    sb_reset(&t->partial);
    t->skipping = true; /* the offset may fall inside a line */
    agent_warn(a, j->sw,
               "trial %llu: %lld MiB of its %s were not read for metrics: it wrote faster than "
               "the agent reads (%zu MiB a second); its final values come from the last "
               "%lld MiB",
               (unsigned long long)j->number, (long long)(skipped >> 20), what,
               TAIL_TICK_BYTES >> 20, (long long)(TAIL_END_KEEP >> 20));
}

void job_collect(agent *a, job *j, bool at_end)
{
    line_ctx lc = {a, j};
    size_t max = at_end ? 0 : TAIL_TICK_BYTES;
    if (at_end && j->log_fd >= 0)
        skip_flood(a, j, &j->log, j->log_fd, "output");
    if (j->log_fd >= 0) {
        if (tail_read(&j->log, j->log_fd, max, on_output_line, &lc) < 0)
            agent_warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
        if (at_end)
            tail_flush(&j->log, on_output_line, &lc);
    }
    if (j->metrics_fd < 0) {
        char *path = xasprintf("%s/metrics-%d.jsonl", j->dir, j->attempt);
        j->metrics_fd = open(path, O_RDONLY | O_CLOEXEC);
        free(path);
    }
    if (at_end && j->metrics_fd >= 0)
        skip_flood(a, j, &j->mfile, j->metrics_fd, "metrics file");
    if (j->metrics_fd >= 0) {
        tail_read(&j->mfile, j->metrics_fd, max, on_metrics_line, j);
        if (at_end)
            tail_flush(&j->mfile, on_metrics_line, j);
    }
    if (at_end && metrics_read_wandb_summary(j->m, j->dir) != 0)
        agent_warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, sq_error_msg());
    char *bad;
    while ((bad = metrics_take_warning(j->m))) {
        agent_warn(a, j->sw, "trial %llu: %s", (unsigned long long)j->number, bad);
        free(bad);
    }
    if (j->out_of_order && !j->out_of_order_told) {
        j->out_of_order_told = true;
        agent_warn(a, j->sw,
                   "trial %llu: metric '%s' went back to a step at or below %llu; such values "
                   "are recorded but never judged by the early_terminate rule (further ones "
                   "are ignored silently)",
                   (unsigned long long)j->number, j->sw->sp->metric.name,
                   (unsigned long long)j->watched_step);
    }
}

/* Appends the rows collected so far (fenced). 0; SQ_ELEASE_LOST when the
 * attempt is no longer current (the rows are dropped: cancelled, or the
 * lease is lost, which the heartbeat tells apart); or a transient error
 * (the rows are kept for the next try). */
int job_flush_rows(agent *a, job *j)
{
    if (!j->rows)
        j->rows = metrics_take_rows(j->m);
    if (!j->rows)
        return 0;
    int rc = store_append_metrics(a->st, j->trial_id, j->attempt, j->rows);
    if (sq_error_is_transient(rc))
        return rc;
    if (rc && rc != SQ_ELEASE_LOST)
        agent_warn(a, j->sw, "trial %llu: metrics not stored: %s", (unsigned long long)j->number,
                   sq_error_msg());
    free(j->rows);
    j->rows = NULL;
    return rc == SQ_ELEASE_LOST ? rc : 0;
}

/*
 * Judges the bands j reached since the last tick, oldest first, against
 * the values the store holds at each (j's own rows are written first, so
 * its value is among them, as W&B counts it); stops j at the first band
 * the rule says to. A band whose values cannot be read now (a transient
 * error) waits for the next tick. Each verdict is a line in j's log.
 */
static void judge_bands(agent *a, job *j, double now)
{
    const agent_sweep *sw = j->sw;
    size_t done = 0;
    for (; done < j->nchecks && !j->stop; done++) {
        const band_check *c = &j->checks[done];
        double *v = NULL;
        size_t n = 0;
        int rc = store_band_values(a->st, sw->id, sw->sp->metric.name, c->step,
                                   sw->rule.type == STOP_MEDIAN, &v, &n);
        if (sq_error_is_transient(rc))
            break;
        if (rc) {
            agent_warn(a, sw, "trial %llu: cannot read the values at step %llu: %s",
                       (unsigned long long)j->number, (unsigned long long)c->step, sq_error_msg());
            continue;
        }
        bool maximize = sw->sp->metric.goal == SPEC_GOAL_MAXIMIZE;
        bool stop = stop_should(&sw->rule, maximize, v, n, c->value);
        char *why = xasprintf("early_terminate at step %llu of '%s': %.17g among %zu values "
                              "there, %s",
                              (unsigned long long)c->step, sw->sp->metric.name, c->value, n,
                              stop ? "stopped" : "goes on");
        log_line(j, why);
        free(why);
        if (stop) {
            j->stopped_step = c->step;
            j->stopped_value = c->value;
            job_stop(a, j, STOP_EARLY, SIGTERM, now);
        }
        free(v);
    }
    if (j->stop)
        done = j->nchecks; /* stopping: the later bands no longer matter */
    memmove(j->checks, j->checks + done, (j->nchecks - done) * sizeof *j->checks);
    j->nchecks -= done;
}

void agent_tail_tick(agent *a, double now)
{
    for (size_t i = 0; i < a->njobs;) {
        job *j = a->jobs[i];
        if (j->live && j->stop < STOP_EXPIRED) {
            job_collect(a, j, false);
            int rc = 0;
            if (j->rows || metrics_pending(j->m)) {
                /* Refused: cancelled or lost. Ask the store which, now. */
                if ((rc = job_flush_rows(a, j)) == SQ_ELEASE_LOST)
                    a->next_heartbeat = 0;
            }
            if (rc == 0 && j->nchecks)
                judge_bands(a, j, now);
            /* A trial's flood of output never makes the others' leases wait. */
            double t = time_mono();
            if (t >= a->next_heartbeat)
                agent_heartbeat(a, t);
        }
        i++;
    }
}
